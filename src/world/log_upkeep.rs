//! Once per loop turn, the log stream's own upkeep: `log.dropped` for a sink that
//! writes again after dropping lines, `child.suppressed` for a window of a child's
//! output that is over, and log socket clients that stayed idle too long.

use super::{Core, World};

impl<C: Core> World<C> {
    pub(super) fn log_sink_upkeep(&mut self) {
        for event in self.logs.drop_reports(self.now) {
            self.log(event);
        }
        for event in self.children.suppressed_summaries(self.now) {
            self.log(event);
        }
        let news = self
            .logs
            .expire_idle_clients(self.poll.registry(), self.now);
        self.socket_news(news);
    }
}
