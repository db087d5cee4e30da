//! The shutdown sequence (issue 9), decided here and carried out by the world, so
//! that a replay shows the same order. Each step is a `shutdown.step` record:
//!
//! 1. `stop-services`: services get SIGTERM in reverse dependency order (a service
//!    is stopped only once every service that runs `after` it has exited), and
//!    `stop-dhcp`: the DHCP clients; both within [`STOP_GRACE`]. A run's `Exit` ends
//!    here (it does not own the machine).
//! 2. `term-stragglers`: `KillAll(TERM)` (as PID 1 `kill(-1)`), then after
//!    [`STRAGGLER_GRACE`] `kill-stragglers`: `KillAll(KILL)`.
//! 3. `unmount`: every mount the cache made, last made first (the world detaches a
//!    busy one), one at a time, all within [`UNMOUNT_GRACE`].
//! 4. `Effect::Shutdown`: the world flushes its log sinks, syncs (`sync` step),
//!    then reboots or powers off.

use super::action::{Effect, EffectId, KillSignal, ShutdownKind};
use super::ctx::{Ctx, Owner};
use super::event::Event;
use super::input::EffectResult;
use super::timer::Timer;
use crate::time::{Duration, Instant};

/// Services and DHCP clients get this long between SIGTERM and the next step.
pub const STOP_GRACE: Duration = Duration::from_secs(5);
/// Stragglers get this long between `kill(-1, SIGTERM)` and `kill(-1, SIGKILL)`.
pub const STRAGGLER_GRACE: Duration = Duration::from_secs(2);
/// Every unmount of the cache together gets at most this long.
pub const UNMOUNT_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    /// Services and DHCP clients were sent SIGTERM.
    Stopping,
    /// `kill(-1, SIGTERM)` was sent; SIGKILL at the grace timer.
    Stragglers,
    /// Unmounting; `current` is the unmount in flight and its target.
    Unmounting {
        left: Vec<(String, String)>,
        current: Option<(EffectId, String)>,
    },
    /// `Effect::Shutdown` was sent.
    Done,
}

pub struct Shutdown {
    pub kind: ShutdownKind,
    phase: Phase,
    started: Instant,
    step_started: Instant,
}

/// What the reactor must tell the shutdown, and what it hands back.
pub struct Children {
    pub services: usize,
    pub dhcp: usize,
}

impl Shutdown {
    /// Start: the caller has logged `shutdown` and sent the SIGTERMs.
    pub fn start(cx: &mut Ctx, kind: ShutdownKind) -> Shutdown {
        cx.set_timer(Timer::ShutdownGrace, cx.now + STOP_GRACE);
        Shutdown {
            kind,
            phase: Phase::Stopping,
            started: cx.now,
            step_started: cx.now,
        }
    }

    /// After every input: the children may all be gone.
    pub fn on_input(&mut self, cx: &mut Ctx, children: &Children) {
        if self.phase == Phase::Stopping && children.services == 0 && children.dhcp == 0 {
            cx.cancel_timer(&Timer::ShutdownGrace);
            self.stopped(cx, children);
        }
    }

    /// `Timer::ShutdownGrace` fired.
    pub fn on_timer(&mut self, cx: &mut Ctx, children: &Children, mounts: &[(String, String)]) {
        match &mut self.phase {
            Phase::Stopping => self.stopped(cx, children),
            Phase::Stragglers => {
                cx.effect(
                    Owner::Reactor,
                    Effect::KillAll {
                        signal: KillSignal::Kill,
                    },
                );
                self.step(cx, "kill-stragglers", true, None, None);
                self.unmount_all(cx, mounts);
            }
            Phase::Unmounting { left, current } => {
                // The hung unmount is given up here, with the shutdown's own grace:
                // its effect deadline no longer applies.
                let hung = current.take();
                if let Some((id, _)) = &hung {
                    cx.end_deadline(*id);
                }
                let target = hung.map(|(_, t)| t);
                let skipped = left.len();
                left.clear();
                let error = format!(
                    "timed out after {}s ({skipped} more not tried)",
                    UNMOUNT_GRACE.as_secs()
                );
                self.step(cx, "unmount", false, target, Some(error));
                self.finish(cx);
            }
            Phase::Done => {}
        }
    }

