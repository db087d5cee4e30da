//! A trace run the way the live loop runs (`world::World::run`), with simulated
//! sources instead of sockets: the loop sleeps until its first timer or until a source
//! becomes ready, wakes up at that instant, fires the timers due (`driver::advance`),
//! then reads every ready source until it would block, handing each input over with
//! `driver::feed` — the world's answers (child pipes, the worker, probes, rtnetlink
//! acks) first, then the script's (the kernel's uevents and links, signals).
//!
//! Replay instead steps through one timer or input at a time. Both follow the one
//! driver, so both must give the same stream: `tests/scenarios.rs` compares them for
//! every scenario (a loop that batched its inputs differently would drift from the
//! replays of its own recordings).

use super::format::{Entry, Header, TraceError};
use super::host::Replaying;
use super::outcome::{Output, ReplayError, Summary};
use super::sim::Sim;
use crate::core::driver;
use crate::core::policy::Policy;

/// Wake-ups allowed (as replay's step budget).
const WAKE_BUDGET: u64 = 2_000_000;

/// Run `entries` (with their `header`) under `policy` in live-loop turns, reporting
/// every step to `out` exactly as [`super::replay()`] does.
pub fn replay_in_turns<I>(
    header: &Header,
    entries: I,
    policy: Policy,
    out: &mut dyn FnMut(Output<'_>),
) -> Result<Summary, ReplayError>
where
    I: Iterator<Item = Result<Entry, TraceError>>,
{
    let (mut r, mut script) = Replaying::begin(header, entries, policy, out)?;
    let mut wakes: u64 = 0;
    while !r.shut_down {
        let until = script.until();
        // epoll_wait: the first timer, or the first source to become ready.
        let t_world = r.sim.as_ref().and_then(Sim::next_time);
        let Some((wake, _)) = driver::next(r.reactor.poll_timeout(), t_world, script.due()) else {
            break;
        };
        if until.is_some_and(|u| wake > u) {
            break;
        }
        wakes += 1;
        if wakes > WAKE_BUDGET {
            return Err(ReplayError::Runaway(wakes));
        }
        r.now = r.now.max(wake);
        driver::advance(&mut r);
        // Every ready source, each until it would block.
        while !r.shut_down && r.feed_world_answer() {}
        while !r.shut_down && script.due().is_some_and(|t| t <= r.now) {
            if let Some(input) = script.take()? {
                driver::feed(&mut r, input);
            }
        }
    }
    r.summary.end = r.now;
    Ok(r.summary)
}
