//! The legend: one entry per look (kinds drawn alike share an entry), in rows that
//! fit the picture's width.

use super::geometry::{Layout, PAD, esc, text_w};
use super::timeline::{Band, Kind, Shape, Timeline};
use std::fmt::Write as _;

/// How a legend entry is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Swatch {
    Bar,
    Strip,
    Mark(Shape),
}

/// One legend entry per look: kinds drawn the same way share an entry.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct LegendEntry {
    swatch: Swatch,
    colour: &'static str,
    class: &'static str,
    name: String,
}

pub(super) fn legend_entries(t: &Timeline) -> Vec<LegendEntry> {
    let mut looks: Vec<(Kind, Swatch)> = Vec::new();
    for lane in &t.lanes {
        for bar in &lane.bars {
            let sw = match bar.band {
                Band::Full => Swatch::Bar,
                Band::Strip => Swatch::Strip,
            };
            looks.push((bar.kind, sw));
        }
        for m in &lane.marks {
            // A kind also drawn as a bar (a lease) is explained by its bar.
            if !lane.bars.iter().any(|b| b.kind == m.kind) {
                looks.push((m.kind, Swatch::Mark(m.kind.shape())));
            }
        }
    }
    looks.sort_by_key(|(k, _)| *k);
    looks.dedup();
    let mut entries: Vec<LegendEntry> = Vec::new();
    for (kind, swatch) in looks {
        match entries
            .iter_mut()
            .find(|e| e.swatch == swatch && e.colour == kind.colour())
        {
            Some(e) => {
                if !e.name.split(" / ").any(|n| n == kind.legend()) {
                    e.name = format!("{} / {}", e.name, kind.legend());
                }
            }
            None => entries.push(LegendEntry {
                swatch,
                colour: kind.colour(),
                class: kind.class(),
                name: kind.legend().to_owned(),
            }),
        }
    }
    entries
}

/// Legend entries split into rows that fit `width`: (entry, x).
pub(super) fn legend_rows(entries: &[LegendEntry], width: f64) -> Vec<Vec<(LegendEntry, f64)>> {
    let mut rows: Vec<Vec<(LegendEntry, f64)>> = vec![Vec::new()];
    let mut x = PAD;
    for e in entries {
        let w = 22.0 + text_w(&e.name) + 18.0;
        if x + w > width - PAD && rows.last().is_some_and(|r| !r.is_empty()) {
            rows.push(Vec::new());
            x = PAD;
        }
        if let Some(row) = rows.last_mut() {
            row.push((e.clone(), x));
        }
        x += w;
    }
    rows
}

pub(super) fn draw_legend(s: &mut String, t: &Timeline, l: &Layout) {
    let _ = writeln!(s, r#"<g class="legend">"#);
    for (row, entries) in legend_rows(&legend_entries(t), l.width).iter().enumerate() {
        let y = l.legend_y + row as f64 * 20.0;
        for (e, x) in entries {
            let (cx, cy) = (x + 8.0, y + 5.5);
            let swatch = match e.swatch {
                Swatch::Bar => format!(
                    r#"<rect x="{x:.1}" y="{y:.1}" width="16" height="11" fill="{}"/>"#,
                    e.colour
                ),
                Swatch::Strip => format!(
                    r#"<rect x="{x:.1}" y="{:.1}" width="16" height="4" fill="{}"/>"#,
                    y + 4.0,
                    e.colour
                ),
                Swatch::Mark(Shape::Diamond) => format!(
                    r#"<path d="M{cx:.1},{:.1} L{:.1},{cy:.1} L{cx:.1},{:.1} L{:.1},{cy:.1} Z" fill="{}"/>"#,
                    cy - 7.0,
                    cx + 7.0,
                    cy + 7.0,
                    cx - 7.0,
                    e.colour
                ),
                Swatch::Mark(Shape::Cross) => format!(
                    r#"<path d="M{:.1},{:.1} L{:.1},{:.1} M{:.1},{:.1} L{:.1},{:.1}" stroke="{}" stroke-width="2.6"/>"#,
                    cx - 5.0,
                    cy - 5.0,
                    cx + 5.0,
                    cy + 5.0,
                    cx - 5.0,
                    cy + 5.0,
                    cx + 5.0,
                    cy - 5.0,
                    e.colour
                ),
            };
            let _ = writeln!(
                s,
                r#"<g class="swatch {}">{swatch}<text x="{:.1}" y="{:.1}">{}</text></g>"#,
                e.class,
                x + 22.0,
                y + 10.0,
                esc(&e.name)
            );
        }
    }
    let _ = writeln!(s, "</g>");
}
