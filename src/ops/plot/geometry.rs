//! The drawing's geometry, shared by the timeline ([`super::svg`]) and its legend
//! ([`super::legend`]): sizes, where each lane sits ([`Layout`]), how wide a label is,
//! and SVG text escaping.

pub(super) const FONT_PX: f64 = 12.0;
/// Advance of one monospace character at `FONT_PX` (DejaVu Sans Mono: 0.602 em), a
/// little generous so estimates never undershoot.
pub(super) const CHAR_W: f64 = 7.4;
pub(super) const PAD: f64 = 12.0;
/// A lane: a text row on top, the bar row below it, the carrier strip at the bottom.
pub(super) const LANE_H: f64 = 32.0;
pub(super) const TEXT_BASE: f64 = 12.0;
pub(super) const BAR_TOP: f64 = 15.0;
pub(super) const BAR_H: f64 = 11.0;
pub(super) const STRIP_TOP: f64 = 27.0;
pub(super) const STRIP_H: f64 = 3.5;
pub(super) const GROUP_H: f64 = 24.0;
pub(super) const HEADER_H: f64 = 74.0;
pub(super) const RIGHT_ROOM: f64 = 160.0;
/// Width of the time area by default.
pub const CHART_W: f64 = 1000.0;

/// Where things are, for the drawing and for tests that look at pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub width: f64,
    pub height: f64,
    /// Left edge and width of the time area.
    pub chart_x: f64,
    pub chart_w: f64,
    pub end_ms: u64,
    /// Each lane's id, top edge and height.
    pub lanes: Vec<(String, f64, f64)>,
    /// Top edge of the legend.
    pub legend_y: f64,
}

impl Layout {
    /// The x coordinate of time `ms`.
    pub fn x(&self, ms: u64) -> f64 {
        self.chart_x + self.chart_w * (ms as f64) / (self.end_ms.max(1) as f64)
    }

    /// Top edge and height of lane `id`.
    pub fn lane(&self, id: &str) -> Option<(f64, f64)> {
        self.lanes
            .iter()
            .find(|(l, _, _)| l == id)
            .map(|(_, y, h)| (*y, *h))
    }

    /// Top edge and height of the bars in lane `id`.
    pub fn bar_row(&self, id: &str) -> Option<(f64, f64)> {
        self.lane(id).map(|(y, _)| (y + BAR_TOP, BAR_H))
    }

    /// Top edge and height of the carrier strip in lane `id`.
    pub fn strip_row(&self, id: &str) -> Option<(f64, f64)> {
        self.lane(id).map(|(y, _)| (y + STRIP_TOP, STRIP_H))
    }
}

pub(super) fn text_w(s: &str) -> f64 {
    s.chars().count() as f64 * CHAR_W
}

pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
