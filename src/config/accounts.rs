//! `[[accounts]]`: several Z-API accounts, each with its own Client-Token,
//! an optional partner (integrator) token to discover its instances, and
//! optional `[[accounts.instances]]`. The top-level `client_token` and
//! `[[instances]]` stay an implicit account of their own.

use std::collections::HashMap;

use serde::Deserialize;

use super::{ConfigError, InstanceConfig, RawInstance, err};
use crate::model::{InstanceId, Secret};

/// Seconds between two listings of an account, by default.
pub const DEFAULT_DISCOVER_EVERY: u64 = 300;
/// The longest `discover_every` (one day): beyond it a typo.
pub const MAX_DISCOVER_EVERY: u64 = 24 * 3600;
pub use crate::fleet::discovery::IMPLICIT_ACCOUNT;

/// One `[[accounts]]` table. Its instances are in [`super::Config::instances`]
/// with `account` set to this account's name.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountConfig {
    pub name: String,
    /// The Client-Token every REST call of this account's instances carries.
    pub client_token: Option<Secret>,
    /// `client_token_env`: read at load time (see [`super::Config::load`]).
    pub client_token_env: Option<String>,
    /// The partner (integrator) token: with it the account's instances are discovered.
    pub partner_token: Option<Secret>,
    pub partner_token_env: Option<String>,
    /// Seconds between two listings (0 = only at start and on `s`).
    pub discover_every: u64,
    /// Z-API's name/id search, to watch a subset.
    pub query: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAccount {
    name: String,
    client_token: Option<Secret>,
    client_token_env: Option<String>,
    partner_token: Option<Secret>,
    partner_token_env: Option<String>,
    discover_every: Option<u64>,
    query: Option<String>,
    #[serde(default)]
    instances: Vec<RawInstance>,
}

/// Where an instance id was first seen, for the "twice" error.
type Seen = HashMap<String, String>;

/// The top-level `[[instances]]`: ids and tokens not empty, no id twice,
/// names trimmed.
pub(super) fn top_level(
    raw: Vec<RawInstance>,
    origin: &str,
    seen: &mut Seen,
) -> Result<Vec<InstanceConfig>, ConfigError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, inst)| instance(inst, &format!("instances[{i}]"), None, origin, seen))
        .collect()
}

/// The `[[accounts]]` and their instances (appended to `instances`).
pub(super) fn accounts(
    raw: Vec<RawAccount>,
    origin: &str,
    seen: &mut Seen,
    instances: &mut Vec<InstanceConfig>,
) -> Result<Vec<AccountConfig>, ConfigError> {
    let mut out: Vec<AccountConfig> = Vec::with_capacity(raw.len());
    for (a, acc) in raw.into_iter().enumerate() {
        let at = format!("accounts[{a}]");
        let name = acc.name.trim().to_string();
        if name.is_empty() {
            return Err(err(
                origin,
                &format!("{at}.name"),
                "must not be empty".into(),
            ));
        }
        if name == IMPLICIT_ACCOUNT || out.iter().any(|o| o.name == name) {
            return Err(err(
                origin,
                &format!("{at}.name"),
                format!("account `{name}` is named twice (or takes the implicit account's name)"),
            ));
        }
        let client_token = token(acc.client_token, origin, &format!("{at}.client_token"))?;
        let partner_token = token(acc.partner_token, origin, &format!("{at}.partner_token"))?;
        let client_token_env = env_name(acc.client_token_env, origin, &at, "client_token")?;
        let partner_token_env = env_name(acc.partner_token_env, origin, &at, "partner_token")?;
        if partner_token.is_none() && partner_token_env.is_none() && acc.instances.is_empty() {
            return Err(err(
                origin,
                &at,
                format!(
                    "account `{name}` has neither partner_token nor [[accounts.instances]]: nothing to watch"
                ),
            ));
        }
        let discover_every = acc.discover_every.unwrap_or(DEFAULT_DISCOVER_EVERY);
        super::at_most(discover_every, MAX_DISCOVER_EVERY)
            .map_err(|m| err(origin, &format!("{at}.discover_every"), m))?;
        for (i, inst) in acc.instances.into_iter().enumerate() {
            let key = format!("{at}.instances[{i}]");
            instances.push(instance(inst, &key, Some(&name), origin, seen)?);
        }
        out.push(AccountConfig {
            name,
            client_token,
            client_token_env,
            partner_token,
            partner_token_env,
            discover_every,
            query: acc
                .query
                .map(|q| q.trim().to_string())
                .filter(|q| !q.is_empty()),
        });
    }
    Ok(out)
}

