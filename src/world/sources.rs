//! Turning what the sources report into inputs: the start (coldplug scan, first
//! rtnetlink dump) and one handler per ready source, each draining it until it
//! would block.

use super::children::ChildNews;
use super::children::Children;
use super::error::WorldError;
use super::logsock::LogSocket;
use super::logsock::SocketNews;
use super::probes::Probes;
use super::ratelimit::Suppressed;
use super::rtnl_sock::{Dump, RtnlEvent};
use super::signals::{self, Caught};
use super::uevent_sock::Received;
use super::{Core, LOG_LISTENER, RTNL, SIGNALS, UEVENT, WAKER, World, clock, sysfs};
use crate::core::event::Event;
use crate::core::input::{Input, SignalKind};
use mio::Token;

impl<C: Core> World<C> {
    /// `Input::Start`, the setup errors, the coldplug scan, the first rtnetlink dump.
    pub(super) fn start(&mut self) -> Result<(), WorldError> {
        self.tick()?;
        let wall_us = clock::wall_unix_micros();
        self.logs
            .set_wall_base(wall_us.saturating_sub(self.now.as_micros()));
        self.feed(Input::Start {
            wall_clock_unix: wall_us / 1_000_000,
            mode: self.settings.mode,
            argv: self.settings.argv.clone(),
        });
        for e in std::mem::take(&mut self.setup_errors) {
            self.world_error(e);
        }
        for event in std::mem::take(&mut self.settings.notes) {
            self.log(event);
        }
        self.coldplug();
        if let Some(r) = &mut self.rtnl
            && let Err(e) = r.start_dump(Dump::Links)
        {
            self.world_error(e);
        }
        Ok(())
    }

    /// Subscribe-then-scan: the uevent socket is open; read the seqnum cut-off, then
    /// report every device present as an `add` uevent, then `ColdplugDone`.
    fn coldplug(&mut self) {
        let sys = self.settings.confine.sys_dir.clone();
        match sysfs::read_seqnum(&sys) {
            Ok(n) => self.seqnum_cutoff = n,
            Err(e) => self.world_error(e),
        }
        let (mut devices, errors) = sysfs::scan_classes(&sys);
        if self.settings.policy.modprobe {
            let (with_alias, more_errors) = sysfs::scan_modaliases(&sys);
            devices.extend(with_alias);
            self.log_errors(more_errors);
        }
        self.log_errors(errors);
        for uevent in devices {
            self.feed(Input::Uevent { uevent });
        }
        self.feed(Input::ColdplugDone);
    }

    fn log_errors(&mut self, errors: Vec<WorldError>) {
        for e in errors {
            self.world_error(e);
        }
    }

    pub(super) fn dispatch(&mut self, token: Token) {
        match token {
            UEVENT => self.on_uevents(),
            RTNL => self.on_rtnl(),
            SIGNALS => self.on_signals(),
            WAKER => self.on_worker(),
            LOG_LISTENER => {
                let news = self.logs.on_socket_accept(self.poll.registry(), self.now);
                self.socket_news(news);
            }
            t if Children::owns(t) => {
                let news = self.children.on_readable(self.poll.registry(), t, self.now);
                self.child_news(news);
            }
            t if Probes::owns(t) => {
                if let Some((id, result)) = self.probes.on_ready(self.poll.registry(), t) {
                    self.feed(Input::EffectDone { id, result });
                }
            }
            t if LogSocket::owns(t) => {
                let news = self.logs.on_socket_client(self.poll.registry(), t);
                self.socket_news(news);
            }
            _ => {} // sporadic events happen
        }
    }

    fn on_uevents(&mut self) {
        loop {
            let Some(sock) = &mut self.uevents else {
                return;
            };
            match sock.recv() {
                Ok(None) => return,
                Ok(Some(Received::Uevent(uevent))) => {
                    if uevent.seqnum.is_some_and(|s| s <= self.seqnum_cutoff) {
                        continue; // already reported by the scan
                    }
                    self.feed(Input::Uevent { uevent });
                }
                Ok(Some(Received::Dropped { reason, sender })) => {
                    self.log_dropped(Event::UeventDropped { reason, sender });
                }
                Ok(Some(Received::Overflow)) => {
                    self.log(Event::UeventOverflow {});
                    self.resync();
                }
                Err(e) => {
                    self.world_error(e);
                    return;
                }
            }
        }
    }

