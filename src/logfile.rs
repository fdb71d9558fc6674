//! The diagnostics log, `<state dir>/zapi-dash.log`, rotated by size.
//!
//! When a write would take the file past [`DEFAULT_MAX_BYTES`] (10 MiB), the
//! file becomes `zapi-dash.log.1`, the `.1` before it `.2`, and so on; the
//! oldest beyond [`DEFAULT_KEEP`] (5) is deleted. So the log never takes
//! more than about 60 MiB, and a line is never cut in two: tracing writes
//! one whole event per write, and rotation happens between writes.
//!
//! A rotation that fails (a read-only directory...) is logged into the
//! current file and retried at the next write: lines are never dropped
//! because of it.
//!
//! No crate is used for this: `file-rotate` either cuts a write in two at
//! the byte limit or lets the file grow past it, and tracing-appender rolls
//! by time only.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The size past which the log is rotated.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Rotated files kept (`zapi-dash.log.1` … `.5`).
pub const DEFAULT_KEEP: usize = 5;
/// Hidden: a smaller limit, in bytes, for the tests.
pub const MAX_BYTES_ENV: &str = "ZAPI_DASH_LOG_MAX_BYTES";

/// An append-only file that rotates itself by size.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: File,
    len: u64,
    /// The last rotation failed (and that was written into the file).
    stuck: bool,
}

impl RotatingFile {
    /// Opens (or creates) `path` for appending; the size of what is there
    /// counts towards the limit. A `max_bytes` of 0 counts as 1.
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> io::Result<RotatingFile> {
        let file = open_append(path)?;
        let len = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_owned(),
            max_bytes: max_bytes.max(1),
            keep,
            file,
            len,
            stuck: false,
        })
    }

    /// `<path>.<n>`.
    pub fn rotated(path: &Path, n: usize) -> PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    /// The current file becomes `.1`, `.1` becomes `.2`…; the oldest goes.
    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if self.keep == 0 {
            self.file.set_len(0)?;
            self.len = 0;
            return Ok(());
        }
        match std::fs::remove_file(Self::rotated(&self.path, self.keep)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        for n in (1..self.keep).rev() {
            let from = Self::rotated(&self.path, n);
            if from.exists() {
                std::fs::rename(&from, Self::rotated(&self.path, n + 1))?;
            }
        }
        std::fs::rename(&self.path, Self::rotated(&self.path, 1))?;
        self.file = open_append(&self.path)?;
        self.len = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Write for RotatingFile {
    /// Writes all of `buf` into one file: the current one, or a fresh one
    /// when `buf` would take the current one past the limit.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let full = self.len > 0 && self.len + buf.len() as u64 > self.max_bytes;
        if full {
            match self.rotate() {
                Ok(()) => self.stuck = false,
                // said once, not at every line while it lasts
                Err(e) if !self.stuck => {
                    self.stuck = true;
                    let note = format!("zapi-dash.log: cannot rotate, still appending: {e}\n");
                    self.len += note.len() as u64;
                    let _ = self.file.write_all(note.as_bytes());
                }
                Err(_) => {}
            }
        }
        self.file.write_all(buf)?;
        self.len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// The limit: [`MAX_BYTES_ENV`] when set to a number, else the default.
pub fn max_bytes_from(env: Option<String>) -> u64 {
    env.and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn past_the_limit_the_log_rotates_keeping_whole_lines_and_a_bounded_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zapi-dash.log");
        std::fs::write(&path, "from before\n").unwrap();
        let mut log = RotatingFile::open(&path, 1000, 3).unwrap();
        // about 40 bytes a line: 2000 lines are ~80 files' worth
        for n in 0..2000 {
            log.write_all(format!("line {n:05} of the diagnostics log\n").as_bytes())
                .unwrap();
        }
        log.flush().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "zapi-dash.log",
                "zapi-dash.log.1",
                "zapi-dash.log.2",
                "zapi-dash.log.3"
            ]
        );
        let current = std::fs::metadata(&path).unwrap().len();
        assert!(current > 0 && current <= 1000, "{current}");
        // oldest to newest, the kept lines follow each other with no gap
        let mut kept = Vec::new();
        for n in [3, 2, 1] {
            let file = RotatingFile::rotated(&path, n);
            assert!(std::fs::metadata(&file).unwrap().len() <= 1000);
            kept.extend(lines_of(&file));
        }
        kept.extend(lines_of(&path));
        assert_eq!(kept.last().unwrap(), "line 01999 of the diagnostics log");
        let first: usize = kept[0][5..10].parse().unwrap();
        for (i, line) in kept.iter().enumerate() {
            assert_eq!(
                line,
                &format!("line {:05} of the diagnostics log", first + i)
            );
        }
    }

    #[test]
    fn a_line_longer_than_the_limit_is_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zapi-dash.log");
        let mut log = RotatingFile::open(&path, 10, 2).unwrap();
        log.write_all(b"short\n").unwrap();
        log.write_all(b"a line much longer than ten bytes\n")
            .unwrap();
        assert_eq!(lines_of(&path), ["a line much longer than ten bytes"]);
        assert_eq!(lines_of(&RotatingFile::rotated(&path, 1)), ["short"]);
    }

    #[test]
    fn the_limit_comes_from_the_environment_or_is_ten_mib() {
        assert_eq!(max_bytes_from(None), 10 * 1024 * 1024);
        assert_eq!(max_bytes_from(Some("4096".into())), 4096);
        assert_eq!(max_bytes_from(Some("lots".into())), DEFAULT_MAX_BYTES);
    }
}
