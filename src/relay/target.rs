//! A `[[forward]]` target: where the relay delivers, which events, how long
//! it keeps trying. Parsed and checked here; every error names its key.

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;

use crate::model::{Event, EventKind, InstanceId, Secret};

/// How long a failing event is retried before it goes to the dead letters,
/// unless `max_age` says otherwise.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// The longest `max_age` (30 days): the log's retention is kept for it.
pub const MAX_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// The webhook types a target can ask for, with the Z-API `type` each
/// stands for (`None` for the two whose kind the parser names).
pub const TYPE_NAMES: [(&str, &str); 6] = [
    ("disconnected", "DisconnectedCallback"),
    ("connected", "ConnectedCallback"),
    ("received", "ReceivedCallback"),
    ("delivery", "DeliveryCallback"),
    ("message-status", "MessageStatusCallback"),
    ("presence", "PresenceChatCallback"),
];

/// A `[[forward]]` table as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForward {
    name: String,
    url: String,
    #[serde(default)]
    types: Option<Vec<String>>,
    #[serde(default)]
    instances: Vec<String>,
    signing_secret: Option<Secret>,
    signing_secret_env: Option<String>,
    max_age: Option<toml::Value>,
}

/// Which webhook types a target receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Types {
    All,
    /// Z-API `type` names (`ReceivedCallback`, …).
    Only(Vec<String>),
}

/// One validated forward target.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardTarget {
    /// Unique among targets; letters, digits, `-` and `_` (it names files).
    pub name: String,
    /// `http://` or `https://`.
    pub url: String,
    pub types: Types,
    /// Instance ids (names in the file are turned into ids); empty = all.
    pub instances: Vec<InstanceId>,
    /// The Standard Webhooks secret (`whsec_<base64>` or any text).
    pub signing_secret: Option<Secret>,
    /// The environment variable to read the secret from, when given so.
    pub signing_secret_env: Option<String>,
    pub max_age: Duration,
    /// Adopted at registration (kept in the state file), not configured.
    pub adopted: bool,
}

impl ForwardTarget {
    /// Whether `event` goes to this target.
    pub fn wants(&self, event: &Event) -> bool {
        if !self.instances.is_empty() && !self.instances.contains(&event.instance_id) {
            return false;
        }
        match &self.types {
            Types::All => true,
            Types::Only(types) => types.iter().any(|t| type_matches(t, &event.kind)),
        }
    }
}

/// Whether a Z-API `type` name is the type of an event of `kind`.
fn type_matches(zapi_type: &str, kind: &EventKind) -> bool {
    match kind {
        EventKind::Disconnected { .. } => zapi_type == "DisconnectedCallback",
        EventKind::Connected { .. } => zapi_type == "ConnectedCallback",
        EventKind::Activity { callback } => callback == zapi_type,
    }
}

/// Checks the `[[forward]]` tables; `names` maps instance names to ids
/// (an entry of `instances` that is neither is taken as an id).
/// Errors are `(key, message)`, the key as `forward[i].field`.
pub fn parse_targets(
    raw: Vec<RawForward>,
    names: &[(String, InstanceId)],
) -> Result<Vec<ForwardTarget>, (String, String)> {
    let mut seen = HashSet::new();
    let mut targets = Vec::with_capacity(raw.len());
    for (i, f) in raw.into_iter().enumerate() {
        let key = |field: &str| format!("forward[{i}].{field}");
        let name = f.name.trim().to_owned();
        validate_name(&name).map_err(|m| (key("name"), m))?;
        if !seen.insert(name.clone()) {
            return Err((key("name"), format!("target `{name}` is listed twice")));
        }
        let url = validate_url(&f.url).map_err(|m| (key("url"), m))?;
        let types = parse_types(f.types.as_deref()).map_err(|m| (key("types"), m))?;
        let instances = f
            .instances
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| {
                names
                    .iter()
                    .find(|(n, _)| n == s)
                    .map_or_else(|| InstanceId::new(s), |(_, id)| id.clone())
            })
            .collect();
        let max_age = match &f.max_age {
            None => DEFAULT_MAX_AGE,
            Some(v) => parse_max_age(v).map_err(|m| (key("max_age"), m))?,
        };
        if f.signing_secret.is_some() && f.signing_secret_env.is_some() {
            return Err((
                key("signing_secret_env"),
                "give signing_secret or signing_secret_env, not both".into(),
            ));
        }
        if let Some(secret) = &f.signing_secret {
            crate::relay::sign::key_bytes(secret).map_err(|m| (key("signing_secret"), m))?;
        }
        targets.push(ForwardTarget {
            name,
            url,
            types,
            instances,
            signing_secret: f.signing_secret,
            signing_secret_env: f.signing_secret_env.map(|s| s.trim().to_owned()),
            max_age,
            adopted: false,
        });
    }
    Ok(targets)
}

fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(
            "must be at most 64 letters, digits, `-` or `_` (it names the target's files)".into(),
        );
    }
    Ok(())
}

/// An `http://` or `https://` URL with a host.
pub fn validate_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| format!("is not a URL ({e}); e.g. https://bot.example.com/zapi"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    Ok(url.to_owned())
}

