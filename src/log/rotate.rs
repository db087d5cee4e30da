//! A size-capped log file with rotation: `nodeboot.log`, then `nodeboot.log.1` (the
//! newest old file) … `nodeboot.log.N`. Before a line would take the file past the
//! cap, the files shift up by one and the oldest is removed, so the files on disk
//! never exceed `(keep + 1) × max_bytes`. A line longer than the cap is dropped.
//!
//! It never panics and never stops the caller: a failed open, rename or write (full
//! disk, read-only mount) drops the line, counts it, and the next line tries again
//! (reopening the file). Lines are written whole, one `write` each.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The default cap of one file, and the default number of old files kept.
pub const DEFAULT_MAX_BYTES: u64 = 8 * 1024 * 1024;
pub const DEFAULT_KEEP: usize = 5;

#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: Option<File>,
    /// Bytes in the current file (as far as we know).
    size: u64,
    dropped: u64,
    rotations: u64,
}

/// `path` with `.n` appended (`nodeboot.log.3`).
pub fn rotated_path(path: &Path, n: usize) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl RotatingFile {
    /// A sink writing `path`, rotated past `max_bytes` (at least 1), keeping `keep`
    /// old files (0: the file is started afresh instead). Opens lazily.
    pub fn new(path: impl Into<PathBuf>, max_bytes: u64, keep: usize) -> RotatingFile {
        RotatingFile {
            path: path.into(),
            max_bytes: max_bytes.max(1),
            keep,
            file: None,
            size: 0,
            dropped: 0,
            rotations: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lines dropped because they could not be written (or were over the cap).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn rotations(&self) -> u64 {
        self.rotations
    }

    /// Close the file; the next line opens `path` (e.g. after `/var/log` moved to the
    /// cache, or an outside tool rotated it).
    pub fn reopen(&mut self, path: Option<PathBuf>) {
        self.file = None;
        if let Some(p) = path {
            self.path = p;
        }
    }

    fn open(&mut self) -> io::Result<()> {
        if self.file.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o640)
                .open(&self.path)?;
            self.size = file.metadata()?.len();
            self.file = Some(file);
        }
        Ok(())
    }

    /// Shift `path.i` → `path.i+1` (the oldest falls off), `path` → `path.1`.
    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        if self.keep == 0 {
            File::create(&self.path)?;
        } else {
            ignore_missing(std::fs::remove_file(rotated_path(&self.path, self.keep)))?;
            for i in (1..self.keep).rev() {
                ignore_missing(std::fs::rename(
                    rotated_path(&self.path, i),
                    rotated_path(&self.path, i + 1),
                ))?;
            }
            ignore_missing(std::fs::rename(&self.path, rotated_path(&self.path, 1)))?;
        }
        self.rotations += 1;
        self.open()
    }

    fn try_write(&mut self, line: &str) -> io::Result<()> {
        let len = line.len() as u64 + 1;
        if len > self.max_bytes {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "line longer than the log file cap",
            ));
        }
        self.open()?;
        if self.size.saturating_add(len) > self.max_bytes {
            self.rotate()?;
        }
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("log file not open"))?;
        file.write_all(&buf)?;
        self.size = self.size.saturating_add(len);
        Ok(())
    }

    /// Write one line (without its newline). On error the line is dropped and
    /// counted; the error is returned for the caller's own count.
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        let result = self.try_write(line);
        if result.is_err() {
            self.dropped += 1;
            // A partial write leaves the size unknown: re-read it on reopen.
            self.file = None;
        }
        result
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

/// On the log stream: `stream.add_sink(Format::Json, Level::Debug, Box::new(file))`.
impl super::Sink for RotatingFile {
    fn write_line(&mut self, line: &str) -> io::Result<()> {
        RotatingFile::write_line(self, line)
    }
    fn flush(&mut self) -> io::Result<()> {
        RotatingFile::flush(self)
    }
}

fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(name: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!("nb-rotate-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn files(dir: &Path) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn rotation_keeps_n_files_each_under_the_cap() {
        let dir = TempDir::new("keep");
        let path = dir.0.join("nodeboot.log");
        let mut sink = RotatingFile::new(&path, 100, 3);
        // 30 lines of 20 bytes (19 + newline): 5 per file, 6 files' worth.
        for i in 0..30 {
            sink.write_line(&format!("line {i:02} ............")[..19])
                .unwrap();
        }
        let names: Vec<String> = files(&dir.0).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "nodeboot.log",
                "nodeboot.log.1",
                "nodeboot.log.2",
                "nodeboot.log.3"
            ]
        );
        for (name, size) in files(&dir.0) {
            assert!(size <= 100, "{name} is {size} bytes");
        }
        // Newest lines in the live file, the ones before in .1, and so on.
        let live = std::fs::read_to_string(&path).unwrap();
        assert!(live.starts_with("line 25") && live.ends_with("line 29 ...........\n"));
        let one = std::fs::read_to_string(rotated_path(&path, 1)).unwrap();
        assert!(one.starts_with("line 20"));
        let three = std::fs::read_to_string(rotated_path(&path, 3)).unwrap();
        assert!(three.starts_with("line 10"));
        assert_eq!(sink.rotations(), 5);
        assert_eq!(sink.dropped(), 0);
    }

    #[test]
    fn an_existing_file_counts_towards_the_cap_and_keep_zero_starts_afresh() {
        let dir = TempDir::new("zero");
        let path = dir.0.join("nodeboot.log");
        std::fs::write(&path, "x".repeat(90)).unwrap();
        let mut sink = RotatingFile::new(&path, 100, 0);
        sink.write_line("0123456789abcdef").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "0123456789abcdef\n"
        );
        assert_eq!(files(&dir.0).len(), 1);
    }

    #[test]
    fn failures_drop_and_count_and_recover() {
        let dir = TempDir::new("fail");
        let path = dir.0.join("sub").join("nodeboot.log");
        let mut sink = RotatingFile::new(&path, 1000, 2);
        assert!(sink.write_line("no directory yet").is_err());
        assert!(sink.write_line(&"y".repeat(2000)).is_err(), "over the cap");
        assert_eq!(sink.dropped(), 2);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        sink.write_line("now it works").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "now it works\n");
        // Moved elsewhere (the cache's /var/log): the next line goes to the new path.
        let moved = dir.0.join("moved.log");
        sink.reopen(Some(moved.clone()));
        sink.write_line("after the move").unwrap();
        assert_eq!(std::fs::read_to_string(&moved).unwrap(), "after the move\n");
    }

    #[test]
    fn on_the_log_stream_records_land_in_the_file() {
        use crate::core::event::{Event, Level, Record};
        use crate::log::{Format, LogStream};
        let dir = TempDir::new("stream");
        let path = dir.0.join("nodeboot.log");
        let stream = LogStream::new(0);
        stream.add_sink(
            Format::Json,
            Level::Debug,
            Box::new(RotatingFile::new(&path, 4096, 1)),
        );
        for i in 0..100 {
            stream.emit(&Record {
                at: crate::time::Instant::from_millis(i),
                level: Level::Info,
                event: Event::NicCarrier {
                    nic: "eth0".into(),
                    up: i % 2 == 0,
                    unconfirmed_ms: None,
                },
            });
        }
        let live = std::fs::read_to_string(&path).unwrap();
        let old = std::fs::read_to_string(rotated_path(&path, 1)).unwrap();
        assert!(live.len() <= 4096 && old.len() <= 4096);
        let lines = live.lines().count() + old.lines().count();
        assert!(lines < 100, "older lines rotated away");
        assert!(live.lines().last().unwrap().contains("\"up\":false"));
        assert!(!rotated_path(&path, 2).exists());
        assert_eq!(stream.dropped(), 0);
    }

    /// A full disk: writes fail with ENOSPC, the sink drops and counts, no panic.
    #[test]
    fn a_full_device_drops_lines() {
        let Ok(full) = OpenOptions::new().append(true).open("/dev/full") else {
            return;
        };
        drop(full);
        let mut sink = RotatingFile::new("/dev/full", u64::MAX, 0);
        for _ in 0..3 {
            assert!(sink.write_line("lost").is_err());
        }
        assert_eq!(sink.dropped(), 3);
    }
}
