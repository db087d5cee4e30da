//! `nodeboot status`: the node's state folded from its log stream, as a table (Cache,
//! NICs, Gate, Services) or as JSON. [`render_table`] is pure; free space on the
//! cache mount is the one thing read from the host (statvfs), and only when that
//! path is a mount point here.

use super::input::{InputError, Source};
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

/// What `nodeboot status` reads and prints.
#[derive(Clone, Debug)]
pub struct StatusOptions {
    pub source: Source,
    /// The node's root: the cache mount is looked for under it.
    pub root: PathBuf,
    /// The cache mount to measure (default: `ROOT/`[`CACHE_MOUNT`]).
    pub mount: Option<PathBuf>,
    /// JSON rather than the table.
    pub json: bool,
}

/// `nodeboot status`: read and fold the stream; the text to print.
pub fn status(opts: &StatusOptions) -> Result<String, InputError> {
    let text = opts.source.read()?;
    let state = NodeState::from_records(&parse_stream(&text));
    let mount = opts
        .mount
        .clone()
        .unwrap_or_else(|| opts.root.join(CACHE_MOUNT));
    let space = if state.cache.state == CacheState::Ready {
        measure(&mount)
    } else {
        None
    };
    let mount_text = space.map(|_| mount.display().to_string());
    Ok(if opts.json {
        render_json(&state, mount_text.as_deref(), space)
    } else {
        render_table(&state, mount_text.as_deref(), space)
    })
}
