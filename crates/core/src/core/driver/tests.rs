//! The delivery rules on a scripted core that writes down everything it is told.

use super::*;
use crate::core::action::{Effect, EffectId, ShutdownKind};
use crate::core::event::{Event, Level};
use crate::core::input::{EffectOutput, SignalKind};

/// Logs each call; arms the timers it is told to; asks for an effect per input.
#[derive(Default)]
struct Script {
    told: Vec<String>,
    timers: Vec<Instant>,
    actions: VecDeque<Action>,
    records: VecDeque<Record>,
    next_id: u64,
    /// Each `Status` signal arms a timer this long after `now` (0: due at once).
    rearm_ms: Option<u64>,
}

impl Core for Script {
    fn handle(&mut self, now: Instant, input: Input) {
        self.told
            .push(format!("{}@{}", kind(&input), now.as_millis()));
        self.records.push_back(Record {
            at: now,
            level: Level::Info,
            event: Event::WorldError {
                error: kind(&input).into(),
            },
        });
        if let Input::Signal { signal } = input {
            let effect = match signal {
                SignalKind::Stop => Effect::Shutdown {
                    kind: ShutdownKind::Exit,
                },
                _ => Effect::Cancel {
                    probe: EffectId(99),
                },
            };
            self.next_id += 1;
            self.actions.push_back(Action {
                id: EffectId(self.next_id),
                effect,
            });
            if let Some(ms) = self.rearm_ms {
                self.timers
                    .push(now + crate::time::Duration::from_millis(ms));
            }
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.told.push(format!("timer@{}", now.as_millis()));
        self.timers.retain(|t| *t > now);
    }
    fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }
    fn poll_record(&mut self) -> Option<Record> {
        self.records.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().min().copied()
    }
}

fn kind(input: &Input) -> &'static str {
    match input {
        Input::Signal { .. } => "signal",
        Input::EffectDone { .. } => "done",
        Input::ColdplugDone => "coldplug",
        _ => "other",
    }
}

/// Answers every effect at once (as a refusal or a loop-side effect is answered).
#[derive(Default)]
struct Host1 {
    core: Script,
    now: Instant,
    queue: VecDeque<Input>,
    log: Vec<String>,
    stopped: bool,
}

impl Host for Host1 {
    type Core = Script;
    fn core(&mut self) -> &mut Script {
        &mut self.core
    }
    fn now(&self) -> Instant {
        self.now
    }
    fn set_now(&mut self, now: Instant) {
        self.now = now;
    }
    fn queue(&mut self) -> &mut VecDeque<Input> {
        &mut self.queue
    }
    fn on_input(&mut self, input: &Input) {
        self.log.push(format!("in {}", kind(input)));
    }
    fn on_timer(&mut self) {
        self.log.push(format!("timer {}", self.now.as_millis()));
    }
    fn on_record(&mut self, record: Record) {
        self.log.push(format!("rec {}", record.event.name()));
    }
    fn on_action(&mut self, action: Action) {
        self.log.push(format!("act {}", action.effect.name()));
        if matches!(action.effect, Effect::Shutdown { .. }) {
            self.stopped = true;
            return;
        }
        self.queue.push_back(Input::EffectDone {
            id: action.id,
            result: Ok(EffectOutput::Done),
        });
    }
    fn stopped(&self) -> bool {
        self.stopped
    }
}

fn status() -> Input {
    Input::Signal {
        signal: SignalKind::Status,
    }
}

#[test]
fn due_timers_fire_first_each_at_its_own_deadline() {
    let mut h = Host1::default();
    h.core.timers = vec![Instant::from_millis(30), Instant::from_millis(10)];
    h.now = Instant::from_millis(30);
    feed(&mut h, Input::ColdplugDone);
    assert_eq!(h.core.told, ["timer@10", "timer@30", "coldplug@30"]);
    // The input is handed in at the wake-up time, not at the last deadline.
    assert_eq!(h.now, Instant::from_millis(30));
}

#[test]
fn records_then_actions_then_their_answers_then_the_next_input() {
    let mut h = Host1::default();
    h.queue.push_back(status());
    h.queue.push_back(Input::ColdplugDone);
    settle(&mut h);
    assert_eq!(
        h.log,
        [
            "in signal",
            "rec world.error",
            "act cancel",
            // The answer is queued behind the input already waiting.
            "in coldplug",
            "rec world.error",
            "in done",
            "rec world.error",
        ]
    );
}

#[test]
fn a_timer_armed_for_now_fires_before_the_next_answer() {
    let mut h = Host1::default();
    h.core.rearm_ms = Some(0);
    h.now = Instant::from_millis(5);
    feed(&mut h, status());
    assert_eq!(h.core.told, ["signal@5", "timer@5", "done@5"]);
    // Not yet due: it waits for the clock.
    let mut h = Host1::default();
    h.core.rearm_ms = Some(1);
    feed(&mut h, status());
    assert_eq!(h.core.told, ["signal@0", "done@0"]);
    h.now = Instant::from_millis(1);
    advance(&mut h);
    assert_eq!(h.core.told, ["signal@0", "done@0", "timer@1"]);
}

#[test]
fn after_shutdown_the_core_is_told_nothing_more() {
    let mut h = Host1::default();
    h.core.timers = vec![Instant::from_millis(1)];
    feed(
        &mut h,
        Input::Signal {
            signal: SignalKind::Stop,
        },
    );
    h.queue.push_back(status());
    h.now = Instant::from_millis(2);
    advance(&mut h);
    assert_eq!(h.core.told, ["signal@0"]);
    assert_eq!(h.log, ["in signal", "rec world.error", "act shutdown"]);
}

#[test]
fn a_core_rearming_a_due_timer_does_not_hang_its_driver() {
    struct Stuck(u64);
    impl Core for Stuck {
        fn handle(&mut self, _: Instant, _: Input) {}
        fn handle_timeout(&mut self, _: Instant) {
            self.0 += 1;
        }
        fn poll_action(&mut self) -> Option<Action> {
            None
        }
        fn poll_record(&mut self) -> Option<Record> {
            None
        }
        fn poll_timeout(&self) -> Option<Instant> {
            Some(Instant::ZERO)
        }
    }
    struct H(Stuck, VecDeque<Input>);
    impl Host for H {
        type Core = Stuck;
        fn core(&mut self) -> &mut Stuck {
            &mut self.0
        }
        fn now(&self) -> Instant {
            Instant::ZERO
        }
        fn set_now(&mut self, _: Instant) {}
        fn queue(&mut self) -> &mut VecDeque<Input> {
            &mut self.1
        }
        fn on_input(&mut self, _: &Input) {}
        fn on_record(&mut self, _: Record) {}
        fn on_action(&mut self, _: Action) {}
    }
    let mut h = H(Stuck(0), VecDeque::new());
    feed(&mut h, Input::ColdplugDone);
    assert_eq!(h.0.0, MAX_TIMER_ROUNDS as u64);
}

#[test]
fn ties_go_to_timers_then_the_world_then_the_script() {
    let t = |ms| Some(Instant::from_millis(ms));
    assert_eq!(
        next(t(5), t(5), t(5)),
        Some((Instant::from_millis(5), Next::Timer))
    );
    assert_eq!(
        next(t(6), t(5), t(5)),
        Some((Instant::from_millis(5), Next::World))
    );
    assert_eq!(
        next(None, t(6), t(5)),
        Some((Instant::from_millis(5), Next::Script))
    );
    assert_eq!(next(None, None, None), None);
}
