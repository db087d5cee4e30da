//! The prepare's side of filesystem availability (issue 12): a mount step is not sent
//! until the reactor said the kernel has btrfs ([`fsready`](crate::core::fsready)
//! decides how: `/proc/filesystems`, the preload, or a load of its own). The step
//! waits with nothing in flight; its `ms` counts the wait. A mount that still answers
//! ENODEV (kind `NoDevice`: the filesystem type is not registered) is not a failed
//! cache: the prepare asks again, as a retry (the reactor then loads the module), and
//! sends the same mount once more. A second ENODEV fails the step as any error does.

use super::{Prepare, Step};
use crate::core::ctx::{Ctx, Note};
use crate::core::event::Event;
use crate::core::input::{EffectError, ErrorKind};
use crate::core::policy::CachePolicy;

/// The filesystem type of every mount the prepare makes.
pub const FSTYPE: &str = "btrfs";

#[derive(Debug, Default)]
pub(super) struct FsState {
    /// The reactor said the filesystem is available (or as available as it gets).
    ready: bool,
    /// Asked, not answered yet: the mount step waits.
    waiting: bool,
    /// A mount answered ENODEV once already.
    retried: bool,
}

fn is_mount(step: Step) -> bool {
    matches!(step, Step::MountPool | Step::MountCache | Step::MountLogs)
}

impl Prepare {
    /// Before a mount: ask for the filesystem unless it is known ready. True when the
    /// step must wait for [`Prepare::on_filesystem`].
    pub(super) fn waits_for_filesystem(&mut self, cx: &mut Ctx) -> bool {
        if !is_mount(self.step) || self.fs.ready {
            return false;
        }
        if !self.fs.waiting {
            self.fs.waiting = true;
            cx.note(Note::FilesystemNeeded {
                fstype: FSTYPE.into(),
                retry: self.fs.retried,
            });
        }
        true
    }

    /// The reactor made the filesystem available (or found it cannot): send the
    /// mount the step waited with.
    pub fn on_filesystem(&mut self, cx: &mut Ctx, policy: &CachePolicy, fstype: &str) {
        if fstype != FSTYPE || !self.fs.waiting {
            return;
        }
        self.fs.waiting = false;
        self.fs.ready = true;
        if self.failed.is_none() && self.in_flight.is_none() && is_mount(self.step) {
            self.request(cx, policy);
        }
    }

    /// A mount step failed with `error`: if it is the first ENODEV, log it, forget
    /// that the filesystem was ready and ask again as a retry. True when handled so.
    pub(super) fn retry_without_filesystem(&mut self, cx: &mut Ctx, error: &EffectError) -> bool {
        if !is_mount(self.step) || !error.is(ErrorKind::NoDevice) || self.fs.retried {
            return false;
        }
        self.fs.retried = true;
        self.fs.ready = false;
        cx.log(Event::FsMissing {
            fstype: FSTYPE.into(),
            step: self.step.name().into(),
            error: error.message.clone(),
        });
        // Nothing in flight now: the retry's mount goes out once the reactor answers.
        self.waits_for_filesystem(cx)
    }
}
