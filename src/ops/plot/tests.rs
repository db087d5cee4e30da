use super::svg::{CHART_W, layout};
use super::timeline::{Kind, build};
use super::*;
use crate::ops::record::parse_stream;

fn sample() -> Vec<Value> {
    parse_stream(include_str!("../../../tests/ops/boot.jsonl"))
}

fn attr(node: roxmltree::Node<'_, '_>, name: &str) -> f64 {
    node.attribute(name).unwrap().parse().unwrap()
}

#[test]
fn renders_well_formed_svg_with_every_lane() {
    let svg = render(&sample());
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let lanes: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.attribute("data-lane"))
        .collect();
    assert_eq!(
        lanes,
        [
            "cache",
            "step:partition",
            "step:reread",
            "step:mkfs",
            "step:mount",
            "step:subvolumes",
            "step:mount-subvolumes",
            "step:move-logs",
            "nic:eth0",
            "nic:eth1",
            "gate",
            "service:redis",
            "service:0-ork",
        ]
    );
    for group in ["Cache", "NICs", "Gate", "Services"] {
        assert!(
            doc.descendants()
                .any(|n| n.attribute("class") == Some("group") && n.text() == Some(group)),
            "{group} header"
        );
    }
}

#[test]
fn bars_sit_where_their_times_are() {
    let records = sample();
    let t = build(&records);
    let l = layout(&t, CHART_W);
    assert_eq!(t.end_ms, 37_260);
    let svg = render(&records);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let bars: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("bar ")))
        .collect();
    assert!(bars.len() > 10);
    for bar in &bars {
        let start: u64 = bar.attribute("data-start-ms").unwrap().parse().unwrap();
        let end: u64 = bar.attribute("data-end-ms").unwrap().parse().unwrap();
        let x = attr(*bar, "x");
        let w = attr(*bar, "width");
        let px_per_ms = CHART_W / 37_260.0;
        assert!(
            (x - (l.chart_x + start as f64 * px_per_ms)).abs() < 0.01,
            "{start} at {x}"
        );
        let expect_w = ((end - start) as f64 * px_per_ms).max(2.0);
        assert!((w - expect_w).abs() < 0.01, "{start}-{end}: width {w}");
    }
    // mkfs: 1835 ms ending at 3420 ms.
    let mkfs = bars
        .iter()
        .find(|b| b.parent().unwrap().attribute("data-lane") == Some("step:mkfs"))
        .unwrap();
    assert_eq!(mkfs.attribute("data-start-ms"), Some("1585"));
    assert_eq!(mkfs.attribute("data-end-ms"), Some("3420"));
    // Twice the duration is twice the width.
    let eth1: Vec<_> = bars
        .iter()
        .filter(|b| {
            b.parent().unwrap().attribute("data-lane") == Some("nic:eth1")
                && b.attribute("class") == Some("bar dhcp")
        })
        .collect();
    assert_eq!(eth1.len(), 2, "client before and after the carrier loss");
    let (w0, w1) = (attr(*eth1[0], "width"), attr(*eth1[1], "width"));
    assert!((w1 / w0 - 30_000.0 / 3_779.0).abs() < 0.01, "{w0} {w1}");
}

#[test]
fn nic_gate_and_service_lanes_carry_their_kinds() {
    let t = build(&sample());
    let lane = |id: &str| t.lanes.iter().find(|l| l.id == id).unwrap();
    let eth0 = lane("nic:eth0");
    assert!(
        eth0.bars
            .iter()
            .any(|b| b.kind == Kind::Carrier && b.start_ms == 610)
    );
    assert!(
        eth0.bars
            .iter()
            .any(|b| b.kind == Kind::Lease && b.start_ms == 2902 && b.end_ms == 37_260)
    );
    assert!(
        eth0.marks
            .iter()
            .any(|m| m.kind == Kind::Lease && m.label.as_deref() == Some("10.4.0.23/24 2.90s"))
    );
    let eth1 = lane("nic:eth1");
    let carrier: Vec<(u64, u64)> = eth1
        .bars
        .iter()
        .filter(|b| b.kind == Kind::Carrier)
        .map(|b| (b.start_ms, b.end_ms))
        .collect();
    assert_eq!(carrier, [(1230, 5010), (7250, 37_260)]);
    assert!(
        eth1.marks
            .iter()
            .any(|m| m.kind == Kind::GaveUp && m.at_ms == 37_252)
    );
    let gate = lane("gate");
    assert_eq!((gate.bars[0].start_ms, gate.bars[0].end_ms), (40, 3106));
    assert_eq!(gate.marks[0].kind, Kind::Reachable);
    let ork = lane("service:0-ork");
    let running: Vec<(u64, u64)> = ork
        .bars
        .iter()
        .filter(|b| b.kind == Kind::Running)
        .map(|b| (b.start_ms, b.end_ms))
        .collect();
    assert_eq!(running, [(3712, 6140), (7142, 37_260)]);
    assert!(
        ork.bars
            .iter()
            .any(|b| b.kind == Kind::Backoff && b.end_ms == 7141)
    );
    assert!(
        ork.marks
            .iter()
            .any(|m| m.kind == Kind::Exit && m.at_ms == 6140)
    );
    // lo is unmanaged and did nothing: no lane.
    assert!(t.lanes.iter().all(|l| l.id != "nic:lo"));
}