    /// `uevent.dropped` / `rtnl.dropped`, within their rate limit (`ratelimit`): the
    /// rest is counted and reported as one `log.suppressed` per window.
    fn log_dropped(&mut self, event: Event) {
        let (limit, name) = match &event {
            Event::RtnlDropped { .. } => (&mut self.rtnl_drops, "rtnl.dropped"),
            _ => (&mut self.uevent_drops, "uevent.dropped"),
        };
        let admit = limit.admit(self.now);
        if let Some(s) = admit.summary {
            self.log(suppressed(name, s));
        }
        if admit.log {
            self.log(event);
        }
    }

    /// The summaries owed by now (a window that suppressed lines is over).
    pub(super) fn flush_suppressed(&mut self) {
        if let Some(s) = self.uevent_drops.flush(self.now) {
            self.log(suppressed("uevent.dropped", s));
        }
        if let Some(s) = self.rtnl_drops.flush(self.now) {
            self.log(suppressed("rtnl.dropped", s));
        }
    }

    /// Uevents were lost: a fresh scan of every block and net device for the core.
    fn resync(&mut self) {
        let sys = self.settings.confine.sys_dir.clone();
        match sysfs::read_seqnum(&sys) {
            Ok(n) => self.seqnum_cutoff = self.seqnum_cutoff.max(n),
            Err(e) => self.world_error(e),
        }
        let (devices, errors) = sysfs::scan_classes(&sys);
        self.log_errors(errors);
        self.feed(Input::Resync { devices });
    }

    fn on_rtnl(&mut self) {
        loop {
            let Some(sock) = &mut self.rtnl else { return };
            let batch = match sock.recv() {
                Ok(None) => return,
                Ok(Some(b)) => b,
                Err(e) => {
                    self.world_error(e);
                    return;
                }
            };
            for ev in batch {
                self.on_rtnl_event(ev);
            }
        }
    }

    fn on_rtnl_event(&mut self, ev: RtnlEvent) {
        match ev {
            RtnlEvent::Link(link) => self.feed(Input::Link { link }),
            RtnlEvent::LinkRemoved { index, name } => self.feed(Input::LinkRemoved { index, name }),
            RtnlEvent::Address {
                index,
                address,
                added,
            } => self.feed(Input::Address {
                index,
                address,
                added,
            }),
            RtnlEvent::DumpDone { seq } => self.on_dump_done(seq),
            RtnlEvent::Ack { seq, error } => {
                if let Some(id) = self.link_up_acks.remove(&seq) {
                    let result = match error {
                        None => Ok(crate::core::input::EffectOutput::Done),
                        Some(e) => {
                            let errno = e.saturating_neg();
                            Err(crate::core::input::EffectError::new(
                                crate::core::input::ErrorKind::from_errno(errno),
                                format!(
                                    "RTM_SETLINK: {}",
                                    std::io::Error::from_raw_os_error(errno)
                                ),
                            ))
                        }
                    };
                    self.feed(Input::EffectDone { id, result });
                } else if let (Some(e), Some(r)) = (error, &mut self.rtnl) {
                    // A dump request itself failed: log it, let the next overflow retry.
                    if r.dumping.is_some_and(|(_, s)| s == seq) {
                        r.dumping = None;
                        self.world_error(WorldError::Netlink {
                            what: "RTM_GET* dump",
                            socket: "rtnetlink",
                            source: std::io::Error::from_raw_os_error(e.saturating_neg()),
                        });
                    }
                }
            }
            RtnlEvent::Forged { sender } => self.log_dropped(Event::RtnlDropped {
                reason: "sender is not the kernel".into(),
                sender,
            }),
            RtnlEvent::Overflow => {
                self.world_error(WorldError::Recv {
                    socket: "rtnetlink",
                    source: std::io::Error::from_raw_os_error(libc::ENOBUFS),
                });
                match self.rtnl_dump_seq() {
                    Some(_) => self.redump = true,
                    None => self.start_dump(Dump::Links),
                }
            }
        }
    }