fn parse_types(types: Option<&[String]>) -> Result<Types, String> {
    let Some(types) = types else {
        return Ok(Types::All);
    };
    if types.is_empty() {
        return Err("must name at least one type (or \"all\")".into());
    }
    let mut out = Vec::new();
    for t in types {
        let t = t.trim();
        if t == "all" {
            return Ok(Types::All);
        }
        let Some((_, zapi)) = TYPE_NAMES.iter().find(|(n, z)| *n == t || *z == t) else {
            let known: Vec<&str> = TYPE_NAMES.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "unknown type `{t}`; use \"all\" or any of: {}",
                known.join(", ")
            ));
        };
        out.push((*zapi).to_owned());
    }
    Ok(Types::Only(out))
}

/// `"24h"`, `"30m"`, `"90s"`, `"7d"` or a number of seconds; 1 s to 30 days.
pub fn parse_max_age(value: &toml::Value) -> Result<Duration, String> {
    let secs = match value {
        toml::Value::Integer(n) => {
            u64::try_from(*n).map_err(|_| "must not be negative".to_owned())?
        }
        toml::Value::String(s) => parse_duration_text(s.trim())?,
        _ => return Err("must be a duration such as \"24h\", \"30m\" or \"7d\"".into()),
    };
    let age = Duration::from_secs(secs);
    if age.is_zero() || age > MAX_MAX_AGE {
        return Err("must be between 1s and 30d".into());
    }
    Ok(age)
}

fn parse_duration_text(s: &str) -> Result<u64, String> {
    let bad = || format!("`{s}` is not a duration such as \"24h\", \"30m\", \"90s\" or \"7d\"");
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(scale).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Vec<RawForward> {
        #[derive(Deserialize)]
        struct File {
            forward: Vec<RawForward>,
        }
        toml::from_str::<File>(text).expect("toml").forward
    }

    #[test]
    fn a_full_target_parses_and_names_become_ids() {
        let targets = parse_targets(
            raw(r#"
                [[forward]]
                name = "bot"
                url = "https://bot.example.com/zapi"
                types = ["disconnected", "received"]
                instances = ["shop", "ID2"]
                signing_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
                max_age = "2h"
            "#),
            &[("shop".into(), InstanceId::new("ID1"))],
        )
        .expect("valid");
        let t = &targets[0];
        assert_eq!(t.name, "bot");
        assert_eq!(
            t.instances,
            vec![InstanceId::new("ID1"), InstanceId::new("ID2")]
        );
        assert_eq!(
            t.types,
            Types::Only(vec![
                "DisconnectedCallback".into(),
                "ReceivedCallback".into()
            ])
        );
        assert_eq!(t.max_age, Duration::from_secs(7200));
    }

    #[test]
    fn defaults_are_all_types_all_instances_and_a_day() {
        let t = &parse_targets(
            raw("[[forward]]\nname='a'\nurl='http://127.0.0.1:9/x'"),
            &[],
        )
        .expect("valid")[0];
        assert_eq!(t.types, Types::All);
        assert!(t.instances.is_empty());
        assert_eq!(t.max_age, DEFAULT_MAX_AGE);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("name='a b'\nurl='https://x.y'", "forward[0].name"),
            ("name='a'\nurl='ftp://x.y'", "forward[0].url"),
            (
                "name='a'\nurl='https://x.y'\ntypes=['nope']",
                "forward[0].types",
            ),
            ("name='a'\nurl='https://x.y'\ntypes=[]", "forward[0].types"),
            (
                "name='a'\nurl='https://x.y'\nmax_age='3 weeks'",
                "forward[0].max_age",
            ),
            (
                "name='a'\nurl='https://x.y'\nmax_age='0s'",
                "forward[0].max_age",
            ),
            (
                "name='a'\nurl='https://x.y'\nmax_age='31d'",
                "forward[0].max_age",
            ),
            (
                "name='a'\nurl='https://x.y'\nsigning_secret='s'\nsigning_secret_env='E'",
                "forward[0].signing_secret_env",
            ),
            (
                "name='a'\nurl='https://x.y'\nsigning_secret='whsec_!!'",
                "forward[0].signing_secret",
            ),
        ];
        for (body, key) in cases {
            let got = parse_targets(raw(&format!("[[forward]]\n{body}")), &[]);
            assert_eq!(got.map_err(|(k, _)| k), Err(key.to_owned()), "{body}");
        }
        let twice =
            "[[forward]]\nname='a'\nurl='https://x.y'\n[[forward]]\nname='a'\nurl='https://x.y'";
        assert_eq!(
            parse_targets(raw(twice), &[]).map_err(|(k, _)| k),
            Err("forward[1].name".to_owned())
        );
    }

    #[test]
    fn wants_filters_by_type_and_instance() {
        let t = &parse_targets(
            raw("[[forward]]\nname='a'\nurl='https://x.y'\ntypes=['connected','presence']\ninstances=['I1']"),
            &[],
        )
        .expect("valid")[0];
        let at = chrono::Utc::now();
        let ev = |id: &str, kind: EventKind| Event {
            instance_id: InstanceId::new(id),
            kind,
            moment: at,
            received: at,
        };
        assert!(t.wants(&ev("I1", EventKind::Connected { phone: None })));
        assert!(t.wants(&ev(
            "I1",
            EventKind::Activity {
                callback: "PresenceChatCallback".into()
            }
        )));
        assert!(!t.wants(&ev("I1", EventKind::Disconnected { error: None })));
        assert!(!t.wants(&ev("I2", EventKind::Connected { phone: None })));
    }
}
