//! nodeboot's pure core, below the node (see `docs/ARCHITECTURE.md`):
//! - [`core`]: the reactor, a pure state machine: `handle(now, input)` → actions and
//!   log records. No syscalls, no clock reads.
//! - [`time`]: the virtual clock's instants and durations.
//! - [`rules`]: the policy files, validated, with kernel command-line overrides.
//! - [`trace`]: the journal of inputs, its replay under a virtual clock, and (feature
//!   `sim`) the simulated world scenarios run against.
//!
//! This crate cannot see mio, nix, netlink sockets or the node's log sinks: the
//! compiler keeps the core pure. The parsers below it are [`wire`].

// PID 1 never panics: the runtime code gets the restriction lints (crate attributes,
// not `[lints]`, which would reach integration tests and benches too; `#[cfg(test)]`
// code is exempt through clippy.toml's `allow-*-in-tests`).
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::exit
)]

pub mod core;
pub mod rules;
pub mod time;
pub mod trace;

pub use nodeboot_wire as wire;

/// The version reported in `boot.start` and written in trace headers.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
