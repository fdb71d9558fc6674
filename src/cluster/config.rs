//! `[cluster]`: the NATS servers, the stream and its replicas, the
//! credentials file. Errors are `(key, message)`, named by the caller with
//! the file (as `[[forward]]`'s are).

use std::path::PathBuf;
use std::str::FromStr;

use serde::Deserialize;

/// The environment variable that gives `nats_url` (it wins over the file).
pub const ENV_NATS_URL: &str = "ZAPI_DASH_NATS_URL";

/// The stream's name unless `stream` says otherwise.
pub const DEFAULT_STREAM: &str = "ZAPI_EVENTS";

/// Most JetStream replicas of a stream (NATS's own limit).
pub const MAX_REPLICAS: usize = 5;

/// The `[cluster]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    nats_url: Option<String>,
    stream: Option<String>,
    replicas: Option<usize>,
    credentials: Option<PathBuf>,
}

/// A validated `[cluster]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// The NATS servers, as the file (or [`ENV_NATS_URL`]) lists them,
    /// comma-separated; each a `nats://` (or `tls://`) URL.
    pub nats_url: String,
    /// The JetStream stream (created if missing).
    pub stream: String,
    /// Its replicas (1 for a single NATS node).
    pub replicas: usize,
    /// A NATS credentials file (`.creds`), if the servers ask for one.
    pub credentials: Option<PathBuf>,
}

impl ClusterConfig {
    /// The NATS servers, one per entry of [`ClusterConfig::nats_url`].
    pub fn servers(&self) -> Vec<&str> {
        split_urls(&self.nats_url).collect()
    }

    /// The KV bucket holding the leader lease: one per stream, so two
    /// deployments on one NATS cluster do not share a leader.
    pub fn lease_bucket(&self) -> String {
        format!("{}_LEADER", self.stream)
    }

    /// The KV bucket in which the leader tells the followers what it saw
    /// (see [`super::share`]): one per stream, like the lease's.
    pub fn fleet_bucket(&self) -> String {
        format!("{}_FLEET", self.stream)
    }

    /// The KV bucket holding the relay's cursors (`[[forward]]`), one per
    /// stream: a `seq` means an event of that stream.
    pub fn relay_bucket(&self) -> String {
        format!("{}_RELAY", self.stream)
    }
}

fn split_urls(urls: &str) -> impl Iterator<Item = &str> {
    urls.split(',').map(str::trim).filter(|u| !u.is_empty())
}

/// Validates the table: `Err((key, message))` names the key at fault.
/// `nats_url` may come later from the environment ([`with_env_url`]): a
/// table without it is checked again there.
pub fn parse(raw: RawCluster) -> Result<ClusterConfig, (String, String)> {
    let key = |k: &str| format!("cluster.{k}");
    let nats_url = match raw.nats_url {
        Some(url) => validate_urls(&url).map_err(|m| (key("nats_url"), m))?,
        None => String::new(),
    };
    let stream = match raw.stream {
        Some(name) => validate_stream(&name).map_err(|m| (key("stream"), m))?,
        None => DEFAULT_STREAM.to_string(),
    };
    let replicas = raw.replicas.unwrap_or(1);
    if !(1..=MAX_REPLICAS).contains(&replicas) {
        return Err((
            key("replicas"),
            format!("must be 1 to {MAX_REPLICAS} (JetStream's limit), got {replicas}"),
        ));
    }
    Ok(ClusterConfig {
        nats_url,
        stream,
        replicas,
        credentials: raw.credentials,
    })
}

/// `nats_url` from [`ENV_NATS_URL`] when set, else the file's; an error
/// (`(key, message)`) when neither gives one.
pub fn with_env_url(
    mut cluster: ClusterConfig,
    env: Option<String>,
) -> Result<ClusterConfig, (String, String)> {
    if let Some(url) = env.filter(|u| !u.trim().is_empty()) {
        cluster.nats_url = validate_urls(&url).map_err(|m| (ENV_NATS_URL.to_string(), m))?;
    }
    if cluster.nats_url.is_empty() {
        return Err((
            "cluster.nats_url".into(),
            format!("is required with [cluster] (or set {ENV_NATS_URL})"),
        ));
    }
    Ok(cluster)
}

