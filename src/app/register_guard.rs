//! Registration never silently replaces another system's webhooks.
//!
//! When `/me` shows an instance's disconnected or connected webhook pointing
//! at a URL that is neither this dashboard's nor empty (often the operator's
//! own bot or flow), `r`, `R` and `ctrl-r` first ask: the popup lists each
//! such instance with the URL that would be replaced (tokens masked).
//! Nothing is sent before a key: `y` adopts those URLs as forward targets
//! (the relay keeps delivering to them) and registers all, `o` overwrites
//! them without forwarding, `n` or `Esc` sends nothing. A child module of
//! `app`, so it adds to [`App`] without reorganising it.

use std::collections::HashSet;

use super::{App, Command, HookCheck, InstanceId, Level, Registration};

/// The registrations waiting for the operator, because some would replace
/// another system's webhook URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaceConfirm {
    /// Instances whose webhooks point at another system, with the URLs
    /// (masked) that registering them would replace.
    pub foreign: Vec<(InstanceId, Vec<String>)>,
    /// The other targets: registered with `y` and with `n`.
    pub others: Vec<InstanceId>,
    /// `R` / `ctrl-r` / several marked (a batch with a summary), or `r` on one row.
    pub batch: bool,
}

/// The URLs among `urls` (`/me`'s disconnected and connected webhook) that
/// are neither this dashboard's (under `{public_url}/hooks`) nor empty,
/// masked for the screen.
pub fn foreign_urls(urls: [Option<&str>; 2], public_url: &str) -> Vec<String> {
    let ours = format!("{}/hooks", public_url.trim_end_matches('/'));
    urls.into_iter()
        .flatten()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .filter(|u| {
            let rest = u.strip_prefix(ours.as_str());
            !rest.is_some_and(|r| r.is_empty() || r.starts_with('/'))
        })
        .map(mask_foreign_url)
        .fold(Vec::new(), |mut named, url| {
            if !named.contains(&url) {
                named.push(url);
            }
            named
        })
}