    /// An effect of the reactor's finished: maybe our unmount.
    pub fn on_done(&mut self, cx: &mut Ctx, id: EffectId, result: &EffectResult) -> bool {
        let Phase::Unmounting { current, .. } = &mut self.phase else {
            return false;
        };
        if current.as_ref().is_none_or(|(ours, _)| *ours != id) {
            return false;
        }
        let target = current.take().map(|(_, t)| t);
        let error = result.as_ref().err().map(|e| e.message.clone());
        self.step(cx, "unmount", error.is_none(), target, error);
        self.unmount_next(cx);
        true
    }

    fn stopped(&mut self, cx: &mut Ctx, children: &Children) {
        let left = |n: usize| (n > 0).then(|| format!("{n} still running"));
        self.step(
            cx,
            "stop-services",
            children.services == 0,
            None,
            left(children.services),
        );
        self.step(
            cx,
            "stop-dhcp",
            children.dhcp == 0,
            None,
            left(children.dhcp),
        );
        if self.kind == ShutdownKind::Exit {
            self.finish(cx);
            return;
        }
        cx.effect(
            Owner::Reactor,
            Effect::KillAll {
                signal: KillSignal::Term,
            },
        );
        self.step(cx, "term-stragglers", true, None, None);
        self.phase = Phase::Stragglers;
        cx.set_timer(Timer::ShutdownGrace, cx.now + STRAGGLER_GRACE);
    }

    fn unmount_all(&mut self, cx: &mut Ctx, mounts: &[(String, String)]) {
        // `left` is popped from its end: reverse the last-first list.
        let left = mounts.iter().rev().cloned().collect();
        self.phase = Phase::Unmounting {
            left,
            current: None,
        };
        cx.set_timer(Timer::ShutdownGrace, cx.now + UNMOUNT_GRACE);
        self.unmount_next(cx);
    }

    fn unmount_next(&mut self, cx: &mut Ctx) {
        let Phase::Unmounting { left, current } = &mut self.phase else {
            return;
        };
        match left.pop() {
            Some((source, target)) => {
                let id = cx.effect(
                    Owner::Reactor,
                    Effect::Unmount {
                        source,
                        target: target.clone(),
                    },
                );
                *current = Some((id, target));
            }
            None => {
                cx.cancel_timer(&Timer::ShutdownGrace);
                self.finish(cx);
            }
        }
    }

    fn finish(&mut self, cx: &mut Ctx) {
        self.phase = Phase::Done;
        cx.effect(Owner::Reactor, Effect::Shutdown { kind: self.kind });
    }

    fn step(
        &mut self,
        cx: &mut Ctx,
        step: &str,
        ok: bool,
        target: Option<String>,
        error: Option<String>,
    ) {
        cx.log(Event::ShutdownStep {
            step: step.into(),
            ok,
            ms: cx.now.millis_since(self.step_started),
            target,
            error,
        });
        self.step_started = cx.now;
    }

