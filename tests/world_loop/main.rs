//! Real-world tests of the loop (root): the kernel uevent socket, forged uevents,
//! rtnetlink in a network namespace, children, idle wake-ups, TCP probes, the log
//! socket, confinement, and the `--record` journal replayed through the core.
//!
//! Run without libtest's harness: `main` blocks SIGCHLD and friends before any thread
//! starts (exactly as nodeboot does), so the loop's signalfd sees every SIGCHLD.
//! Each test makes its own loop devices, veths and namespaces (names start with `nb`)
//! and removes them in Drop guards. Not root: skipped, or failed when CI=true.

mod confine;
mod harness;
mod kernel;
mod logs;
mod processes;
// The shared support of every integration test; this binary uses only a part of it.
#[path = "../support/mod.rs"]
#[allow(dead_code)]
mod support;

fn main() {
    if !support::require_root("world_loop", &[]) {
        return;
    }
    // As nodeboot does: block the signals the loop reads through its signalfd in
    // every thread, before any thread starts.
    let mut mask = nix::sys::signal::SigSet::empty();
    for s in [
        nix::sys::signal::Signal::SIGCHLD,
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGUSR1,
        nix::sys::signal::Signal::SIGUSR2,
    ] {
        mask.add(s);
    }
    mask.thread_block().unwrap();

    let tests: &[(&str, fn())] = &[
        (
            "uevent_of_own_loop_device_arrives_after_coldplug",
            kernel::uevent_of_own_loop_device_arrives_after_coldplug,
        ),
        (
            "forged_uevent_is_dropped_and_logged",
            kernel::forged_uevent_is_dropped_and_logged,
        ),
        (
            "rtnetlink_sees_veth_carrier_and_sets_link_up",
            kernel::rtnetlink_sees_veth_carrier_and_sets_link_up,
        ),
        (
            "children_output_exit_kill_and_no_zombie",
            processes::children_output_exit_kill_and_no_zombie,
        ),
        (
            "idle_loop_makes_no_wakeups",
            kernel::idle_loop_makes_no_wakeups,
        ),
        (
            "connect_probes_open_and_closed_ports",
            processes::connect_probes_open_and_closed_ports,
        ),
        (
            "confined_run_never_touches_other_disks",
            confine::confined_run_never_touches_other_disks,
        ),
        (
            "unconfined_binary_run_is_a_dry_run",
            confine::unconfined_binary_run_is_a_dry_run,
        ),
        (
            "log_socket_serves_backlog_follows_and_checks_peer",
            logs::log_socket_serves_backlog_follows_and_checks_peer,
        ),
        (
            "record_journal_replays_to_the_same_log_stream",
            logs::record_journal_replays_to_the_same_log_stream,
        ),
        (
            "uevent_overflow_resyncs_from_sysfs",
            kernel::uevent_overflow_resyncs_from_sysfs,
        ),
        (
            "internal_command_child_reports_its_effect",
            processes::internal_command_child_reports_its_effect,
        ),
        (
            "log_socket_status_request_asks_the_core",
            logs::log_socket_status_request_asks_the_core,
        ),
        (
            "uevent_burst_is_received_whole",
            kernel::uevent_burst_is_received_whole,
        ),
        (
            "log_file_gets_the_backlog_then_follows",
            logs::log_file_gets_the_backlog_then_follows,
        ),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut failed = Vec::new();
    let mut passed = 0usize;
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        eprint!("test {name} ... ");
        match std::panic::catch_unwind(test) {
            Ok(()) => {
                eprintln!("ok");
                passed += 1;
            }
            Err(_) => {
                eprintln!("FAILED");
                failed.push(*name);
            }
        }
    }
    // The closing line libtest would print, so runners and CI read this target too.
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "test result: {verdict}. {passed} passed; {} failed; 0 ignored; 0 measured; 0 filtered out",
        failed.len()
    );
    if !failed.is_empty() {
        panic!("{} failed: {failed:?}", failed.len());
    }
}
