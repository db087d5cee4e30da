//! The single clock read of the world: `CLOCK_BOOTTIME` (monotonic, counts suspend),
//! read once per loop turn and handed to the core as its `now`.

use super::error::{Result, WorldError};
use crate::time::Instant;
use nix::time::{ClockId, clock_gettime};

/// Microseconds since boot.
pub fn now() -> Result<Instant> {
    let ts =
        clock_gettime(ClockId::CLOCK_BOOTTIME).map_err(|source| WorldError::Clock { source })?;
    let secs = u64::try_from(ts.tv_sec()).unwrap_or(0);
    let micros = u64::try_from(ts.tv_nsec()).unwrap_or(0) / 1000;
    Ok(Instant::from_micros(
        secs.saturating_mul(1_000_000).saturating_add(micros),
    ))
}

/// Wall clock, seconds since the epoch (only for `Input::Start` and log timestamps).
pub fn wall_unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