/// A token given in the file: not blank.
fn token(t: Option<Secret>, origin: &str, key: &str) -> Result<Option<Secret>, ConfigError> {
    match t {
        Some(t) if t.expose().trim().is_empty() => Err(err(
            origin,
            key,
            "must not be empty (or leave it out)".into(),
        )),
        Some(t) => Ok(Some(Secret::new(t.expose().trim()))),
        None => Ok(None),
    }
}

/// `…_env`: a variable name, and not both it and the token itself.
fn env_name(
    name: Option<String>,
    origin: &str,
    at: &str,
    what: &str,
) -> Result<Option<String>, ConfigError> {
    let Some(name) = name else { return Ok(None) };
    let name = name.trim().to_string();
    let key = format!("{at}.{what}_env");
    if name.is_empty() || name.contains(['=', '\0']) {
        return Err(err(
            origin,
            &key,
            "must be an environment variable's name".into(),
        ));
    }
    Ok(Some(name))
}

fn instance(
    inst: RawInstance,
    at: &str,
    account: Option<&str>,
    origin: &str,
    seen: &mut Seen,
) -> Result<InstanceConfig, ConfigError> {
    let id = inst.id.trim().to_string();
    if id.is_empty() {
        return Err(err(origin, &format!("{at}.id"), "must not be empty".into()));
    }
    if inst.token.expose().trim().is_empty() {
        return Err(err(
            origin,
            &format!("{at}.token"),
            "must not be empty".into(),
        ));
    }
    if let Some(first) = seen.get(&id) {
        return Err(err(
            origin,
            &format!("{at}.id"),
            format!("instance `{id}` is listed twice (first as {first})"),
        ));
    }
    seen.insert(id.clone(), at.to_string());
    let name = inst
        .name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    Ok(InstanceConfig {
        id: InstanceId::new(id),
        token: Secret::new(inst.token.expose().trim()),
        name,
        account: account.map(str::to_string),
    })
}