    /// Since the shutdown began (tests, summaries).
    pub fn elapsed(&self, now: Instant) -> Duration {
        now.since(self.started)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actions(cx: &mut Ctx) -> Vec<(EffectId, Effect)> {
        std::iter::from_fn(|| cx.pop_action())
            .map(|a| (a.id, a.effect))
            .collect()
    }

    fn steps(cx: &mut Ctx) -> Vec<(String, bool, Option<String>)> {
        std::iter::from_fn(|| cx.pop_record())
            .filter_map(|r| match r.event {
                Event::ShutdownStep {
                    step, ok, target, ..
                } => Some((step, ok, target)),
                _ => None,
            })
            .collect()
    }

    fn fire(cx: &mut Ctx, s: &mut Shutdown, children: &Children, mounts: &[(String, String)]) {
        let at = cx.timers.next_deadline().expect("a grace timer is armed");
        cx.now = at;
        for timer in cx.timers.take_due(at) {
            assert_eq!(timer, Timer::ShutdownGrace);
            s.on_timer(cx, children, mounts);
        }
    }

    const NONE: Children = Children {
        services: 0,
        dhcp: 0,
    };

    fn mounts() -> Vec<(String, String)> {
        // As Cache::mounts_last_first gives them: the last mount made first.
        ["/var/log", "/var/cache", "/mnt/pool"]
            .map(|t| ("/dev/sdb1".to_string(), t.to_string()))
            .to_vec()
    }

    #[test]
    fn a_run_that_exits_stops_its_children_and_nothing_else() {
        let mut cx = Ctx::default();
        let mut s = Shutdown::start(&mut cx, ShutdownKind::Exit);
        s.on_input(&mut cx, &NONE);
        let effects: Vec<Effect> = actions(&mut cx).into_iter().map(|(_, e)| e).collect();
        assert_eq!(
            effects,
            vec![Effect::Shutdown {
                kind: ShutdownKind::Exit
            }]
        );
        let names: Vec<String> = steps(&mut cx).into_iter().map(|s| s.0).collect();
        assert_eq!(names, ["stop-services", "stop-dhcp"]);
        assert_eq!(cx.timers.next_deadline(), None);
    }

    #[test]
    fn a_stuck_service_a_failed_and_a_hung_unmount_still_end_in_a_reboot() {
        let mut cx = Ctx::default();
        let mut s = Shutdown::start(&mut cx, ShutdownKind::Reboot);
        let stuck = Children {
            services: 1,
            dhcp: 0,
        };
        s.on_input(&mut cx, &stuck);
        assert!(actions(&mut cx).is_empty(), "waits for the grace period");
        fire(&mut cx, &mut s, &stuck, &mounts());
        assert_eq!(cx.now, Instant::ZERO + STOP_GRACE);
        let a = actions(&mut cx);
        assert_eq!(
            a.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>(),
            vec![Effect::KillAll {
                signal: KillSignal::Term
            }]
        );
        fire(&mut cx, &mut s, &stuck, &mounts());
        assert_eq!(cx.now, Instant::ZERO + STOP_GRACE + STRAGGLER_GRACE);
        let a = actions(&mut cx);
        let kinds: Vec<Effect> = a.iter().map(|(_, e)| e.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                Effect::KillAll {
                    signal: KillSignal::Kill
                },
                Effect::Unmount {
                    source: "/dev/sdb1".into(),
                    target: "/var/log".into()
                }
            ]
        );
        // The first unmount fails: logged, the next one is still made.
        let (first, _) = a[1].clone();
        // As the reactor does with every answer: its deadline ends, then it is routed.
        cx.forget(first);
        assert!(s.on_done(&mut cx, first, &Err("EINVAL".into())));
        let a = actions(&mut cx);
        assert!(matches!(&a[..], [(_, Effect::Unmount { target, .. })] if target == "/var/cache"));
        // An answer that is not ours is left to the reactor.
        assert!(!s.on_done(
            &mut cx,
            EffectId(9999),
            &Ok(crate::core::input::EffectOutput::Done)
        ));
        // The second hangs: the unmount grace ends it, the pool is not tried.
        fire(&mut cx, &mut s, &stuck, &mounts());
        let a = actions(&mut cx);
        assert_eq!(
            a.into_iter().map(|(_, e)| e).collect::<Vec<_>>(),
            vec![Effect::Shutdown {
                kind: ShutdownKind::Reboot
            }]
        );
        assert_eq!(
            steps(&mut cx),
            vec![
                ("stop-services".into(), false, None),
                ("stop-dhcp".into(), true, None),
                ("term-stragglers".into(), true, None),
                ("kill-stragglers".into(), true, None),
                ("unmount".into(), false, Some("/var/log".into())),
                ("unmount".into(), false, Some("/var/cache".into())),
            ]
        );
        assert_eq!(cx.timers.next_deadline(), None);
    }
}
