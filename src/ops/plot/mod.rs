//! `nodeboot plot`: a log stream drawn as an SVG timeline. [`render`] is pure
//! (records in, SVG text out); [`read_records`] reads the stream (the flags and the
//! output are the binary's, src/cli/plot.rs).

mod builder;
mod geometry;
mod legend;
pub mod model;
pub mod svg;
pub mod timeline;

#[cfg(test)]
mod tests;

use super::input::Source;
use serde_json::Value;

/// The SVG timeline of a stream (JSON records in stream order).
pub fn render(records: &[Value]) -> String {
    render_width(records, svg::CHART_W)
}

/// The same with a time area `chart_w` pixels wide (clamped to 200–20000).
pub fn render_width(records: &[Value], chart_w: f64) -> String {
    svg::draw(&timeline::build(records), chart_w.clamp(200.0, 20_000.0))
}

/// The JSON records of the stream `source` holds, for [`render_width`]; an error if it
/// cannot be read or holds none.
pub fn read_records(source: &Source) -> Result<Vec<Value>, PlotError> {
    let text = source.read()?;
    let records = super::record::parse_stream(&text);
    if records.is_empty() {
        return Err(PlotError::NoRecords);
    }
    Ok(records)
}

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("{0}")]
    Input(#[from] super::input::InputError),
    #[error("no JSON log records in the input (use `replay --json` or the JSON log file)")]
    NoRecords,
}
