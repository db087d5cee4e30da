//! Children (supervised and internal) and reachability probes.

use crate::harness::*;

pub fn children_output_exit_kill_and_no_zombie() {
    let react: React = Box::new(|i| match i {
        Input::Start { .. } => vec![
            Effect::Spawn {
                role: ChildRole::Service {
                    service: "talker".into(),
                },
                argv: vec![
                    "sh".into(),
                    "-c".into(),
                    "echo out1; echo err1 >&2; printf 'out2'; exit 3".into(),
                ],
            },
            Effect::Spawn {
                role: ChildRole::Service {
                    service: "sleeper".into(),
                },
                argv: vec!["sleep".into(), "100".into()],
            },
        ],
        Input::EffectDone {
            id: EffectId(2),
            result: Ok(EffectOutput::Spawned { .. }),
        } => vec![Effect::Kill {
            child: EffectId(2),
            signal: KillSignal::Term,
        }],
        _ => Vec::new(),
    });
    let w = start(quiet_settings_live(), None, react);
    let exited = |id: u64| move |i: &Input| matches!(i, Input::ChildExited { id: EffectId(x), .. } if *x == id);
    let talker = w.wait_input("talker exit", exited(1));
    assert_eq!(
        talker,
        Input::ChildExited {
            id: EffectId(1),
            status: ExitStatus::Code(3)
        }
    );
    let sleeper = w.wait_input("sleeper killed", exited(2));
    assert_eq!(
        sleeper,
        Input::ChildExited {
            id: EffectId(2),
            status: ExitStatus::Signal(libc::SIGTERM)
        }
    );
    let inputs = w.inputs();
    let out: Vec<(Stream, String)> = inputs
        .iter()
        .filter_map(|i| match i {
            Input::ChildOutput {
                id: EffectId(1),
                stream,
                line,
            } => Some((*stream, line.clone())),
            _ => None,
        })
        .collect();
    assert!(out.contains(&(Stream::Stdout, "out1".into())), "{out:?}");
    assert!(out.contains(&(Stream::Stdout, "out2".into())), "{out:?}");
    assert!(out.contains(&(Stream::Stderr, "err1".into())), "{out:?}");
    // Output came before the exit.
    let exit_pos = inputs.iter().position(exited(1)).unwrap();
    let last_out = inputs
        .iter()
        .rposition(|i| {
            matches!(
                i,
                Input::ChildOutput {
                    id: EffectId(1),
                    ..
                }
            )
        })
        .unwrap();
    assert!(last_out < exit_pos);
    // Both were reaped: no zombie child of ours left.
    let pids: Vec<u32> = inputs
        .iter()
        .filter_map(|i| match i {
            Input::EffectDone {
                result: Ok(EffectOutput::Spawned { pid }),
                ..
            } => Some(*pid),
            _ => None,
        })
        .collect();
    assert_eq!(pids.len(), 2);
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(stat.is_empty(), "pid {pid} still there: {stat}");
    }
    w.finish();
}

pub fn connect_probes_open_and_closed_ports() {
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open_addr = open.local_addr().unwrap().to_string();
    let closed_addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let (a, b) = (open_addr.clone(), closed_addr.clone());
    let react: React = Box::new(move |i| match i {
        Input::Start { .. } => vec![
            Effect::Connect { target: a.clone() },
            Effect::Connect { target: b.clone() },
            Effect::Connect {
                target: "nb-no-such-host.invalid:80".into(),
            },
        ],
        _ => Vec::new(),
    });
    // A dry run sends no probes: this needs a live world (loopback only).
    let w = start(quiet_settings_live(), None, react);
    let done = |id: u64| move |i: &Input| matches!(i, Input::EffectDone { id: EffectId(x), .. } if *x == id);
    let ok = w.wait_input("open port", done(1));
    assert!(
        matches!(
            ok,
            Input::EffectDone {
                result: Ok(EffectOutput::Done),
                ..
            }
        ),
        "{ok:?}"
    );
    let refused = w.wait_input("closed port", done(2));
    assert!(
        matches!(&refused, Input::EffectDone { result: Err(e), .. } if e.message.contains("refused")),
        "{refused:?}"
    );
    let name = w.wait_input("hostname", done(3));
    assert!(
        matches!(name, Input::EffectDone { result: Err(_), .. }),
        "{name:?}"
    );
    drop(open);
    w.finish();
}

pub fn internal_command_child_reports_its_effect() {
    use nodeboot::core::input::EffectResult;
    use nodeboot::world::children::{ChildNews, Children};
    let poll = mio::Poll::new().unwrap();
    let mut children = Children::default();
    let argv = |s: &str| vec!["sh".to_string(), "-c".to_string(), s.to_string()];
    children
        .spawn(
            poll.registry(),
            EffectId(7),
            &argv("echo working; echo 'no space left' >&2; exit 2"),
            true,
        )
        .unwrap();
    children
        .spawn(poll.registry(), EffectId(8), &argv("echo fine"), true)
        .unwrap();
    let mut results: Vec<(EffectId, EffectResult)> = Vec::new();
    for _ in 0..500 {
        for (pid, status) in nodeboot::world::signals::reap(false, &children.pids()) {
            for n in children
                .on_reaped(poll.registry(), pid, status, nodeboot::time::Instant::ZERO)
                .unwrap()
            {
                match n {
                    ChildNews::EffectDone { id, result } => results.push((id, result)),
                    other => panic!("an internal child reports only its result: {other:?}"),
                }
            }
        }
        if results.len() == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    results.sort_by_key(|(id, _)| *id);
    assert_eq!(results.len(), 2, "{results:?}");
    let (_, failed) = &results[0];
    let err = failed.clone().unwrap_err();
    assert!(
        err.message.contains("exit 2") && err.message.contains("no space left"),
        "{err}"
    );
    assert_eq!(results[1], (EffectId(8), Ok(EffectOutput::Done)));
    assert!(children.is_empty());
}
