//! Targets adopted at registration: the URLs an instance's webhooks
//! pointed at before `r`/`R` pointed them here (`y` in the replace popup).
//! Kept in `forward/adopted.json` beside the log, not in the config (which
//! may be read-only); each is a forward target for that instance and the
//! webhook types that pointed there.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::target::{DEFAULT_MAX_AGE, ForwardTarget, Types};
use crate::model::InstanceId;
use crate::store::FORWARD_DIR;

/// One adopted URL of one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adopted {
    pub instance: String,
    pub url: String,
    /// Z-API `type` names (`DisconnectedCallback`, …) that pointed there.
    pub types: Vec<String>,
}

impl Adopted {
    /// Its target's name: `adopted-` and 8 hex digits of the instance and
    /// URL (the URL may hold secrets: it is not in the name).
    pub fn name(&self) -> String {
        let digest = Sha256::digest(format!("{}\n{}", self.instance, self.url).as_bytes());
        let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        format!("adopted-{hex}")
    }

    /// The forward target it stands for.
    pub fn target(&self) -> ForwardTarget {
        ForwardTarget {
            name: self.name(),
            url: self.url.clone(),
            types: Types::Only(self.types.clone()),
            instances: vec![InstanceId::new(&self.instance)],
            signing_secret: None,
            signing_secret_env: None,
            max_age: DEFAULT_MAX_AGE,
            adopted: true,
        }
    }
}

fn path(dir: &Path) -> PathBuf {
    dir.join(FORWARD_DIR).join("adopted.json")
}

/// The adopted targets in `dir` (none when the file is missing or bad; a
/// bad file is logged).
pub fn load(dir: &Path) -> Vec<Adopted> {
    let Ok(text) = fs::read(path(dir)) else {
        return Vec::new();
    };
    serde_json::from_slice(&text).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "relay: unreadable adopted.json, no adopted targets");
        Vec::new()
    })
}

/// Writes `all` durably (temporary file, synced, renamed).
pub fn save(dir: &Path, all: &[Adopted]) -> std::io::Result<()> {
    let forward = dir.join(FORWARD_DIR);
    fs::create_dir_all(&forward)?;
    let tmp = forward.join("adopted.json.tmp");
    let mut file = fs::File::create(&tmp)?;
    file.write_all(&serde_json::to_vec_pretty(all).map_err(std::io::Error::other)?)?;
    file.sync_data()?;
    fs::rename(&tmp, path(dir))
}

/// `new` added to `all`: the same instance and URL gain the types.
pub fn merge(all: &mut Vec<Adopted>, new: Adopted) {
    match all
        .iter_mut()
        .find(|a| a.instance == new.instance && a.url == new.url)
    {
        Some(old) => {
            for t in new.types {
                if !old.types.contains(&t) {
                    old.types.push(t);
                }
            }
        }
        None => all.push(new),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_save_load_and_the_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut all = Vec::new();
        let bot = |t: &str| Adopted {
            instance: "I1".into(),
            url: "https://bot.example/zapi?key=SECRET".into(),
            types: vec![t.into()],
        };
        merge(&mut all, bot("DisconnectedCallback"));
        merge(&mut all, bot("ConnectedCallback"));
        assert_eq!(all.len(), 1);
        assert_eq!(
            all[0].types,
            vec!["DisconnectedCallback", "ConnectedCallback"]
        );
        save(dir.path(), &all).expect("save");
        assert_eq!(load(dir.path()), all);
        let target = all[0].target();
        assert!(target.adopted);
        assert!(target.name.starts_with("adopted-") && !target.name.contains("SECRET"));
        assert_eq!(target.instances, vec![InstanceId::new("I1")]);
    }
}
