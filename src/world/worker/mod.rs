//! The worker threads for effects that must block (disk probes, GPT, BLKPG, mount,
//! subvolumes, copies): `effects::run_blocking` runs there, and each result comes back
//! through a channel plus the loop's `mio::Waker`.
//!
//! Why a small pool and not one FIFO thread (issue 9, point 3): a probe of a dying
//! disk or a hung mount can block in the kernel (D-state) for good, and behind it
//! every later effect would wait too. So:
//! - effects run in **lanes**: one per disk (its probes, table writes, mounts, in the
//!   order asked), one for the cache filesystem's subvolumes and copies. A lane runs
//!   one effect at a time; different lanes run side by side, so probes of different
//!   disks never queue behind one another or behind a write;
//! - at most [`MAX_THREADS`] threads in total. When the core abandons an effect past
//!   its deadline (`Effect::Cancel`), its thread is **abandoned**: its lane is free
//!   again, its result will be dropped, and it is counted as stuck until it returns
//!   (if ever). A thread stuck for good keeps its slot, so the count is bounded;
//! - when every thread is busy, a new effect waits for the next thread that comes
//!   back, in the order asked ([`WAIT_MAX`] at most; its core deadline keeps running,
//!   so a wait that lasts too long is that step's timeout). Only when every thread
//!   is **stuck** does a new effect **fail at once**, with an error saying so, rather
//!   than wait for a thread that may never come back; a lane's queue is bounded too
//!   ([`LANE_QUEUE_MAX`]).
//!
//! Ordering: the core asks for one prepare step at a time (the next only after the
//! previous answered or timed out), so lanes only have to keep the order between a
//! prepare step and a probe of the same disk.

use super::confine::Confinement;
use super::effects::Admitted;
use super::error::{Result, WorldError};
use crate::core::action::{Effect, EffectId};
use crate::core::input::{EffectError, EffectResult, ErrorKind};
use crossbeam_channel::{Receiver, Sender, unbounded};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// Threads in total, busy, idle and abandoned alike.
pub const MAX_THREADS: usize = 8;
/// Effects waiting behind the one running in a lane.
pub const LANE_QUEUE_MAX: usize = 32;
/// Effects whose lane is free, waiting for a thread (every thread busy).
pub const WAIT_MAX: usize = 256;

/// Only an effect the gate admitted ([`super::effects::admit`]) reaches a thread.
type Job = (EffectId, Admitted);

/// The effect a thread runs.
struct Running {
    id: EffectId,
    lane: String,
    effect: String,
    /// The core gave up on it: the result is dropped when (if) it comes.
    abandoned: bool,
}

struct Thread {
    jobs: Sender<Job>,
    running: Option<Running>,
}

pub struct Worker {
    confine: Confinement,
    waker: Arc<mio::Waker>,
    threads: Vec<Thread>,
    result_tx: Sender<(usize, EffectId, EffectResult)>,
    results: Receiver<(usize, EffectId, EffectResult)>,
    /// Lanes with an effect running.
    busy: BTreeSet<String>,
    /// Effects waiting for their lane, in the order asked.
    queued: BTreeMap<String, VecDeque<Job>>,
    /// Effects at the head of their lane waiting for a thread, in the order asked
    /// (their lanes count as busy, so the lane's order holds).
    waiting: VecDeque<(EffectId, Admitted, String)>,
    /// Answers decided without running anything (a queued effect that could not be
    /// given a thread); handed out by the next `results`.
    immediate: Vec<(EffectId, EffectResult)>,
}

impl Worker {
    /// Start the pool with one thread (after signals are blocked: threads inherit
    /// the mask); more start as lanes need them, up to [`MAX_THREADS`].
    pub fn start(confine: Confinement, waker: Arc<mio::Waker>) -> Result<Worker> {
        let (result_tx, results) = unbounded();
        let mut w = Worker {
            confine,
            waker,
            threads: Vec::new(),
            result_tx,
            results,
            busy: BTreeSet::new(),
            queued: BTreeMap::new(),
            waiting: VecDeque::new(),
            immediate: Vec::new(),
        };
        w.spawn_thread()
            .map_err(|source| WorldError::Worker { source })?;
        Ok(w)
    }

