//! Drawing a [`Timeline`] as SVG, in the spirit of `systemd-analyze plot`: a time
//! axis in seconds, one row per lane (grouped under Cache, NICs, Gate, Services),
//! bars for intervals, diamonds and crosses for instants, a legend. Text is DejaVu
//! Sans Mono (any monospace works): with a fixed advance width the drawing knows how
//! wide each label is and places it where it overlaps no other label.

use super::timeline::{Band, Group, Lane, Shape, Timeline, fmt_ms};
use std::fmt::Write as _;

use super::geometry::*;
pub use super::geometry::{CHART_W, Layout};

/// Compute the layout of `t` with a time area `chart_w` wide.
pub fn layout(t: &Timeline, chart_w: f64) -> Layout {
    let label_chars = t
        .lanes
        .iter()
        .map(|l| l.label.chars().count() + 2)
        .chain([10])
        .max()
        .unwrap_or(10);
    let chart_x = (label_chars as f64) * CHAR_W + 2.0 * PAD;
    let mut y = HEADER_H;
    let mut lanes = Vec::new();
    let mut group: Option<Group> = None;
    for lane in &t.lanes {
        if group != Some(lane.group) {
            group = Some(lane.group);
            y += GROUP_H;
        }
        lanes.push((lane.id.clone(), y, LANE_H));
        y += LANE_H;
    }
    let legend_y = y + 18.0;
    let width = chart_x + chart_w + RIGHT_ROOM;
    let legend_rows = super::legend::legend_rows(&super::legend::legend_entries(t), width)
        .len()
        .max(1);
    Layout {
        width,
        height: legend_y + legend_rows as f64 * 20.0 + PAD,
        chart_x,
        chart_w,
        end_ms: t.end_ms,
        lanes,
        legend_y,
    }
}

/// Tick spacing (ms) so that ticks are at least ~80 px apart.
fn tick_ms(l: &Layout) -> u64 {
    const STEPS: [u64; 14] = [
        100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000,
        600_000, 1_800_000,
    ];
    let px_per_ms = l.chart_w / (l.end_ms.max(1) as f64);
    STEPS
        .iter()
        .copied()
        .find(|s| (*s as f64) * px_per_ms >= 80.0)
        .unwrap_or(3_600_000)
}

/// Text already placed in one lane, as x ranges, so no label covers another.
#[derive(Default)]
struct Placed(Vec<(f64, f64)>);

impl Placed {
    fn free(&self, x0: f64, x1: f64) -> bool {
        self.0.iter().all(|(a, b)| x1 + 4.0 <= *a || x0 >= *b + 4.0)
    }

    /// Place a label of width `w` anchored at `x`: right of it, else left of it,
    /// else right of whatever it collides with; `None` if nothing fits in
    /// `[min_x, max_x]`.
    fn place(&mut self, x: f64, w: f64, min_x: f64, max_x: f64) -> Option<f64> {
        let mut candidates = vec![x + 6.0, x - 6.0 - w];
        let mut ends: Vec<f64> = self
            .0
            .iter()
            .map(|(_, b)| b + 6.0)
            .filter(|b| *b > x)
            .collect();
        ends.sort_by(f64::total_cmp);
        candidates.extend(ends);
        let spot = candidates
            .into_iter()
            .find(|&x0| x0 >= min_x && x0 + w <= max_x && self.free(x0, x0 + w))?;
        self.0.push((spot, spot + w));
        Some(spot)
    }
}

/// The whole picture.
pub fn draw(t: &Timeline, chart_w: f64) -> String {
    let l = layout(t, chart_w);
    let mut s = String::with_capacity(16 * 1024);
    let _ = write!(
        s,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="{FONT_PX}">
<rect class="background" x="0" y="0" width="{w:.0}" height="{h:.0}" fill="#ffffff"/>
"##,
        w = l.width,
        h = l.height
    );
    draw_header(&mut s, t, &l);
    draw_axis(&mut s, &l);
    draw_lanes(&mut s, t, &l);
    super::legend::draw_legend(&mut s, t, &l);
    s.push_str("</svg>\n");
    s
}

fn draw_header(s: &mut String, t: &Timeline, l: &Layout) {
    let title = if t.title.is_empty() {
        "nodeboot boot timeline".to_owned()
    } else {
        format!("{} boot timeline", t.title)
    };
    let sub = format!(
        "start {}   end +{}   {} records",
        if t.start_ts.is_empty() {
            "?"
        } else {
            &t.start_ts
        },
        fmt_ms(t.end_ms),
        t.records
    );
    let _ = write!(
        s,
        r##"<text class="title" x="{PAD}" y="22" font-size="15" font-weight="bold">{}</text>
<text class="subtitle" x="{PAD}" y="40" fill="#555555">{}</text>
"##,
        esc(&title),
        esc(&sub)
    );
    let _ = l;
}

fn draw_axis(s: &mut String, l: &Layout) {
    let top = HEADER_H - 6.0;
    let bottom = l.legend_y - 12.0;
    let step = tick_ms(l);
    let _ = writeln!(s, r#"<g class="axis">"#);
    let mut ms = 0;
    while ms <= l.end_ms {
        let x = l.x(ms);
        let label = if step < 1000 {
            format!("{:.1}s", ms as f64 / 1000.0)
        } else {
            format!("{}s", ms / 1000)
        };
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="#e3e3e3" stroke-width="1"/><text x="{x:.1}" y="{ty:.1}" text-anchor="middle" fill="#444444">{label}</text>"##,
            ty = top - 6.0
        );
        ms += step;
    }
    let _ = writeln!(s, "</g>");
}

