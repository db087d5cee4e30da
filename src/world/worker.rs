//! The worker thread for effects that must block (disk probes, GPT, BLKPG, mount,
//! subvolumes, copies): `effects::run_blocking` runs there, one effect at a time, and
//! each result comes back through a channel plus the loop's `mio::Waker`.

use super::confine::Confinement;
use super::error::{Result, WorldError};
use crate::core::action::{Effect, EffectId};
use crate::core::input::EffectResult;
use crossbeam_channel::{Receiver, Sender, TryRecvError, unbounded};
use std::sync::Arc;

pub struct Worker {
    jobs: Sender<(EffectId, Effect)>,
    results: Receiver<(EffectId, EffectResult)>,
}

impl Worker {
    /// Start the thread (after signals are blocked: it inherits the mask).
    pub fn start(confine: Confinement, waker: Arc<mio::Waker>) -> Result<Worker> {
        let (jobs, job_rx) = unbounded::<(EffectId, Effect)>();
        let (result_tx, results) = unbounded();
        std::thread::Builder::new()
            .name("nodeboot-worker".into())
            .spawn(move || {
                for (id, effect) in job_rx {
                    // With `panic = "abort"` (release) a panic ends the process anyway;
                    // elsewhere the effect is answered instead of left pending forever.
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        super::effects::run_blocking(&effect, &confine)
                    }))
                    .unwrap_or_else(|_| Err("the effect panicked on the worker thread".into()));
                    if result_tx.send((id, result)).is_err() {
                        return;
                    }
                    let _ = waker.wake();
                }
            })
            .map_err(|source| WorldError::Worker { source })?;
        Ok(Worker { jobs, results })
    }

    pub fn submit(&self, id: EffectId, effect: Effect) -> std::result::Result<(), String> {
        self.jobs
            .send((id, effect))
            .map_err(|_| "worker thread is gone".to_owned())
    }

    /// Every result ready now.
    pub fn results(&self) -> Vec<(EffectId, EffectResult)> {
        let mut out = Vec::new();
        loop {
            match self.results.try_recv() {
                Ok(r) => out.push(r),
                Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => return out,
            }
        }
    }
}
