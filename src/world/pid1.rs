//! The loop's PID-1 duties: arming and petting the hardware watchdog (looked for
//! during the first [`watchdog::LOOK_FOR`] of the boot, as its driver may be a
//! module), the `nodeboot.debug.hang_after` fault injection, and disarming the
//! watchdog when the loop fails (PID 1 then falls back to `fallback`).

use super::{Core, World, watchdog};
use crate::core::event::Event;

impl<C: Core> World<C> {
    /// PID 1 only (`Settings::watchdog` is set by `init_main` alone, and checked
    /// against `pid1` again here): open `/dev/watchdog`, log `watchdog.armed`.
    pub(super) fn arm_watchdog(&mut self) {
        if let Some(after) = self.settings.hang_after
            && self.settings.pid1
        {
            self.hang_at = Some(self.now + after);
        }
        if let Some(after) = self.settings.fail_after
            && self.settings.pid1
        {
            self.fail_at = Some(self.now + after);
        }
        if self.settings.pid1 && self.settings.watchdog.is_some() {
            self.watchdog_retry = Some((self.now, self.now + watchdog::LOOK_FOR));
            self.open_watchdog();
        }
    }

    /// One attempt to open the watchdog; none yet: again in [`watchdog::RETRY`].
    fn open_watchdog(&mut self) {
        let Some(timeout) = self.settings.watchdog.filter(|_| self.settings.pid1) else {
            return;
        };
        let Some((_, until)) = self.watchdog_retry.take() else {
            return;
        };
        match watchdog::Watchdog::open(watchdog::DEVICE, timeout, self.now) {
            Ok(Some(dog)) => {
                self.log(Event::WatchdogArmed {
                    device: dog.device.clone(),
                    timeout_s: dog.timeout.as_secs(),
                    set: dog.timeout_set,
                });
                self.watchdog = Some(dog);
            }
            Ok(None) if self.now < until => {
                self.watchdog_retry = Some((self.now + watchdog::RETRY, until));
            }
            Ok(None) => {}
            Err(error) => self.log(Event::WorldError { error }),
        }
    }

    /// Pet the watchdog when due; then, under `nodeboot.debug.hang_after`, hang.
    pub(super) fn pet_watchdog(&mut self) {
        if self.watchdog_retry.is_some_and(|(at, _)| self.now >= at) {
            self.open_watchdog();
        }
        if let Some(dog) = &mut self.watchdog
            && let Err(error) = dog.pet_if_due(self.now)
        {
            self.log(Event::WorldError { error });
        }
        if let Some(at) = self.hang_at
            && self.now >= at
        {
            self.log(Event::DebugHang {
                after_s: self.settings.hang_after.unwrap_or_default().as_secs(),
            });
            // Fault injection: the loop stops here for good, as a loop stuck in a
            // syscall would; only the watchdog (or a power cycle) gets the node back.
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
    }

    /// `nodeboot.debug.fail_after`: the loop ends with an error now, as a loop whose
    /// `epoll_wait` failed would (PID 1 then falls back).
    pub(super) fn injected_failure(&mut self) -> Result<(), super::error::WorldError> {
        match (self.fail_at, self.settings.fail_after) {
            (Some(at), Some(after)) if self.now >= at => Err(super::error::WorldError::Injected {
                after_s: after.as_secs(),
            }),
            _ => Ok(()),
        }
    }

    /// The loop failed (PID 1 falls back to reaping): the watchdog is disarmed, so
    /// the node stays up for its fallback (reboot on request, emergency shell)
    /// rather than being reset while an operator looks at it.
    pub fn after_failure(&mut self) {
        if let Some(dog) = self.watchdog.take()
            && let Err(e) = dog.disarm()
        {
            eprintln!("nodeboot: {e}");
        }
    }
}