    fn spawn_thread(&mut self) -> std::io::Result<usize> {
        let index = self.threads.len();
        let (jobs, job_rx) = unbounded::<Job>();
        let confine = self.confine.clone();
        let waker = self.waker.clone();
        let result_tx = self.result_tx.clone();
        std::thread::Builder::new()
            .name(format!("nodeboot-worker-{index}"))
            .spawn(move || {
                for (id, admitted) in job_rx {
                    // With `panic = "abort"` (release) a panic ends the process anyway;
                    // elsewhere the effect is answered instead of left pending forever.
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        super::effects::run_blocking(&admitted, &confine)
                    }))
                    .unwrap_or_else(|_| {
                        Err(EffectError::other("the effect panicked on a worker thread"))
                    });
                    if result_tx.send((index, id, result)).is_err() {
                        return;
                    }
                    let _ = waker.wake();
                }
            })?;
        self.threads.push(Thread {
            jobs,
            running: None,
        });
        Ok(index)
    }

    /// Run `effect` in its lane: now, or after the effects ahead of it in the lane.
    /// An error means it will never run (no thread free, lane queue full).
    pub fn submit(
        &mut self,
        id: EffectId,
        effect: Admitted,
    ) -> std::result::Result<(), EffectError> {
        let lane = lane_of(effect.effect());
        if self.busy.contains(&lane) {
            let queue = self.queued.entry(lane.clone()).or_default();
            if queue.len() >= LANE_QUEUE_MAX {
                return Err(busy(format!(
                    "{LANE_QUEUE_MAX} effects already wait for {lane} behind a stuck one"
                )));
            }
            queue.push_back((id, effect));
            return Ok(());
        }
        self.dispatch(id, effect, lane)
    }

    fn dispatch(
        &mut self,
        id: EffectId,
        effect: Admitted,
        lane: String,
    ) -> std::result::Result<(), EffectError> {
        let idle = self.threads.iter().position(|t| t.running.is_none());
        let index = match idle {
            Some(i) => i,
            None if self.threads.len() < MAX_THREADS => self.spawn_thread().map_err(|e| {
                super::errno::from_io(&e, format!("cannot start a worker thread: {e}"))
            })?,
            None if self.stuck() >= self.threads.len() => {
                return Err(busy(format!(
                    "no worker thread free: all {MAX_THREADS} abandoned, stuck in the kernel"
                )));
            }
            None => {
                if self.waiting.len() >= WAIT_MAX {
                    return Err(busy(format!(
                        "{WAIT_MAX} effects already wait for a worker thread ({} stuck)",
                        self.stuck()
                    )));
                }
                self.waiting.push_back((id, effect, lane.clone()));
                self.busy.insert(lane);
                return Ok(());
            }
        };
        self.start_on(index, id, effect, lane)
    }

    /// Hand `effect` to thread `index` (idle).
    fn start_on(
        &mut self,
        index: usize,
        id: EffectId,
        effect: Admitted,
        lane: String,
    ) -> std::result::Result<(), EffectError> {
        let name = effect.effect().name().to_owned();
        let Some(thread) = self.threads.get_mut(index) else {
            return Err(EffectError::other("worker thread index out of range"));
        };
        thread
            .jobs
            .send((id, effect))
            .map_err(|_| EffectError::other("worker thread is gone"))?;
        thread.running = Some(Running {
            id,
            lane: lane.clone(),
            effect: name,
            abandoned: false,
        });
        self.busy.insert(lane);
        Ok(())
    }

    /// Threads whose effect was abandoned and has not returned.
    pub fn stuck(&self) -> usize {
        self.threads
            .iter()
            .filter(|t| t.running.as_ref().is_some_and(|r| r.abandoned))
            .count()
    }

    /// The core gave up on effect `id` (its deadline passed). A queued effect is
    /// dropped; a running one has its thread abandoned: returns the effect's name
    /// and how many threads are now stuck, for the log.
    pub fn cancel(&mut self, id: EffectId) -> Option<(String, usize)> {
        for queue in self.queued.values_mut() {
            queue.retain(|(queued, _)| *queued != id);
        }
        if let Some(at) = self.waiting.iter().position(|(w, _, _)| *w == id) {
            // It never ran: nothing abandoned, its lane goes on.
            if let Some((_, _, lane)) = self.waiting.remove(at) {
                self.lane_free(&lane);
            }
            return None;
        }
        let running = self
            .threads
            .iter_mut()
            .filter_map(|t| t.running.as_mut())
            .find(|r| r.id == id && !r.abandoned)?;
        running.abandoned = true;
        let (effect, lane) = (running.effect.clone(), running.lane.clone());
        self.lane_free(&lane);
        Some((effect, self.stuck()))
    }

    /// `lane` has nothing running any more: start the next effect waiting for it.
    fn lane_free(&mut self, lane: &str) {
        self.busy.remove(lane);
        let Some(queue) = self.queued.get_mut(lane) else {
            return;
        };
        let next = queue.pop_front();
        if queue.is_empty() {
            self.queued.remove(lane);
        }
        if let Some((id, effect)) = next
            && let Err(e) = self.dispatch(id, effect, lane.to_owned())
        {
            self.immediate.push((id, Err(e)));
            // Hand the error out now, and let the next queued effect try too.
            let _ = self.waker.wake();
            self.lane_free(lane);
        }
    }

    /// Thread `index` came back: give it the effect that has waited longest.
    fn thread_free(&mut self, index: usize) {
        let idle = self.threads.get(index).is_some_and(|t| t.running.is_none());
        if !idle {
            return;
        }
        if let Some((id, effect, lane)) = self.waiting.pop_front()
            && let Err(e) = self.start_on(index, id, effect, lane.clone())
        {
            self.immediate.push((id, Err(e)));
            let _ = self.waker.wake();
            self.lane_free(&lane);
        }
    }

    /// Every result ready now (abandoned effects' results are dropped).
    pub fn results(&mut self) -> Vec<(EffectId, EffectResult)> {
        let mut out = std::mem::take(&mut self.immediate);
        while let Ok((index, id, result)) = self.results.try_recv() {
            let running = self.threads.get_mut(index).and_then(|t| t.running.take());
            match running {
                Some(r) if r.abandoned => {} // its lane was freed at the cancel
                Some(r) => {
                    out.push((id, result));
                    self.lane_free(&r.lane);
                }
                None => out.push((id, result)),
            }
            self.thread_free(index);
        }
        out.append(&mut self.immediate);
        out
    }
}