    fn rtnl_dump_seq(&self) -> Option<u32> {
        self.rtnl.as_ref().and_then(|r| r.dumping).map(|(_, s)| s)
    }

    /// Links are dumped first, then addresses; a redump asked for meanwhile follows.
    fn on_dump_done(&mut self, seq: u32) {
        let Some(r) = &mut self.rtnl else { return };
        let finished = match r.dumping {
            Some((which, s)) if s == seq => which,
            _ => return,
        };
        r.dumping = None;
        match finished {
            Dump::Links => self.start_dump(Dump::Addresses),
            Dump::Addresses if self.redump => {
                self.redump = false;
                self.start_dump(Dump::Links);
            }
            Dump::Addresses => {}
        }
    }

    fn start_dump(&mut self, which: Dump) {
        if let Some(r) = &mut self.rtnl
            && let Err(e) = r.start_dump(which)
        {
            self.world_error(e);
        }
    }

    fn on_signals(&mut self) {
        let Some(s) = &mut self.signals else { return };
        let caught = match s.drain(self.settings.pid1) {
            Ok(c) => c,
            Err(e) => {
                self.world_error(e);
                return;
            }
        };
        let mut reap = false;
        for c in caught {
            match c {
                Caught::Child => reap = true,
                Caught::Request(signal) => self.feed(Input::Signal { signal }),
                Caught::Ignored(name) => self.log(Event::SignalIgnored {
                    signal: name.into(),
                }),
            }
        }
        if reap {
            self.reap();
        }
    }

    /// Reap every exited child; report ours.
    fn reap(&mut self) {
        for (pid, status) in signals::reap(self.settings.pid1, &self.children.pids()) {
            if let Some(news) = self
                .children
                .on_reaped(self.poll.registry(), pid, status, self.now)
            {
                self.child_news(news);
            }
        }
    }

    fn on_worker(&mut self) {
        let results = match &mut self.worker {
            Some(w) => w.results(),
            None => Vec::new(),
        };
        for (id, result) in results {
            self.feed(Input::EffectDone { id, result });
        }
    }

    fn child_news(&mut self, news: Vec<ChildNews>) {
        for n in news {
            let input = match n {
                ChildNews::Output { id, stream, line } => Input::ChildOutput { id, stream, line },
                ChildNews::Exited { id, status } => Input::ChildExited { id, status },
                ChildNews::EffectDone { id, result } => {
                    // A resolved modalias load names its modules (world::modules).
                    let result = self.modules.on_answer(id, result);
                    Input::EffectDone { id, result }
                }
                ChildNews::Suppressed(event) => {
                    self.log(event);
                    continue;
                }
            };
            self.feed(input);
        }
    }

    pub(super) fn socket_news(&mut self, news: Vec<SocketNews>) {
        for n in news {
            let error = match n {
                SocketNews::StatusRequested => {
                    self.feed(Input::Signal {
                        signal: SignalKind::Status,
                    });
                    continue;
                }
                SocketNews::Refused { uid } => {
                    format!("log socket: refused a client with uid {uid} (SO_PEERCRED)")
                }
                SocketNews::Dropped { reason } => format!("log socket: dropped a client: {reason}"),
                SocketNews::Full { refused, total } => format!(
                    "log socket: refused {refused} client(s) past the limit of connected clients ({total} since the start)"
                ),
            };
            self.log(Event::WorldError { error });
        }
    }
}

fn suppressed(record: &str, s: Suppressed) -> Event {
    Event::LogSuppressed {
        record: record.into(),
        suppressed: s.count,
        window_ms: s.window_ms,
    }
}