/// One or more NATS URLs, comma-separated: each must parse as NATS's
/// client does and say `nats://`, `tls://`, `ws://` or `wss://`. The
/// message never repeats a URL's password.
fn validate_urls(urls: &str) -> Result<String, String> {
    let list: Vec<&str> = split_urls(urls).collect();
    if list.is_empty() {
        return Err("is empty: give one or more nats://host:port URLs, comma-separated".into());
    }
    for (i, url) in list.iter().enumerate() {
        let scheme_ok = ["nats://", "tls://", "ws://", "wss://"]
            .iter()
            .any(|s| url.starts_with(s));
        if !scheme_ok || async_nats::ServerAddr::from_str(url).is_err() {
            return Err(format!(
                "URL {} of {} is not a nats:// (or tls://) URL: `{}`",
                i + 1,
                list.len(),
                shown(url)
            ));
        }
    }
    Ok(list.join(","))
}

/// `url` fit for a message or a log line: a user and password
/// (`nats://user:pass@host`) become `***@`.
pub fn shown(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let host_start = rest.find('/').unwrap_or(rest.len());
    match rest[..host_start].rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => url.to_string(),
    }
}

/// JetStream's rule for names: not empty, at most 64 characters, no
/// whitespace, `.`, `*`, `>`, `/` or `\`.
fn validate_stream(name: &str) -> Result<String, String> {
    let bad = |c: char| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\');
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(bad) {
        return Err(format!(
            "must be 1 to 64 characters without spaces, `.`, `*`, `>`, `/` or `\\`, got `{name}`"
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(toml_text: &str) -> RawCluster {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn defaults_and_a_list_of_urls() {
        let c = parse(raw("nats_url = 'nats://a:4222, nats://b:4222'")).unwrap();
        assert_eq!(c.nats_url, "nats://a:4222,nats://b:4222");
        assert_eq!(c.servers(), vec!["nats://a:4222", "nats://b:4222"]);
        assert_eq!(c.stream, "ZAPI_EVENTS");
        assert_eq!(c.replicas, 1);
        assert_eq!(c.lease_bucket(), "ZAPI_EVENTS_LEADER");
        assert_eq!(c.relay_bucket(), "ZAPI_EVENTS_RELAY");
    }

    #[test]
    fn each_error_names_its_key() {
        let e = parse(raw("nats_url = 'http://a'")).unwrap_err();
        assert_eq!(e.0, "cluster.nats_url");
        let e = parse(raw("nats_url = 'nats://a'\nstream = 'a.b'")).unwrap_err();
        assert_eq!(e.0, "cluster.stream");
        let e = parse(raw("nats_url = 'nats://a'\nreplicas = 7")).unwrap_err();
        assert_eq!(e.0, "cluster.replicas");
        assert!(e.1.contains("got 7"), "{}", e.1);
        let e = with_env_url(parse(raw("")).unwrap(), None).unwrap_err();
        assert_eq!(e.0, "cluster.nats_url");
        assert!(e.1.contains(ENV_NATS_URL), "{}", e.1);
    }

    #[test]
    fn the_environment_gives_or_replaces_the_url_and_no_password_is_echoed() {
        let c = with_env_url(parse(raw("")).unwrap(), Some("nats://x:1".into())).unwrap();
        assert_eq!(c.nats_url, "nats://x:1");
        let e =
            with_env_url(parse(raw("")).unwrap(), Some("ftp://u:hunter2@x".into())).unwrap_err();
        assert_eq!(e.0, ENV_NATS_URL);
        assert!(!e.1.contains("hunter2"), "{}", e.1);
    }
}
