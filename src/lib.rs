//! nodeboot: the boot reactor of a stateless Linux node.
//!
//! This crate is the node: everything that makes syscalls, over the pure crates of
//! the workspace (see `docs/ARCHITECTURE.md`):
//! - [`world`]: the only module that makes syscalls: the mio loop that feeds the core
//!   and executes its actions; PID 1's duties.
//! - [`log`]: the log stream (slog), JSON lines and a human rendering, and its sinks.
//! - [`ops`]: the operators' tools on the log stream (status, replay, sinks; the SVG
//!   plot with the `tools` feature).
//! - re-exported from `nodeboot-core` (crates/core, pure): [`core`] (the reactor),
//!   [`time`], [`rules`], [`trace`]; from `nodeboot-wire` (crates/wire): [`wire`].
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

pub mod log;
pub mod ops;
pub mod world;

// The pure crates below the node, re-exported under the names the node's modules
// and the tests use (`nodeboot::core::Reactor`, `nodeboot::wire::gpt`…).
pub use nodeboot_core::{VERSION, core, rules, time, trace};
pub use nodeboot_wire as wire;