/// A worker pool too busy to take an effect.
fn busy(message: String) -> EffectError {
    EffectError::new(ErrorKind::Busy, message)
}

/// The lane of a blocking effect: the disk it works on (a partition's disk), or the
/// cache filesystem for subvolumes and copies.
fn lane_of(effect: &Effect) -> String {
    let device = match effect {
        Effect::ProbeDisk { device } | Effect::Mkfs { device, .. } => device.as_str(),
        Effect::WritePartitionTable { disk, .. } | Effect::AddPartition { disk, .. } => {
            disk.as_str()
        }
        Effect::Mount { source, .. } | Effect::Unmount { source, .. } => {
            match source.strip_prefix("/dev/") {
                Some(dev) => dev,
                None => return format!("fs:{source}"),
            }
        }
        _ => return "cache-fs".into(),
    };
    format!("disk:{}", disk_of(device))
}

/// The disk of a partition by the kernel's naming (`sda1` → `sda`, `nvme0n1p2` →
/// `nvme0n1`, `loop3p1` → `loop3`); a name that is no partition is its own disk.
/// Only for ordering: a name read wrongly costs parallelism, never safety.
fn disk_of(name: &str) -> &str {
    let trimmed = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if trimmed.len() == name.len() {
        return name;
    }
    if let Some(p) = trimmed.strip_suffix('p')
        && p.ends_with(|c: char| c.is_ascii_digit())
    {
        return p;
    }
    let scsi_like = ["sd", "vd", "hd", "xvd"]
        .iter()
        .any(|prefix| trimmed.starts_with(prefix))
        && trimmed.chars().all(|c| c.is_ascii_lowercase());
    if scsi_like { trimmed } else { name }
}

#[cfg(test)]
mod tests;