/// Labels in a lane never overlap, and stay inside the picture.
#[test]
fn labels_do_not_overlap() {
    // A crowded lane: many quick service exits.
    let mut text = String::from(
        "{\"ts\":\"2026-11-26T01:00:00.000Z\",\"level\":\"info\",\"event\":\"boot.start\",\"version\":\"v\",\"mode\":\"replay\"}\n",
    );
    for i in 0..40u64 {
        let ms = 100 + i * 50;
        text.push_str(&format!(
            "{{\"ts\":\"2026-11-26T01:00:{:02}.{:03}Z\",\"level\":\"info\",\"event\":\"service.exited\",\"service\":\"flappy\",\"pid\":{i},\"status\":\"exit 1\"}}\n",
            ms / 1000,
            ms % 1000
        ));
    }
    text.push_str("{\"ts\":\"2026-11-26T01:00:30.000Z\",\"level\":\"info\",\"event\":\"shutdown\",\"kind\":\"poweroff\"}\n");
    for records in [parse_stream(&text), sample()] {
        let svg = render(&records);
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let width = attr(doc.root_element(), "width");
        for lane in doc
            .descendants()
            .filter(|n| n.attribute("data-lane").is_some())
        {
            let mut spans: Vec<(f64, f64)> = lane
                .children()
                .filter(|n| n.attribute("class") == Some("label"))
                .map(|n| {
                    let x = attr(n, "x");
                    (x, x + n.text().unwrap().chars().count() as f64 * 7.4)
                })
                .collect();
            spans.sort_by(|a, b| a.0.total_cmp(&b.0));
            for pair in spans.windows(2) {
                assert!(
                    pair[0].1 <= pair[1].0,
                    "overlap in {:?}: {pair:?}",
                    lane.attribute("data-lane")
                );
            }
            assert!(spans.iter().all(|(_, end)| *end <= width));
        }
    }
}

#[test]
fn legend_lists_each_look_once() {
    let svg = render(&sample());
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let names: Vec<&str> = doc
        .descendants()
        .filter(|n| {
            n.attribute("class")
                .is_some_and(|c| c.starts_with("swatch"))
        })
        .filter_map(|g| g.children().find(|c| c.tag_name().name() == "text"))
        .filter_map(|t| t.text())
        .collect();
    for expected in [
        "cache step",
        "carrier up",
        "DHCP client",
        "leased",
        "gate waiting",
        "service running",
        "gave up / exit",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len());
}

#[test]
fn odd_input_still_renders() {
    for text in [
        "",
        "{\"event\":\"service.started\",\"service\":\"a<b&c\",\"pid\":1}",
        "{\"ts\":\"bad\",\"event\":\"gate.waiting\"}",
    ] {
        let svg = render(&parse_stream(text));
        roxmltree::Document::parse(&svg).unwrap();
    }
    // A gate still waiting at the end is drawn to the end.
    let t = build(&parse_stream(
        "{\"ts\":\"2026-11-26T01:00:00.000Z\",\"event\":\"gate.waiting\"}\n{\"ts\":\"2026-11-26T01:00:09.000Z\",\"event\":\"x\"}",
    ));
    assert_eq!(
        (t.lanes[0].bars[0].start_ms, t.lanes[0].bars[0].end_ms),
        (0, 9000)
    );
}

#[test]
fn a_one_shot_ends_with_done_not_a_failure() {
    let t = build(&parse_stream(concat!(
        "{\"ts\":\"2026-11-26T01:00:00.000Z\",\"event\":\"service.started\",\"service\":\"nft\",\"pid\":3}\n",
        "{\"ts\":\"2026-11-26T01:00:00.200Z\",\"event\":\"service.exited\",\"service\":\"nft\",\"pid\":3,\"status\":\"exit 0\"}\n",
        "{\"ts\":\"2026-11-26T01:00:00.200Z\",\"event\":\"service.done\",\"service\":\"nft\"}\n",
    )));
    let nft = &t.lanes[0];
    assert_eq!(nft.marks.len(), 1);
    assert_eq!(nft.marks[0].kind, Kind::Done);
    assert_eq!(nft.marks[0].label.as_deref(), Some("done 200ms"));
    assert_eq!((nft.bars[0].start_ms, nft.bars[0].end_ms), (0, 200));
}
