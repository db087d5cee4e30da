//! sha256 of files and byte ranges (through `sha256sum`, no crate needed).

use super::sh;
use std::path::Path;
use std::process::{Command, Stdio};

/// sha256 of a byte range of a file, as hex.
pub fn sha256_range(path: &Path, offset: u64, len: u64) -> String {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::File::open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut buf = vec![0u8; len as usize];
    f.read_exact(&mut buf).unwrap();
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&buf).unwrap();
    let out = child.wait_with_output().unwrap();
    first_word(&String::from_utf8_lossy(&out.stdout))
}

/// sha256 of a whole file, as hex.
pub fn sha256_file(path: &Path) -> String {
    first_word(&sh(&["sha256sum", path.to_str().unwrap()]))
}

fn first_word(s: &str) -> String {
    s.split_whitespace().next().unwrap().to_string()
}
