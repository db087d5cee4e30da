//! `CopyTree`: copy the contents of one directory into another (the early tmpfs logs
//! into the new log subvolume). Files, directories and symlinks, keeping modes;
//! symlinks are copied as links, never followed. Other file types are skipped.

use super::block;
use super::error::{Failure, Result};
use crate::world::confine::Confinement;
use std::fs;
use std::path::Path;

/// Returns how many entries were copied. A missing `from` copies nothing.
pub fn copy_tree(confine: &Confinement, from: &str, to: &str) -> Result<u64> {
    block::check_node_path(from)?;
    block::check_node_path(to)?;
    let src = confine.path(from);
    let dst = confine.path(to);
    if fs::symlink_metadata(&src).is_err() {
        return Ok(0);
    }
    if dst.starts_with(&src) {
        return Err(Failure::Invalid(format!(
            "{} is inside {}",
            dst.display(),
            src.display()
        )));
    }
    fs::create_dir_all(&dst).map_err(|e| Failure::io("mkdir", &dst, e))?;
    block::ensure_under_root(confine, &dst)?;
    copy_dir(&src, &dst)
}

fn copy_dir(src: &Path, dst: &Path) -> Result<u64> {
    let mut copied = 0;
    let entries = fs::read_dir(src).map_err(|e| Failure::io("readdir", src, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Failure::io("readdir", src, e))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let meta = fs::symlink_metadata(&from).map_err(|e| Failure::io("stat", &from, e))?;
        let kind = meta.file_type();
        // Never write through a symlink already at the destination: replace it.
        if fs::symlink_metadata(&to).is_ok_and(|m| m.file_type().is_symlink()) {
            fs::remove_file(&to).map_err(|e| Failure::io("unlink", &to, e))?;
        }
        if kind.is_dir() {
            match fs::create_dir(&to) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Failure::io("mkdir", &to, e)),
            }
            copied += 1 + copy_dir(&from, &to)?;
            fs::set_permissions(&to, meta.permissions())
                .map_err(|e| Failure::io("chmod", &to, e))?;
        } else if kind.is_file() {
            // fs::copy keeps the permission bits.
            fs::copy(&from, &to).map_err(|e| Failure::io("copy", &from, e))?;
            copied += 1;
        } else if kind.is_symlink() {
            let link = fs::read_link(&from).map_err(|e| Failure::io("readlink", &from, e))?;
            std::os::unix::fs::symlink(&link, &to).map_err(|e| Failure::io("symlink", &to, e))?;
            copied += 1;
        }
    }
    Ok(copied)
}
