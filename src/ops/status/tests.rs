use super::table::bytes;
use super::*;

fn sample() -> NodeState {
    let text = include_str!("../../../tests/ops/boot.jsonl");
    NodeState::from_records(&parse_stream(text))
}

#[test]
fn table_has_every_section_and_the_facts() {
    let space = Space {
        free_bytes: 400 * (1 << 30),
        total_bytes: 447 * (1 << 30),
    };
    let t = render_table(
        &sample(),
        Some("/mnt/storagepool/sp_zos-cache"),
        Some(space),
    );
    for section in ["\nCache\n", "\nNICs\n", "\nGate\n", "\nServices\n"] {
        assert!(t.contains(section), "{section:?} missing in\n{t}");
    }
    assert!(
        t.contains("ready     sda1  log logs/2026-11-26T01:00:00Z  free 400.0 GiB of 447.0 GiB"),
        "{t}"
    );
    let eth0 = t
        .lines()
        .find(|l| l.trim_start().starts_with("eth0"))
        .unwrap();
    assert!(
        eth0.contains("up") && eth0.contains("leased (2.29s)") && eth0.contains("10.4.0.23/24"),
        "{eth0}"
    );
    let eth1 = t
        .lines()
        .find(|l| l.trim_start().starts_with("eth1"))
        .unwrap();
    assert!(eth1.contains("gave up (30.0s)"), "{eth1}");
    assert!(!t.contains("\n  lo "), "unmanaged lo is not listed:\n{t}");
    assert!(
        t.contains("\n  disks     unused: sda; in-use: sdb; excluded: loop0\n"),
        "{t}"
    );
    assert!(t.contains("released  reachable after 3.07s"), "{t}");
    let ork = t
        .lines()
        .find(|l| l.trim_start().starts_with("0-ork"))
        .unwrap();
    let cells: Vec<&str> = ork.split_whitespace().collect();
    assert_eq!(
        cells,
        ["0-ork", "running", "340", "1", "exit", "1", "+7.14s"]
    );
}

#[test]
fn columns_line_up() {
    let t = render_table(&sample(), None, None);
    let header = t.lines().find(|l| l.contains("SERVICE")).unwrap();
    let redis = t
        .lines()
        .find(|l| l.trim_start().starts_with("redis"))
        .unwrap();
    let col = header.find("PID").unwrap();
    assert_eq!(&redis[col..col + 3], "301");
}

#[test]
fn json_carries_the_state() {
    let j: serde_json::Value = serde_json::from_str(&render_json(&sample(), None, None)).unwrap();
    assert_eq!(j["cache"]["state"], "ready");
    assert_eq!(j["nics"]["eth1"]["dhcp"], "gave_up");
    assert_eq!(j["gate"]["reason"], "reachable");
    assert_eq!(j["services"]["0-ork"]["restarts"], 1);
    assert!(j["cache_space"].is_null());
}

#[test]
fn an_empty_stream_still_renders() {
    let t = render_table(&NodeState::new(), None, None);
    assert!(t.contains("unknown") && t.contains("(none seen)") && t.contains("(none started)"));
}

#[test]
fn only_mount_points_are_measured() {
    assert!(measure(Path::new("/")).is_some());
    // A plain directory on the root filesystem is not a mount point.
    let dir = std::env::temp_dir().join(format!("nb-ops-notmount-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let parent_is_same_fs = measure(&dir).is_none();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(parent_is_same_fs);
    assert_eq!(bytes(1536), "1.5 KiB");
}

#[test]
fn many_disks_are_grouped_and_cut() {
    let mut state = NodeState::new();
    for i in 0..12 {
        state
            .cache
            .disks_seen
            .insert(format!("loop{i}"), "excluded".into());
    }
    state.cache.disks_seen.insert("vda".into(), "in-use".into());
    let t = render_table(&state, None, None);
    assert!(
        t.contains(
            "  disks     in-use: vda; excluded: loop0, loop1, loop2, loop3, loop4, loop5, … (+6)\n"
        ),
        "{t}"
    );
}
