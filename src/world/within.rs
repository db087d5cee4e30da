//! A blocking call the loop (or shutdown) must not wait on forever: run it on a thread
//! of its own and wait for its answer at most a deadline. A call that misses it is
//! left behind on its thread (a syscall stuck in the kernel cannot be interrupted).

use std::time::Duration;

/// Why [`within`] has no answer.
#[derive(Debug)]
pub enum Missed {
    /// No thread could be started for the call (it never ran).
    NoThread(std::io::Error),
    /// The call did not answer within the deadline.
    Late,
}

/// Run `call` on a thread named `name` and wait at most `deadline` for its result.
pub fn within<T: Send + 'static>(
    name: &str,
    deadline: Duration,
    call: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Missed> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _ = tx.send(call());
        })
        .map_err(Missed::NoThread)?;
    rx.recv_timeout(deadline).map_err(|_| Missed::Late)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_in_time_comes_back_and_a_late_one_is_left_behind() {
        assert!(matches!(
            within("t-fast", Duration::from_secs(5), || 7),
            Ok(7)
        ));
        let late = within("t-slow", Duration::from_millis(10), || {
            std::thread::sleep(Duration::from_millis(500));
        });
        assert!(matches!(late, Err(Missed::Late)));
    }
}
