//! nodeboot: the boot reactor of a stateless Linux node.
//!
//! The crate is split along the purity line (see `docs/ARCHITECTURE.md`):
//! - [`core`]: the reactor, a pure state machine: `handle(now, input)` → actions and
//!   log records. No syscalls, no clock reads.
//! - [`wire`]: parsers for kernel formats (uevents, rtnetlink, partition tables,
//!   superblocks). No IO, no state.
//! - [`world`]: the only module that makes syscalls: the mio loop that feeds the core
//!   and executes its actions.
//! - [`trace`]: the journal of inputs and the replay of it under a virtual clock.
//! - [`rules`]: the policy files, validated, with kernel command-line overrides.
//! - [`log`]: the log stream (slog), JSON lines and a human rendering.
//! - [`ops`]: the operators' tools on the log stream (status, plot, replay, sinks).
//!
//! The command line is the binary's (src/main.rs, src/cli): every library function
//! takes typed options, none reads argv.

// PID 1 never panics: the runtime code gets the restriction lints (here rather than in
// Cargo.toml's `[lints]`, which would reach the integration tests and benches too;
// `#[cfg(test)]` code is exempt through clippy.toml's `allow-*-in-tests`).
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::exit
)]

pub mod core;
pub mod log;
pub mod ops;
pub mod rules;
pub mod time;
pub mod trace;
pub mod world;

/// The parsers live in their own crate (`crates/wire`), below everything else.
pub use nodeboot_wire as wire;

/// The version reported in `boot.start`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