/// Another system's URL fit to show: path segments that look like tokens
/// cut as the detail pane cuts them ([`crate::mask::mask_url`]), a
/// password in the URL and every query value longer than four characters
/// cut to their first four, the fragment dropped.
pub fn mask_foreign_url(url: &str) -> String {
    let without_fragment = url.split('#').next().unwrap_or("");
    let (head, query) = match without_fragment.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (without_fragment, None),
    };
    // user:password@ before the host
    let head = match head.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let authority = match authority.rsplit_once('@') {
                Some((user, host)) => {
                    let user = user.split(':').next().unwrap_or("");
                    format!("{user}:…@{host}")
                }
                None => authority.to_string(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => head.to_string(),
    };
    let mut out = crate::mask::mask_url(&head);
    if let Some(q) = query {
        let pairs: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) if v.chars().count() > 4 => {
                    format!("{k}={}", crate::mask::token_prefix(v))
                }
                Some((k, v)) => format!("{k}={v}"),
                None => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

impl App {
    /// The foreign URLs `/me` last showed for row `i` (empty: none known).
    fn foreign_of(&self, i: usize) -> Vec<String> {
        match &self.fleet.instances[i].hooks {
            HookCheck::Ok { hooks, .. } => hooks.foreign.clone(),
            _ => Vec::new(),
        }
    }

    /// Before registering `targets`: when some would replace another
    /// system's webhook, opens the popup and returns true (nothing sent).
    pub(super) fn guard_register(&mut self, targets: &[usize], batch: bool) -> bool {
        let mut foreign = Vec::new();
        let mut others = Vec::new();
        for &i in targets {
            let inst = &self.fleet.instances[i];
            if !inst.configured {
                continue;
            }
            // one already in flight was confirmed (or needed no confirmation)
            let pending = inst.registration == Registration::Pending;
            let urls = if pending {
                Vec::new()
            } else {
                self.foreign_of(i)
            };
            if urls.is_empty() {
                others.push(inst.id.clone());
            } else {
                foreign.push((inst.id.clone(), urls));
            }
        }
        if foreign.is_empty() {
            return false;
        }
        self.overlays.replace = Some(ReplaceConfirm {
            foreign,
            others,
            batch,
        });
        true
    }

    /// A key while the popup is open: `y` adopts and registers all, `o`
    /// overwrites and registers all, `n` or `Esc` nothing; any other key
    /// changes nothing.
    pub(super) fn on_replace_key(&mut self, code: crossterm::event::KeyCode) -> Vec<Command> {
        use crossterm::event::KeyCode;
        let adopt = match code {
            KeyCode::Char('y') | KeyCode::Char('Y') => true,
            KeyCode::Char('o') | KeyCode::Char('O') => false,
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                self.overlays.replace = None;
                self.notify(Level::Info, "cancelled: nothing was sent");
                return Vec::new();
            }
            _ => return Vec::new(),
        };
        let cmds = self.register_confirmed(true);
        if !adopt {
            return cmds;
        }
        // y: the URLs replaced become forward targets first
        cmds.into_iter()
            .map(|c| match c {
                Command::RegisterReplacing(id) => Command::RegisterAdopting(id),
                c => c,
            })
            .collect()
    }

    /// The confirmed registrations: the others, and the foreign ones too
    /// when `replace_too`.
    fn register_confirmed(&mut self, replace_too: bool) -> Vec<Command> {
        let Some(confirm) = self.overlays.replace.clone() else {
            return Vec::new();
        };
        self.overlays.replace = None;
        self.view.marked.clear();
        let replacing: HashSet<InstanceId> = if replace_too {
            confirm.foreign.iter().map(|(id, _)| id.clone()).collect()
        } else {
            HashSet::new()
        };
        let mut ids = confirm.others.clone();
        ids.extend(replacing.iter().cloned());
        let targets: Vec<usize> = self
            .fleet
            .instances
            .iter()
            .enumerate()
            .filter(|(_, inst)| ids.contains(&inst.id))
            .map(|(n, _)| n)
            .collect();
        let left = confirm.foreign.len() - replacing.len();
        if targets.is_empty() {
            self.notify(
                Level::Info,
                format!(
                    "nothing sent: left {} pointing at another system",
                    crate::words::count(left, "instance")
                ),
            );
            return Vec::new();
        }
        if confirm.batch || targets.len() > 1 {
            let cmds = self.send_register_batch(targets, &replacing);
            // the summary accounts for them too
            self.ops.register_notes.left_foreign = left;
            if left > 0 && !cmds.is_empty() {
                self.notify(
                    Level::Info,
                    format!(
                        "registering {}; left {} pointing at another system alone",
                        crate::words::count(cmds.len(), "instance"),
                        crate::words::count(left, "instance")
                    ),
                );
            }
            return cmds;
        }
        let inst = &mut self.fleet.instances[targets[0]];
        inst.registration = Registration::Pending;
        let id = inst.id.clone();
        let label = inst.label().to_string();
        self.notify(Level::Info, format!("registering webhooks of {label}…"));
        vec![register_command(id.clone(), replacing.contains(&id))]
    }
}