fn draw_lanes(s: &mut String, t: &Timeline, l: &Layout) {
    // The moment services were released, across the whole chart, behind the lanes.
    for lane in t.lanes.iter().filter(|x| x.group == Group::Gate) {
        for m in &lane.marks {
            let x = l.x(m.at_ms);
            let _ = writeln!(
                s,
                r#"<line class="release-line" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="{}" stroke-width="1.2" stroke-dasharray="5 4"/>"#,
                HEADER_H - 4.0,
                l.legend_y - 12.0,
                m.kind.colour()
            );
        }
    }
    let mut group: Option<Group> = None;
    let max_x = l.width - 4.0;
    for (i, lane) in t.lanes.iter().enumerate() {
        let Some((y, h)) = l.lanes.get(i).map(|(_, y, h)| (*y, *h)) else {
            continue;
        };
        if group != Some(lane.group) {
            group = Some(lane.group);
            let _ = writeln!(
                s,
                r##"<text class="group" x="{PAD}" y="{:.1}" font-weight="bold" font-size="13">{}</text><line x1="{PAD}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#999999" stroke-width="1"/>"##,
                y - 7.0,
                lane.group.title(),
                y - 2.0,
                l.width - PAD,
                y - 2.0
            );
        }
        if i % 2 == 1 {
            let _ = writeln!(
                s,
                r##"<rect x="{PAD}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="#f4f4f4"/>"##,
                l.width - 2.0 * PAD
            );
        }
        let _ = writeln!(
            s,
            r#"<g class="lane" data-lane="{}"><text class="lane-label" x="{:.1}" y="{:.1}">{}</text>"#,
            esc(&lane.id),
            PAD + 8.0,
            y + BAR_TOP + BAR_H - 1.0,
            esc(&lane.label)
        );
        draw_lane(s, lane, l, y, max_x);
        let _ = writeln!(s, "</g>");
    }
}

fn draw_lane(s: &mut String, lane: &Lane, l: &Layout, y: f64, max_x: f64) {
    let mut placed = Placed::default();
    let text_y = y + TEXT_BASE;
    // (anchor x, text, prefer starting at the anchor rather than after it)
    let mut labels: Vec<(f64, String)> = Vec::new();
    for bar in &lane.bars {
        let x0 = l.x(bar.start_ms);
        let w = (l.x(bar.end_ms) - x0).max(2.0);
        let (by, bh) = match bar.band {
            Band::Full => (y + BAR_TOP, BAR_H),
            Band::Strip => (y + STRIP_TOP, STRIP_H),
        };
        let _ = writeln!(
            s,
            r#"<rect class="bar {}" data-start-ms="{}" data-end-ms="{}" x="{x0:.2}" y="{by:.1}" width="{w:.2}" height="{bh:.1}" fill="{}"><title>{}</title></rect>"#,
            bar.kind.class(),
            bar.start_ms,
            bar.end_ms,
            bar.kind.colour(),
            esc(&bar.title)
        );
        if let Some(label) = &bar.label {
            labels.push((x0 + w - 2.0, label.clone()));
        }
    }
    for m in &lane.marks {
        let x = l.x(m.at_ms);
        let cy = y + BAR_TOP + BAR_H / 2.0;
        let col = m.kind.colour();
        let shape = match m.kind.shape() {
            Shape::Cross => format!(
                r##"<path d="M{a:.1},{b:.1} L{c:.1},{d:.1} M{a:.1},{d:.1} L{c:.1},{b:.1}" stroke="#ffffff" stroke-width="5" fill="none"/><path d="M{a:.1},{b:.1} L{c:.1},{d:.1} M{a:.1},{d:.1} L{c:.1},{b:.1}" stroke="{col}" stroke-width="2.6" fill="none"/>"##,
                a = x - 5.0,
                b = cy - 5.0,
                c = x + 5.0,
                d = cy + 5.0,
            ),
            Shape::Diamond => format!(
                r##"<path d="M{x:.1},{t:.1} L{r:.1},{cy:.1} L{x:.1},{b:.1} L{le:.1},{cy:.1} Z" fill="{col}" stroke="#ffffff" stroke-width="1.2"/>"##,
                t = cy - 7.0,
                b = cy + 7.0,
                r = x + 7.0,
                le = x - 7.0,
            ),
        };
        let _ = writeln!(
            s,
            r#"<g class="mark {}" data-at-ms="{}">{shape}<title>{}</title></g>"#,
            m.kind.class(),
            m.at_ms,
            esc(&m.title)
        );
        if let Some(label) = &m.label {
            labels.push((x - 6.0, label.clone()));
        }
    }
    labels.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (anchor, label) in labels {
        let w = text_w(&label);
        if let Some(x0) = placed.place(anchor, w, l.chart_x + 2.0, max_x) {
            let _ = writeln!(
                s,
                r##"<text class="label" x="{x0:.1}" y="{text_y:.1}" fill="#222222">{}</text>"##,
                esc(&label)
            );
        }
    }
}
