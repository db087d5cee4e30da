//! The one support module of the integration tests (`tests/*.rs` and the harness-less
//! `tests/world_loop/`), by topic:
//! - [`root`]: the root/CI rule (a root test skips when it cannot run, and fails
//!   instead under `CI=true`);
//! - [`cmd`]: running tools; [`temp`]: unique `nb…` names and temporary directories;
//!   [`hash`]: checksums of files and byte ranges;
//! - [`disk`]: loop devices and loop disks on sparse images; [`mount`]: mount guards
//!   and mount-point checks;
//! - [`gate`]: the world's effects as the loop carries them out (the gate, then
//!   `run_blocking`);
//! - [`net`]: network namespaces, veth cables, dnsmasq, a TCP listener;
//! - [`run`]: `nodeboot run` in a namespace with its JSON stream read line by line
//!   (the `real_*` tests); [`node`]: `nodeboot` as an operator starts it, with any
//!   arguments and wrappers (the `harden_live*` tests);
//! - [`core_harness`]: the pure core driven by a scripted world on a virtual clock;
//!   [`images`] and [`md`]: disk images made by the real tools; [`oracle_disks`]:
//!   those images as loop disks under a live run, and what it decided about them.
//!
//! Every guard undoes its setup in `Drop` (also when the test fails) and touches only
//! what it created: loop devices it attached, namespaces named `nb…` unique to the test,
//! processes inside those namespaces.

pub mod cmd;
pub mod core_harness;
pub mod disk;
pub mod gate;
pub mod hash;
pub mod images;
pub mod md;
pub mod mount;
pub mod net;
pub mod node;
pub mod oracle_disks;
pub mod root;
pub mod run;
pub mod temp;

// The names most tests use, at the top. A test binary uses only some of them.
#[allow(unused_imports)]
pub use cmd::{capture, sh, sh_quiet, try_output, try_run, try_sh};
#[allow(unused_imports)]
pub use disk::{Loop, LoopDisk};
#[allow(unused_imports)]
pub use hash::{sha256_file, sha256_range};
#[allow(unused_imports)]
pub use mount::{MountGuard, is_mount_point, wait_for};
#[allow(unused_imports)]
pub use net::{Dnsmasq, Lan, Listener, Netns, Veth};
#[allow(unused_imports)]
pub use root::{ci, command_exists, is_root, require_root};
#[allow(unused_imports)]
pub use run::{NodebootRun, RunConfig};
#[allow(unused_imports)]
pub use temp::{TempDir, unique};