/// The call for one registration: replacing another system's URL is asked
/// for explicitly (`watch --remote` then calls the API with `?replace=true`).
pub(super) fn register_command(id: InstanceId, replace: bool) -> Command {
    if replace {
        Command::RegisterReplacing(id)
    } else {
        Command::Register(id)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{app, ch, ctrl, key, t};
    use super::super::{Hooks, Msg};
    use super::*;
    use crossterm::event::KeyCode;

    fn foreign_hooks(url: &str) -> Hooks {
        Hooks {
            disconnected: Some(url.into()),
            connected: Some("https://dash.example/hooks/connected".into()),
            received: None,
            here: false,
            foreign: vec![url.into()],
        }
    }

    /// I0 points at a bot, I1 at nothing known, I2 here.
    fn fleet() -> App {
        let mut a = app(3);
        let here = Hooks {
            here: true,
            ..Hooks::default()
        };
        for (id, hooks) in [
            ("I0", foreign_hooks("https://bot.example/zapi")),
            ("I2", here),
        ] {
            a.update(
                Msg::HooksResult {
                    id: InstanceId::new(id),
                    result: Ok(hooks),
                },
                t(1),
            );
        }
        a
    }

    fn reg(id: &str) -> Command {
        Command::Register(InstanceId::new(id))
    }

    #[test]
    fn nothing_is_sent_before_y_and_y_registers_all() {
        let mut a = fleet();
        assert!(a.update(ch('R'), t(2)).is_empty(), "nothing before y");
        let popup = a.overlays.replace.clone().expect("the popup");
        assert_eq!(
            popup.foreign,
            vec![(
                InstanceId::new("I0"),
                vec!["https://bot.example/zapi".to_string()]
            )]
        );
        assert_eq!(popup.others, vec![InstanceId::new("I1")]);
        // other keys do nothing, nothing is pending
        assert!(a.update(ch('j'), t(2)).is_empty());
        assert!(a.update(ch('R'), t(2)).is_empty());
        assert!(
            a.fleet
                .instances
                .iter()
                .all(|i| i.registration == Registration::Never)
        );
        let mut cmds = a.update(ch('y'), t(3));
        cmds.sort_by_key(|c| format!("{c:?}"));
        assert_eq!(
            cmds,
            vec![reg("I1"), Command::RegisterAdopting(InstanceId::new("I0"))]
        );
        assert!(a.overlays.replace.is_none());
        assert_eq!(a.ops.register_batch.unwrap().total, 2);
    }

    #[test]
    fn o_overwrites_without_adopting_and_n_sends_nothing() {
        let mut a = fleet();
        a.update(ch('R'), t(2));
        let mut cmds = a.update(ch('o'), t(3));
        cmds.sort_by_key(|c| format!("{c:?}"));
        assert_eq!(
            cmds,
            vec![reg("I1"), Command::RegisterReplacing(InstanceId::new("I0"))]
        );
        let mut a = fleet();
        a.update(ch('R'), t(2));
        assert!(a.update(ch('n'), t(3)).is_empty());
        assert!(a.overlays.replace.is_none());
        assert!(
            a.fleet
                .instances
                .iter()
                .all(|i| i.registration == Registration::Never)
        );
    }

    #[test]
    fn esc_cancels_everything() {
        let mut a = fleet();
        a.update(ctrl('r'), t(2));
        assert!(a.overlays.replace.is_some());
        assert!(a.update(key(KeyCode::Esc), t(3)).is_empty());
        assert!(a.overlays.replace.is_none());
        assert!(
            a.fleet
                .instances
                .iter()
                .all(|i| i.registration == Registration::Never)
        );
        assert!(
            a.ops
                .notice
                .as_ref()
                .unwrap()
                .text
                .contains("nothing was sent")
        );
    }

    #[test]
    fn r_on_one_foreign_row_asks_and_n_sends_nothing() {
        let mut a = fleet();
        // problems first puts the drifted I0 first? select it by id
        let pos = a
            .view
            .order
            .iter()
            .position(|&i| a.fleet.instances[i].id.as_str() == "I0")
            .unwrap();
        a.select(pos);
        assert!(a.update(ch('r'), t(2)).is_empty());
        assert!(!a.overlays.replace.as_ref().unwrap().batch);
        assert!(a.update(ch('n'), t(3)).is_empty());
        assert_eq!(
            a.get(&InstanceId::new("I0")).unwrap().registration,
            Registration::Never
        );
        a.update(ch('r'), t(4));
        assert_eq!(
            a.update(ch('y'), t(5)),
            vec![Command::RegisterAdopting(InstanceId::new("I0"))]
        );
        // a row not pointing elsewhere is registered at once, as before
        let pos = a
            .view
            .order
            .iter()
            .position(|&i| a.fleet.instances[i].id.as_str() == "I1")
            .unwrap();
        a.select(pos);
        assert_eq!(a.update(ch('r'), t(6)), vec![reg("I1")]);
    }

    #[test]
    fn ours_and_empty_are_not_foreign_and_secrets_are_masked() {
        let base = "https://dash.example/";
        assert!(
            foreign_urls(
                [
                    Some("https://dash.example/hooks/AbCdEfGh0123456789xyz/disconnected"),
                    Some(""),
                ],
                base
            )
            .is_empty()
        );
        assert!(
            foreign_urls([None, Some("https://dash.example/hooks/connected")], base).is_empty()
        );
        assert_eq!(
            foreign_urls(
                [
                    Some("https://dash.example.evil/hooks/x"),
                    Some(
                        "https://u:hunter2secret@bot.example/in/AbCdEfGh0123456789xyz?key=SECRETVALUE&a=1#frag"
                    ),
                ],
                base
            ),
            vec![
                "https://dash.example.evil/hooks/x".to_string(),
                "https://u:…@bot.example/in/AbCd…?key=SECR…&a=1".to_string()
            ]
        );
        // the same URL on both hooks is named once
        assert_eq!(
            foreign_urls(
                [Some("https://n8n.example/w"), Some("https://n8n.example/w")],
                base
            )
            .len(),
            1
        );
    }
}
