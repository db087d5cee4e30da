//! `nodeboot plot [FILE|-] [-o out.svg]`: a log stream drawn as an SVG timeline.
//! [`render`] is pure (records in, SVG text out); [`plot_main`] only reads and writes.

mod builder;
mod legend;
pub mod model;
pub mod svg;
pub mod timeline;

#[cfg(test)]
mod tests;

use serde_json::Value;

/// The SVG timeline of a stream (JSON records in stream order).
pub fn render(records: &[Value]) -> String {
    render_width(records, svg::CHART_W)
}

/// The same with a time area `chart_w` pixels wide (clamped to 200–20000).
pub fn render_width(records: &[Value], chart_w: f64) -> String {
    svg::draw(&timeline::build(records), chart_w.clamp(200.0, 20_000.0))
}

const PLOT_USAGE: &str =
    "usage: nodeboot plot [FILE|-] [-o OUT.svg] [--width PX] [--socket PATH] [--root DIR]
  FILE is a log file or `replay --json` output (- reads stdin); without FILE the
  backlog of the live log socket is drawn. Without -o the SVG goes to stdout.
  --width sets the time axis' length in pixels (default 1000).";

/// `nodeboot plot [FILE|-] [-o out.svg] [--socket PATH] [--root DIR]`.
pub fn plot_main(args: &[String]) -> i32 {
    let args = match crate::args::Args::parse(args, &["o", "output", "socket", "root", "width"]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("nodeboot plot: {e}\n{PLOT_USAGE}");
            return 2;
        }
    };
    if args.has("h") || args.has("help") {
        println!("{PLOT_USAGE}");
        return 0;
    }
    if let Some(flag) = args.unknown(&["o", "output", "socket", "root", "width", "h", "help"]) {
        eprintln!("nodeboot plot: unknown flag --{flag}\n{PLOT_USAGE}");
        return 2;
    }
    if args.positional.len() > 1 {
        eprintln!("nodeboot plot: one stream at a time\n{PLOT_USAGE}");
        return 2;
    }
    let root = std::path::PathBuf::from(args.value("root").unwrap_or("/"));
    let source = super::input::Source::pick(
        args.positional.first().map(String::as_str),
        args.value("socket"),
        &root,
    );
    let text = match source.read() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("nodeboot plot: {e}");
            return 1;
        }
    };
    let records = super::record::parse_stream(&text);
    if records.is_empty() {
        eprintln!(
            "nodeboot plot: no JSON log records in the input (use `replay --json` or the JSON log file)"
        );
        return 1;
    }
    let width = match args.value("width").map(str::parse::<u32>) {
        None => svg::CHART_W,
        Some(Ok(w)) if (200..=20_000).contains(&w) => f64::from(w),
        Some(_) => {
            eprintln!("nodeboot plot: --width takes 200 to 20000 pixels\n{PLOT_USAGE}");
            return 2;
        }
    };
    let svg = render_width(&records, width);
    match args.value("o").or(args.value("output")) {
        Some(out) if out != "-" => match std::fs::write(out, svg) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("nodeboot plot: writing {out}: {e}");
                1
            }
        },
        _ => {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            match stdout
                .write_all(svg.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("nodeboot plot: {e}");
                    1
                }
            }
        }
    }
}
