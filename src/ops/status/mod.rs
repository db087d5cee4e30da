//! `nodeboot status [--json] [--from FILE|-] [--socket PATH] [--root DIR]
//! [--mount PATH]`: the node's state folded from its log stream, as a table (Cache,
//! NICs, Gate, Services) or as JSON. [`render_table`] is pure; free space on the
//! cache mount is the one thing read from the host (statvfs), and only when that
//! path is a mount point here.

use super::input::Source;
use super::record::parse_stream;
use super::state::{CacheState, NodeState};

mod table;
#[cfg(test)]
mod tests;

use serde::Serialize;
use std::path::{Path, PathBuf};
pub use table::render_table;

/// Where the cache filesystem is mounted (BRIEF §1), under `--root`.
pub const CACHE_MOUNT: &str = "mnt/storagepool/sp_zos-cache";

/// Space on the cache filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Space {
    pub free_bytes: u64,
    pub total_bytes: u64,
}

/// What `--json` prints: the folded state plus what was measured here.
#[derive(Serialize)]
struct StatusJson<'a> {
    #[serde(flatten)]
    state: &'a NodeState,
    cache_mount: Option<String>,
    cache_space: Option<Space>,
}

/// `--json`: the state plus the measured mount and space.
pub fn render_json(s: &NodeState, mount: Option<&str>, space: Option<Space>) -> String {
    let doc = StatusJson {
        state: s,
        cache_mount: mount.map(str::to_owned),
        cache_space: space,
    };
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Free space of `path` if it is a mount point on this host (its device differs from
/// its parent's, or it is `/`): never the space of whatever filesystem lies beneath.
pub fn measure(path: &Path) -> Option<Space> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let is_mount = match path.parent() {
        Some(parent) => std::fs::metadata(parent).ok()?.dev() != meta.dev(),
        None => true,
    };
    if !is_mount {
        return None;
    }
    let st = nix::sys::statvfs::statvfs(path).ok()?;
    let frag = st.fragment_size();
    Some(Space {
        free_bytes: st.blocks_available().saturating_mul(frag),
        total_bytes: st.blocks().saturating_mul(frag),
    })
}

const STATUS_USAGE: &str =
    "usage: nodeboot status [--json] [--from FILE|-] [--socket PATH] [--root DIR] [--mount PATH]
  Reads the log stream (the live socket's backlog by default, or --from a log file or
  `replay --json` output; - is stdin), folds it and prints the node's state.";

/// `nodeboot status`.
pub fn status_main(args: &[String]) -> i32 {
    const VALUES: [&str; 4] = ["from", "socket", "root", "mount"];
    const KNOWN: [&str; 7] = ["from", "socket", "root", "mount", "json", "h", "help"];
    let args = match crate::args::Args::parse(args, &VALUES) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("nodeboot status: {e}\n{STATUS_USAGE}");
            return 2;
        }
    };
    if args.has("h") || args.has("help") {
        println!("{STATUS_USAGE}");
        return 0;
    }
    if let Some(flag) = args.unknown(&KNOWN) {
        eprintln!("nodeboot status: unknown flag --{flag}\n{STATUS_USAGE}");
        return 2;
    }
    if !args.positional.is_empty() {
        eprintln!(
            "nodeboot status: unexpected {:?}\n{STATUS_USAGE}",
            args.positional
        );
        return 2;
    }
    let root = PathBuf::from(args.value("root").unwrap_or("/"));
    let source = Source::pick(args.value("from"), args.value("socket"), &root);
    let text = match source.read() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("nodeboot status: {e}");
            return 1;
        }
    };
    let state = NodeState::from_records(&parse_stream(&text));
    let mount = args
        .value("mount")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(CACHE_MOUNT));
    let space = if state.cache.state == CacheState::Ready {
        measure(&mount)
    } else {
        None
    };
    let mount_text = space.map(|_| mount.display().to_string());
    let text = if args.has("json") {
        render_json(&state, mount_text.as_deref(), space)
    } else {
        render_table(&state, mount_text.as_deref(), space)
    };
    println!("{}", text.trim_end());
    0
}
