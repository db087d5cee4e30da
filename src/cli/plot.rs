//! `nodeboot plot [FILE|-] [-o OUT.svg] [--width PX] [--socket PATH] [--root DIR]`.

use crate::args::Args;
use nodeboot::ops::input::Source;
use nodeboot::ops::plot::{read_records, render_width, svg};

const PLOT_USAGE: &str =
    "usage: nodeboot plot [FILE|-] [-o OUT.svg] [--width PX] [--socket PATH] [--root DIR]
  FILE is a log file or `replay --json` output (- reads stdin); without FILE the
  backlog of the live log socket is drawn. Without -o the SVG goes to stdout.
  --width sets the time axis' length in pixels (default 1000).";

/// `nodeboot plot`.
pub fn main(args: &[String]) -> i32 {
    let args = match Args::parse(args, &["o", "output", "socket", "root", "width"]) {
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
    let source = Source::pick(
        args.positional.first().map(String::as_str),
        args.value("socket"),
        &root,
    );
    let records = match read_records(&source) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("nodeboot plot: {e}");
            return 1;
        }
    };
    // Checked after reading, as it always was: an unreadable stream is exit 1 first.
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
