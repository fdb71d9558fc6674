//! A target's dead letters: the events it gave up on after `max_age`,
//! one JSON line each in `forward/<target>.dead` beside the log. The body
//! stays in the log (read again by `seq` when retried).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::InstanceId;
use crate::store::FORWARD_DIR;

/// One event the target did not take within its `max_age`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub seq: u64,
    pub instance_id: InstanceId,
    /// The `webhook-id` it was sent with (and will be sent with again).
    pub webhook_id: String,
    /// When zapi-dash received it.
    pub received: DateTime<Utc>,
    /// When it was given up on.
    pub at: DateTime<Utc>,
    /// The last failure.
    pub error: String,
}

fn path(dir: &Path, target: &str) -> PathBuf {
    dir.join(FORWARD_DIR).join(format!("{target}.dead"))
}

/// Every dead letter of `target`, oldest first; unreadable lines are skipped.
pub fn load(dir: &Path, target: &str) -> Vec<DeadLetter> {
    let Ok(text) = fs::read_to_string(path(dir, target)) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// Appends `letter` (synced: a dead letter is the only trace of the event
/// once the cursor has passed it).
pub fn append(dir: &Path, target: &str, letter: &DeadLetter) -> std::io::Result<()> {
    fs::create_dir_all(dir.join(FORWARD_DIR))?;
    let mut line = serde_json::to_vec(letter).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path(dir, target))?;
    file.write_all(&line)?;
    file.sync_data()
}

/// Replaces `target`'s dead letters with `letters` (none: the file goes).
pub fn replace(dir: &Path, target: &str, letters: &[DeadLetter]) -> std::io::Result<()> {
    let path = path(dir, target);
    if letters.is_empty() {
        return match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let tmp = path.with_extension("dead.tmp");
    let mut text = Vec::new();
    for letter in letters {
        text.extend(serde_json::to_vec(letter).map_err(std::io::Error::other)?);
        text.push(b'\n');
    }
    let mut file = fs::File::create(&tmp)?;
    file.write_all(&text)?;
    file.sync_data()?;
    fs::rename(&tmp, &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_load_replace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let at = Utc::now();
        let letter = |seq| DeadLetter {
            seq,
            instance_id: InstanceId::new("I"),
            webhook_id: format!("msg_{seq}"),
            received: at,
            at,
            error: "HTTP 500".into(),
        };
        assert!(load(dir.path(), "bot").is_empty());
        append(dir.path(), "bot", &letter(1)).expect("append");
        append(dir.path(), "bot", &letter(2)).expect("append");
        assert_eq!(load(dir.path(), "bot").len(), 2);
        replace(dir.path(), "bot", &[letter(2)]).expect("replace");
        assert_eq!(load(dir.path(), "bot"), vec![letter(2)]);
        replace(dir.path(), "bot", &[]).expect("replace");
        assert!(load(dir.path(), "bot").is_empty());
    }
}
