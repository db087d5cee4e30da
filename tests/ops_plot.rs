//! `nodeboot plot` rendered for real: the SVG of a sample boot is opened in headless
//! Chromium (Debian's `chromium`), screenshotted, and the PNG is checked — its size,
//! that it is not blank, and that each lane's colour is where the layout put it.
//! Without Chromium the test skips, except under `CI=true` where that is a failure.

use nodeboot::ops::plot::{render, svg, timeline};
use nodeboot::ops::record::parse_stream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// The shared support of every integration test; each test binary uses only a part.
#[allow(dead_code)]
mod support;

use support::TempDir;
use support::run::BIN as NODEBOOT;
const BOOT_TRACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ops/boot.trace");

/// `nodeboot replay tests/ops/boot.trace --json`: the README's boot.
fn replayed_boot() -> String {
    let out = Command::new(NODEBOOT)
        .args(["replay", BOOT_TRACE, "--json"])
        .output()
        .expect("run nodeboot replay");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn screenshot(chromium: &Path, svg: &Path, png: &Path, w: u32, h: u32, profile: &Path) {
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={w},{h}"))
        .arg(format!("file://{}", svg.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().expect("wait chromium") {
            assert!(status.success(), "chromium failed: {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Picture {
    width: u32,
    height: u32,
    rgb: Vec<[u8; 3]>,
}

impl Picture {
    fn decode(path: &Path) -> Picture {
        let decoder = png::Decoder::new(std::fs::File::open(path).expect("open png"));
        let mut reader = decoder.read_info().expect("png header");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("png frame");
        let channels = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            other => panic!("unexpected PNG colour type {other:?}"),
        };
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        let rgb = buf[..info.buffer_size()]
            .chunks(channels)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        Picture {
            width: info.width,
            height: info.height,
            rgb,
        }
    }

    fn at(&self, x: f64, y: f64) -> [u8; 3] {
        let (x, y) = (x.round() as u32, y.round() as u32);
        self.rgb[(y * self.width + x) as usize]
    }
}

fn hex(c: &str) -> [u8; 3] {
    let v = u32::from_str_radix(c.trim_start_matches('#'), 16).unwrap();
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 10)
}

#[test]
fn the_timeline_renders_in_chromium() {
    let Some(chromium) = chromium() else {
        assert!(
            !support::ci(),
            "chromium is not installed (apt-get install chromium); CI=true forbids skipping"
        );
        eprintln!("skipped: chromium is not installed");
        return;
    };
    let dir = TempDir::new("plot");
    std::fs::create_dir_all(dir.0.join("profile")).unwrap();
    let records = parse_stream(&replayed_boot());
    let text = render(&records);
    let layout = svg::layout(&timeline::build(&records), svg::CHART_W);
    let (w, h) = (layout.width.round() as u32, layout.height.round() as u32);
    let svg_path = dir.0.join("boot.svg");
    let png_path = dir.0.join("boot.png");
    std::fs::write(&svg_path, &text).unwrap();
    screenshot(
        &chromium,
        &svg_path,
        &png_path,
        w,
        h,
        &dir.0.join("profile"),
    );

    let bytes = std::fs::metadata(&png_path).unwrap().len();
    assert!(
        bytes > 20_000,
        "a {bytes}-byte PNG is too small to hold the timeline"
    );
    let pic = Picture::decode(&png_path);
    assert_eq!((pic.width, pic.height), (w, h));
    let mut colours: Vec<[u8; 3]> = pic.rgb.clone();
    colours.sort();
    colours.dedup();
    assert!(
        colours.len() > 50,
        "only {} distinct colours",
        colours.len()
    );

    // (what, lane, row, time in ms, expected colour)
    let bar = |lane: &str| layout.bar_row(lane).unwrap();
    let strip = |lane: &str| layout.strip_row(lane).unwrap();
    let probes = [
        ("mkfs step", bar("step:mkfs"), 3_200, timeline::Kind::Step),
        (
            "disks settling",
            bar("cache"),
            1_000,
            timeline::Kind::Settle,
        ),
        ("eth0 lease", bar("nic:eth0"), 20_000, timeline::Kind::Lease),
        (
            "eth0 carrier",
            strip("nic:eth0"),
            20_000,
            timeline::Kind::Carrier,
        ),
        (
            "eth0 DHCP before the lease",
            bar("nic:eth0"),
            1_800,
            timeline::Kind::Dhcp,
        ),
        ("eth1 DHCP", bar("nic:eth1"), 20_000, timeline::Kind::Dhcp),
        ("gate waiting", bar("gate"), 1_500, timeline::Kind::GateWait),
        (
            "redis running",
            bar("service:redis"),
            20_000,
            timeline::Kind::Running,
        ),
        (
            "0-ork backoff",
            bar("service:0-ork"),
            7_200,
            timeline::Kind::Backoff,
        ),
        (
            "0-ork running again",
            bar("service:0-ork"),
            30_000,
            timeline::Kind::Running,
        ),
    ];
    for (what, (top, height), ms, kind) in probes {
        let (x, y) = (layout.x(ms), top + height / 2.0);
        let got = pic.at(x, y);
        assert!(
            close(got, hex(kind.colour())),
            "{what}: pixel ({x:.0},{y:.0}) is {got:?}, expected {}",
            kind.colour()
        );
    }
    // eth1 had no carrier between 5.0 s and 7.25 s: no strip there.
    let (top, height) = strip("nic:eth1");
    let gap = pic.at(layout.x(6_000), top + height / 2.0);
    assert!(
        !close(gap, hex(timeline::Kind::Carrier.colour())),
        "carrier gap drawn as up"
    );
    // Text: the title row holds dark pixels; the area right of the chart's end is light.
    let dark = (0..300)
        .flat_map(|x| (8..26).map(move |y| (x, y)))
        .filter(|&(x, y)| pic.at(x as f64, y as f64).iter().all(|c| *c < 90))
        .count();
    assert!(dark > 100, "title text missing ({dark} dark pixels)");
    let (top, _) = bar("service:redis");
    let right = pic.at(layout.width - 20.0, top + 2.0);
    assert!(
        right.iter().all(|c| *c > 230),
        "background right of the chart is {right:?}"
    );
}

/// The README picture is what the code draws today of the replayed boot (regenerate
/// with `nodeboot replay tests/ops/boot.trace --json | tools/plot-check - docs/boot-timeline.svg`).
#[test]
fn the_docs_picture_is_current() {
    let records = parse_stream(&replayed_boot());
    let docs = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/boot-timeline.svg"
    ))
    .expect("docs/boot-timeline.svg");
    assert!(
        docs == render(&records),
        "docs/boot-timeline.svg is stale: run nodeboot replay tests/ops/boot.trace --json | tools/plot-check - docs/boot-timeline.svg"
    );
}