/// Reads each account's `client_token_env` / `partner_token_env` from the
/// environment; a variable that is not set is an error naming its key.
pub(super) fn resolve_env(
    accounts: &mut [AccountConfig],
    env: &impl Fn(&str) -> Option<String>,
    origin: &str,
) -> Result<(), ConfigError> {
    for (a, acc) in accounts.iter_mut().enumerate() {
        for (var, slot, what) in [
            (&acc.client_token_env, &mut acc.client_token, "client_token"),
            (
                &acc.partner_token_env,
                &mut acc.partner_token,
                "partner_token",
            ),
        ] {
            let Some(var) = var else { continue };
            match env(var)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
            {
                Some(value) => *slot = Some(Secret::new(value)),
                None if slot.is_some() => {}
                None => {
                    return Err(err(
                        origin,
                        &format!("accounts[{a}].{what}_env"),
                        format!("environment variable {var} is not set"),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Config;
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("/etc/z.toml"))
    }

    const TWO: &str = r#"
client_token = "TOPLEVELCT"
[[instances]]
id = "OLD"
token = "OLDTOKEN"

[[accounts]]
name = "Agency A"
client_token = "CT-A-SECRET"
partner_token = "PT-A-SECRET"
discover_every = 60
query = " sales "

[[accounts.instances]]
id = "A1"
token = "A1TOKEN"
name = "Sales"

[[accounts]]
name = "Agency B"
client_token_env = "B_CT"
partner_token_env = "B_PT"
"#;

    #[test]
    fn accounts_parse_with_their_instances_and_defaults() {
        let c = parse(TWO).unwrap();
        assert_eq!(c.accounts.len(), 2);
        let a = &c.accounts[0];
        assert_eq!(a.name, "Agency A");
        assert_eq!(
            a.client_token.as_ref().map(Secret::expose),
            Some("CT-A-SECRET")
        );
        assert_eq!(
            a.partner_token.as_ref().map(Secret::expose),
            Some("PT-A-SECRET")
        );
        assert_eq!(a.discover_every, 60);
        assert_eq!(a.query.as_deref(), Some("sales"));
        let b = &c.accounts[1];
        assert_eq!(b.discover_every, DEFAULT_DISCOVER_EVERY);
        assert_eq!(b.client_token, None);
        assert_eq!(b.client_token_env.as_deref(), Some("B_CT"));
        let ids: Vec<_> = c
            .instances
            .iter()
            .map(|i| (i.id.as_str(), i.account.as_deref()))
            .collect();
        assert_eq!(ids, [("OLD", None), ("A1", Some("Agency A"))]);
        assert_eq!(c.instances[1].name.as_deref(), Some("Sales"));
    }

    #[test]
    fn old_configs_have_no_accounts() {
        let c = parse("client_token='X'\n[[instances]]\nid='A'\ntoken='t'\n").unwrap();
        assert!(c.accounts.is_empty());
        assert_eq!(c.instances[0].account, None);
    }

    #[test]
    fn env_tokens_are_read_at_load_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, TWO).unwrap();
        let flags = crate::cli::Flags {
            config: Some(path.clone()),
            ..Default::default()
        };
        let env = |k: &str| match k {
            "B_CT" => Some("CT-B-FROMENV".to_string()),
            "B_PT" => Some("PT-B-FROMENV".to_string()),
            _ => None,
        };
        let c = Config::load(&flags, env, None).unwrap();
        let b = &c.accounts[1];
        assert_eq!(
            b.client_token.as_ref().map(Secret::expose),
            Some("CT-B-FROMENV")
        );
        assert_eq!(
            b.partner_token.as_ref().map(Secret::expose),
            Some("PT-B-FROMENV")
        );
        let only_ct = |k: &str| (k == "B_CT").then(|| "CT".to_string());
        let e = Config::load(&flags, only_ct, None).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("accounts[1].partner_token_env"));
        assert!(e.message.contains("B_PT is not set"), "{e}");
        assert!(e.origin.ends_with("c.toml"), "{e}");
    }

    #[test]
    fn config_errors_name_the_file_and_the_key() {
        let cases = [
            (
                "[[accounts]]\nname='A'\nclient_token='CTSECRET'\n",
                "accounts[0]",
                "neither partner_token nor",
            ),
            (
                "[[accounts]]\nname='A'\npartner_token='P'\n[[accounts.instances]]\nid='X'\ntoken='t'\n[[accounts]]\nname='B'\npartner_token='P'\n[[accounts.instances]]\nid='X'\ntoken='u'\n",
                "accounts[1].instances[0].id",
                "first as accounts[0].instances[0]",
            ),
            (
                "[[instances]]\nid='X'\ntoken='t'\n[[accounts]]\nname='B'\n[[accounts.instances]]\nid='X'\ntoken='u'\n",
                "accounts[0].instances[0].id",
                "first as instances[0]",
            ),
            (
                "[[accounts]]\nname='A'\npartner_token='P'\n[[accounts]]\nname='A'\npartner_token='Q'\n",
                "accounts[1].name",
                "named twice",
            ),
            (
                "[[accounts]]\nname=' '\npartner_token='P'\n",
                "accounts[0].name",
                "must not be empty",
            ),
            (
                "[[accounts]]\nname='A'\npartner_token=''\n",
                "accounts[0].partner_token",
                "must not be empty",
            ),
            (
                "[[accounts]]\nname='A'\npartner_token='P'\ndiscover_every=999999\n",
                "accounts[0].discover_every",
                "at most",
            ),
        ];
        for (text, key, words) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{text}: {e}");
            assert!(e.message.contains(words), "{text}: {e}");
            assert!(e.to_string().starts_with("/etc/z.toml: key `"), "{e}");
        }
    }

    #[test]
    fn an_unknown_key_in_an_account_is_named_and_no_token_is_echoed() {
        let e = parse("[[accounts]]\nname='A'\npartner_token='PTSECRETXYZ'\ncolour='x'\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/etc/z.toml:"), "{e}");
        assert!(e.contains("colour"), "{e}");
        assert!(!e.contains("PTSECRETXYZ"), "{e}");
        let e = parse("[[accounts]]\nname='A'\npartner_token='PTSECRETXYZ'\n[[accounts.instances]]\nid='I'\ntoken='SECRETINST'\nfoo=1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("foo"), "{e}");
        assert!(
            !e.contains("SECRETINST") && !e.contains("PTSECRETXYZ"),
            "{e}"
        );
    }

    #[test]
    fn debug_of_an_account_masks_its_tokens() {
        let c = parse(TWO).unwrap();
        let shown = format!("{:?}", c.accounts);
        assert!(
            !shown.contains("CT-A-SECRET") && !shown.contains("PT-A-SECRET"),
            "{shown}"
        );
    }
}
