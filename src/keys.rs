//! Remappable key bindings: which key press means which [`Action`].
//!
//! The defaults are [`Keymap::default`]; a config file's `[keys]` table
//! replaces the keys of the actions it names ([`Keymap::from_table`]). `Esc`
//! and `ctrl-c` are not bindable: they always mean back / quit.
//!
//! A key spec is a single character (case-sensitive: `"g"` is not `"G"`), a
//! named key (`up down left right pageup pagedown home end enter space tab
//! backspace delete insert f1`..`f12`, names case-insensitive) or
//! `ctrl-<char>`.

use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Something the operator can ask for with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Detail,
    Mark,
    MarkAll,
    ClearMarks,
    Search,
    Sort,
    StateFilter,
    Register,
    RegisterAll,
    RegisterAllForce,
    Refresh,
    Connect,
    Restart,
    Restore,
    Ack,
    CopyId,
    Bell,
    Mouse,
    MessageLog,
    Forward,
    Help,
    Quit,
}

impl Action {
    /// Every action, in the order the help lists them.
    pub const ALL: &'static [Action] = &[
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::Detail,
        Action::Mark,
        Action::MarkAll,
        Action::ClearMarks,
        Action::Search,
        Action::Sort,
        Action::StateFilter,
        Action::Register,
        Action::RegisterAll,
        Action::RegisterAllForce,
        Action::Refresh,
        Action::Connect,
        Action::Restart,
        Action::Restore,
        Action::Ack,
        Action::CopyId,
        Action::Bell,
        Action::Mouse,
        Action::MessageLog,
        Action::Forward,
        Action::Help,
        Action::Quit,
    ];

    /// The action's name in the `[keys]` table.
    pub fn name(self) -> &'static str {
        match self {
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::Detail => "detail",
            Action::Mark => "mark",
            Action::MarkAll => "mark_all",
            Action::ClearMarks => "clear_marks",
            Action::Search => "search",
            Action::Sort => "sort",
            Action::StateFilter => "state_filter",
            Action::Register => "register",
            Action::RegisterAll => "register_all",
            Action::RegisterAllForce => "register_all_force",
            Action::Refresh => "refresh",
            Action::Connect => "connect",
            Action::Restart => "restart",
            Action::Restore => "restore",
            Action::Ack => "ack",
            Action::CopyId => "copy_id",
            Action::Bell => "bell",
            Action::Mouse => "mouse",
            Action::MessageLog => "message_log",
            Action::Forward => "forward_targets",
            Action::Help => "help",
            Action::Quit => "quit",
        }
    }

    /// The action named `name` in the `[keys]` table, if any.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.name() == name)
    }

    /// What the action does, as the help shows it.
    pub fn describe(self) -> &'static str {
        match self {
            Action::Up => "select the row above",
            Action::Down => "select the row below",
            Action::PageUp => "one page up",
            Action::PageDown => "one page down",
            Action::Top => "first row",
            Action::Bottom => "last row",
            Action::Detail => "open the selected instance's detail (Esc back)",
            Action::Mark => "mark / unmark the row for R, x, e, c",
            Action::MarkAll => "mark every row shown (after the filter)",
            Action::ClearMarks => "clear the marks",
            Action::Search => {
                "a new filter by name, id, account or error (Enter keeps, Esc clears)"
            }
            Action::Sort => "cycle the sort: problems first, name, disconnects, last change",
            Action::StateFilter => "cycle the filter: all, down, up, drifted, then each account",
            Action::Register => "re-register the selected (or marked) instances' webhooks",
            Action::RegisterAll => "re-register every drifted or never-registered instance",
            Action::RegisterAllForce => "re-register every configured instance",
            Action::Refresh => {
                "ask Z-API the status and webhooks of every instance; list the accounts again"
            }
            Action::Connect => "link the number again: its QR code here (or marked, in turn)",
            Action::Restart => "restart the selected (or marked) instances (asks first)",
            Action::Restore => {
                "restore the session of the selected (or marked) instances (asks first)"
            }
            Action::Ack => {
                "acknowledge a down number: no bell or problem until it changes; again undoes"
            }
            Action::CopyId => "copy the selected instance's id to the clipboard (OSC 52)",
            Action::Bell => "turn the bell on new outages on / off",
            Action::Mouse => "turn mouse capture on / off (off: select text to copy)",
            Action::MessageLog => "show / hide the message log (the last 300 notices)",
            Action::Forward => {
                "show / hide the relay's forward targets (Enter dead letters, t retry, d drop)"
            }
            Action::Help => "show / hide this help",
            Action::Quit => "quit",
        }
    }

    fn index(self) -> usize {
        // ALL lists the variants in declaration order.
        self as usize
    }
}

/// One bindable key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    /// A printable character, case-sensitive (`g` is not `G`). Never `' '`
    /// (that is [`Key::Space`]).
    Char(char),
    /// `ctrl-<char>`; ASCII letters are kept lower-case, since terminals send
    /// ctrl-r and ctrl-R alike.
    Ctrl(char),
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    Enter,
    Space,
    Tab,
    Backspace,
    Delete,
    Insert,
    /// F1..F12.
    F(u8),
}

const NAMED: &[(&str, Key)] = &[
    ("up", Key::Up),
    ("down", Key::Down),
    ("left", Key::Left),
    ("right", Key::Right),
    ("pageup", Key::PageUp),
    ("pagedown", Key::PageDown),
    ("home", Key::Home),
    ("end", Key::End),
    ("enter", Key::Enter),
    ("space", Key::Space),
    ("tab", Key::Tab),
    ("backspace", Key::Backspace),
    ("delete", Key::Delete),
    ("insert", Key::Insert),
];

const KEY_GRAMMAR: &str = "a single character, ctrl-<char>, or one of up, down, left, right, \
pageup, pagedown, home, end, enter, space, tab, backspace, delete, insert, f1..f12";

impl Key {
    /// Parses a key spec (see the module docs). The error is a message for the
    /// operator.
    pub fn parse(spec: &str) -> Result<Key, String> {
        let shown = printable(spec, 20);
        let mut chars = spec.chars();
        if let (Some(c), None) = (chars.next(), chars.next()) {
            return match c {
                ' ' => Ok(Key::Space),
                c if c.is_control() || c.is_whitespace() => {
                    Err(format!("`{shown}` is not a key ({KEY_GRAMMAR})"))
                }
                c => Ok(Key::Char(c)),
            };
        }
        let lower = spec.to_lowercase();
        if matches!(lower.as_str(), "esc" | "escape" | "ctrl-c") {
            return Err(format!(
                "`{shown}` is reserved: Esc and ctrl-c always mean back / quit"
            ));
        }
        if let Some(rest) = spec
            .get(..5)
            .filter(|p| p.eq_ignore_ascii_case("ctrl-"))
            .and_then(|_| spec.get(5..))
        {
            let mut cs = rest.chars();
            if let (Some(c), None) = (cs.next(), cs.next())
                && !c.is_control()
                && !c.is_whitespace()
            {
                return Ok(Key::Ctrl(c.to_ascii_lowercase()));
            }
            return Err(format!(
                "`{shown}` is not a key: ctrl- takes one character, as in ctrl-r"
            ));
        }
        if let Some((_, key)) = NAMED.iter().find(|(name, _)| *name == lower) {
            return Ok(*key);
        }
        if let Some(digits) = lower.strip_prefix('f')
            && !digits.starts_with('0')
            && digits.chars().all(|c| c.is_ascii_digit())
            && let Ok(n) = digits.parse::<u8>()
            && (1..=12).contains(&n)
        {
            return Ok(Key::F(n));
        }
        Err(format!("`{shown}` is not a key ({KEY_GRAMMAR})"))
    }

    /// The key as a config file writes it (`"k"`, `"ctrl-r"`, `"pageup"`).
    pub fn spec(self) -> String {
        match self {
            Key::Char(c) => c.to_string(),
            Key::Ctrl(c) => format!("ctrl-{c}"),
            Key::F(n) => format!("f{n}"),
            named => NAMED
                .iter()
                .find(|(_, k)| *k == named)
                .map_or_else(String::new, |(name, _)| (*name).to_string()),
        }
    }

    /// The key this press is, if it can be bound: SHIFT is ignored (crossterm
    /// reports `G` with SHIFT), CONTROL makes a [`Key::Ctrl`], and ALT, SUPER,
    /// HYPER or META make it unbindable.
    fn of_event(event: &KeyEvent) -> Option<Key> {
        let m = event.modifiers;
        if m.intersects(
            KeyModifiers::ALT | KeyModifiers::SUPER | KeyModifiers::HYPER | KeyModifiers::META,
        ) {
            return None;
        }
        if m.contains(KeyModifiers::CONTROL) {
            return match event.code {
                KeyCode::Char(c) if c != ' ' => Some(Key::Ctrl(c.to_ascii_lowercase())),
                _ => None,
            };
        }
        Some(match event.code {
            KeyCode::Char(' ') => Key::Space,
            KeyCode::Char(c) => Key::Char(c),
            KeyCode::Up => Key::Up,
            KeyCode::Down => Key::Down,
            KeyCode::Left => Key::Left,
            KeyCode::Right => Key::Right,
            KeyCode::PageUp => Key::PageUp,
            KeyCode::PageDown => Key::PageDown,
            KeyCode::Home => Key::Home,
            KeyCode::End => Key::End,
            KeyCode::Enter => Key::Enter,
            KeyCode::Tab => Key::Tab,
            KeyCode::Backspace => Key::Backspace,
            KeyCode::Delete => Key::Delete,
            KeyCode::Insert => Key::Insert,
            KeyCode::F(n) if (1..=12).contains(&n) => Key::F(n),
            _ => return None,
        })
    }
}

/// How help and footer hints show the key: `↑`, `k`, `Enter`, `Space`, `ctrl-r`, `PgUp`.
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Char(c) => write!(f, "{c}"),
            Key::Ctrl(c) => write!(f, "ctrl-{c}"),
            Key::Up => f.write_str("↑"),
            Key::Down => f.write_str("↓"),
            Key::Left => f.write_str("←"),
            Key::Right => f.write_str("→"),
            Key::PageUp => f.write_str("PgUp"),
            Key::PageDown => f.write_str("PgDn"),
            Key::Home => f.write_str("Home"),
            Key::End => f.write_str("End"),
            Key::Enter => f.write_str("Enter"),
            Key::Space => f.write_str("Space"),
            Key::Tab => f.write_str("Tab"),
            Key::Backspace => f.write_str("Backspace"),
            Key::Delete => f.write_str("Del"),
            Key::Insert => f.write_str("Ins"),
            Key::F(n) => write!(f, "F{n}"),
        }
    }
}

/// Which keys trigger which action. Every action has at least one key and no
/// key triggers two actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    /// Indexed by [`Action::index`].
    keys: Vec<Vec<Key>>,
}

fn default_keys(a: Action) -> Vec<Key> {
    use Key::*;
    match a {
        Action::Up => vec![Up, Char('k')],
        Action::Down => vec![Down, Char('j')],
        Action::PageUp => vec![PageUp],
        Action::PageDown => vec![PageDown],
        Action::Top => vec![Home, Char('g')],
        Action::Bottom => vec![End, Char('G')],
        Action::Detail => vec![Enter],
        Action::Mark => vec![Space],
        Action::MarkAll => vec![Char('A')],
        Action::ClearMarks => vec![Char('U')],
        Action::Search => vec![Char('/')],
        Action::Sort => vec![Char('o')],
        Action::StateFilter => vec![Char('f')],
        Action::Register => vec![Char('r')],
        Action::RegisterAll => vec![Char('R')],
        Action::RegisterAllForce => vec![Ctrl('r')],
        Action::Refresh => vec![Char('s')],
        Action::Connect => vec![Char('c')],
        Action::Restart => vec![Char('x')],
        Action::Restore => vec![Char('e')],
        Action::Ack => vec![Char('a')],
        Action::CopyId => vec![Char('Y')],
        Action::Bell => vec![Char('b')],
        Action::Mouse => vec![Char('m')],
        Action::MessageLog => vec![Char('l')],
        Action::Forward => vec![Char('F')],
        Action::Help => vec![Char('?')],
        Action::Quit => vec![Char('q')],
    }
}

impl Default for Keymap {
    /// up=[up,k] down=[down,j] page_up=[pageup] page_down=[pagedown]
    /// top=[home,g] bottom=[end,G] detail=[enter] mark=[space] mark_all=[A]
    /// clear_marks=[U] search=[/] sort=[o] state_filter=[f] register=[r]
    /// register_all=[R] register_all_force=[ctrl-r] refresh=[s] connect=[c]
    /// restart=[x]
    /// restore=[e] ack=[a] copy_id=[Y] bell=[b] mouse=[m] message_log=[l]
    /// forward_targets=[F]
    /// help=[?] quit=[q]
    fn default() -> Self {
        Keymap {
            keys: Action::ALL.iter().map(|a| default_keys(*a)).collect(),
        }
    }
}

impl Keymap {
    /// Applies a `[keys]` table over the defaults: each entry is
    /// `action = "key"` or `action = ["key", "key"]` and replaces that
    /// action's defaults.
    ///
    /// Errors are (key path, message), e.g. `("keys.regster", "unknown
    /// action; known: up, down, …")`: an unknown action, a value that is not
    /// a string or an array of strings, an unparsable key spec, an empty
    /// list, a reserved key (Esc, ctrl-c), or one key bound to two actions
    /// after the merge.
    pub fn from_table(table: &toml::Table) -> Result<Keymap, (String, String)> {
        let mut map = Keymap::default();
        let mut set_by_table = vec![false; Action::ALL.len()];
        for (name, value) in table {
            let path = format!("keys.{}", printable(name, 40));
            let Some(action) = Action::from_name(name) else {
                let known: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
                return Err((path, format!("unknown action; known: {}", known.join(", "))));
            };
            let keys = match value {
                toml::Value::String(spec) => vec![Key::parse(spec).map_err(|m| (path.clone(), m))?],
                toml::Value::Array(items) => {
                    if items.is_empty() {
                        return Err((
                            path,
                            "must list at least one key (leave it out to keep the default)".into(),
                        ));
                    }
                    let mut keys = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        let item_path = format!("{path}[{i}]");
                        let toml::Value::String(spec) = item else {
                            return Err((item_path, not_a_key_value(item)));
                        };
                        let key = Key::parse(spec).map_err(|m| (item_path, m))?;
                        if !keys.contains(&key) {
                            keys.push(key);
                        }
                    }
                    keys
                }
                other => return Err((path, not_a_key_value(other))),
            };
            map.keys[action.index()] = keys;
            set_by_table[action.index()] = true;
        }

        // One key, one action.
        let mut owner: Vec<(Key, Action)> = Vec::new();
        for &action in Action::ALL {
            for &key in &map.keys[action.index()] {
                if let Some(&(_, first)) = owner.iter().find(|(k, _)| *k == key) {
                    // Blame an action the table set (the defaults never clash).
                    let blamed = if set_by_table[action.index()] {
                        action
                    } else {
                        first
                    };
                    return Err((
                        format!("keys.{}", blamed.name()),
                        format!(
                            "`{}` is bound to both {} and {}",
                            key.spec(),
                            first.name(),
                            action.name()
                        ),
                    ));
                }
                owner.push((key, action));
            }
        }
        Ok(map)
    }

    /// The action bound to this key press, if any. Char keys match regardless
    /// of SHIFT (crossterm reports `G` with SHIFT); `ctrl-x` bindings match
    /// only with CONTROL; ALT (or SUPER, HYPER, META) never matches. Esc and
    /// ctrl-c are never bound: the caller handles them. The caller also
    /// filters the event kind (only presses).
    pub fn action(&self, key: &KeyEvent) -> Option<Action> {
        let key = Key::of_event(key)?;
        Action::ALL
            .iter()
            .copied()
            .find(|a| self.keys[a.index()].contains(&key))
    }

    /// The keys bound to `a`, in order.
    pub fn keys(&self, a: Action) -> &[Key] {
        self.keys.get(a.index()).map_or(&[], Vec::as_slice)
    }

    /// How the keys of an action are shown in help and footer hints:
    /// `"↑ / k"`, `"Enter"`, `"Space"`, `"ctrl-r"`, `"PgUp"`.
    pub fn keys_of(&self, a: Action) -> String {
        self.keys(a)
            .iter()
            .map(Key::to_string)
            .collect::<Vec<_>>()
            .join(" / ")
    }

    /// (keys, description) for every action, in [`Action::ALL`] order.
    pub fn help(&self) -> Vec<(String, &'static str)> {
        Action::ALL
            .iter()
            .map(|a| (self.keys_of(*a), a.describe()))
            .collect()
    }
}

fn not_a_key_value(value: &toml::Value) -> String {
    format!(
        "must be a key like \"k\" or a list like [\"up\", \"k\"], not a {}",
        value.type_str()
    )
}

/// `s` without control characters, at most `max` characters: safe in a one-line error.
fn printable(s: &str, max: usize) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() > max {
        let mut short: String = clean.chars().take(max).collect();
        short.push('…');
        short
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README, the example config and `?` (built from the keymap)
    /// say the same about every key: each action is in the README's keys
    /// table under its default keys, in its `[keys]` list by name, and in
    /// the example config ready to uncomment.
    #[test]
    fn readme_and_example_config_name_every_action_and_its_keys() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
        let example = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/config.example.toml"
        ));
        // the first cell of every row of the README's tables
        let key_cells: Vec<&str> = readme
            .lines()
            .filter_map(|l| l.strip_prefix("| "))
            .filter_map(|l| l.split(" |").next())
            .collect();
        let keymap = Keymap::default();
        for a in Action::ALL {
            for key in keymap.keys(*a) {
                let quoted = format!("`{key}`");
                assert!(
                    key_cells.iter().any(|c| c.contains(&quoted)),
                    "README's keys table has no row for {quoted} ({})",
                    a.name()
                );
            }
            let listed = format!("`{}` (", a.name());
            assert!(
                readme.contains(&listed),
                "README's [keys] list lacks {listed}"
            );
            let commented = format!("# {} = ", a.name());
            assert!(
                example.contains(&commented),
                "config.example.toml lacks {commented}"
            );
        }
    }
    use crossterm::event::{KeyEventKind, KeyEventState};

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent {
            code,
            modifiers,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        }
    }

    fn ch(c: char) -> KeyEvent {
        press(KeyCode::Char(c), KeyModifiers::NONE)
    }

    fn table(text: &str) -> toml::Table {
        text.parse::<toml::Table>().unwrap()
    }

    fn map(text: &str) -> Result<Keymap, (String, String)> {
        Keymap::from_table(&table(text))
    }

    #[test]
    fn all_lists_every_action_once_in_declaration_order() {
        for (i, a) in Action::ALL.iter().enumerate() {
            assert_eq!(a.index(), i, "{a:?}");
            assert_eq!(Action::from_name(a.name()), Some(*a));
            assert!(!a.describe().is_empty());
        }
        assert_eq!(Action::ALL.len(), 28);
        assert_eq!(Action::ALL.first(), Some(&Action::Up));
        assert_eq!(Action::ALL.last(), Some(&Action::Quit));
        assert_eq!(Action::from_name("Up"), None);
    }

    #[test]
    fn defaults_resolve() {
        let k = Keymap::default();
        let plain = KeyModifiers::NONE;
        let cases = [
            (press(KeyCode::Up, plain), Action::Up),
            (ch('k'), Action::Up),
            (press(KeyCode::Down, plain), Action::Down),
            (ch('j'), Action::Down),
            (press(KeyCode::PageUp, plain), Action::PageUp),
            (press(KeyCode::PageDown, plain), Action::PageDown),
            (press(KeyCode::Home, plain), Action::Top),
            (ch('g'), Action::Top),
            (press(KeyCode::End, plain), Action::Bottom),
            (
                press(KeyCode::Char('G'), KeyModifiers::SHIFT),
                Action::Bottom,
            ),
            (press(KeyCode::Enter, plain), Action::Detail),
            (ch(' '), Action::Mark),
            (
                press(KeyCode::Char('A'), KeyModifiers::SHIFT),
                Action::MarkAll,
            ),
            (ch('U'), Action::ClearMarks),
            (ch('a'), Action::Ack),
            (
                press(KeyCode::Char('Y'), KeyModifiers::SHIFT),
                Action::CopyId,
            ),
            (ch('/'), Action::Search),
            (ch('o'), Action::Sort),
            (ch('f'), Action::StateFilter),
            (ch('r'), Action::Register),
            (
                press(KeyCode::Char('R'), KeyModifiers::SHIFT),
                Action::RegisterAll,
            ),
            (
                press(KeyCode::Char('r'), KeyModifiers::CONTROL),
                Action::RegisterAllForce,
            ),
            (ch('s'), Action::Refresh),
            (ch('c'), Action::Connect),
            (ch('x'), Action::Restart),
            (ch('e'), Action::Restore),
            (ch('b'), Action::Bell),
            (ch('m'), Action::Mouse),
            (ch('?'), Action::Help),
            (ch('q'), Action::Quit),
        ];
        for (event, action) in cases {
            assert_eq!(k.action(&event), Some(action), "{event:?}");
        }
        // Every action is reachable with the defaults.
        for a in Action::ALL {
            assert!(!k.keys(*a).is_empty(), "{a:?}");
        }
        assert_eq!(k.action(&ch('z')), None);
        assert_eq!(k.action(&press(KeyCode::Esc, plain)), None);
        assert_eq!(
            k.action(&press(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            None
        );
        assert_eq!(map("").unwrap(), k);
    }

    #[test]
    fn shift_is_ignored_for_chars_and_case_still_matters() {
        let k = Keymap::default();
        // Some terminals report 'G' without SHIFT, crossterm with it: both are G.
        assert_eq!(k.action(&ch('G')), Some(Action::Bottom));
        assert_eq!(
            k.action(&press(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Action::Bottom)
        );
        assert_eq!(
            k.action(&press(KeyCode::Char('?'), KeyModifiers::SHIFT)),
            Some(Action::Help)
        );
        // g and G are different keys.
        assert_eq!(k.action(&ch('g')), Some(Action::Top));
        assert_eq!(k.action(&ch('R')), Some(Action::RegisterAll));
        assert_eq!(k.action(&ch('r')), Some(Action::Register));
    }

    #[test]
    fn ctrl_r_is_not_r_and_alt_never_matches() {
        let k = Keymap::default();
        let ctrl = KeyModifiers::CONTROL;
        assert_eq!(
            k.action(&press(KeyCode::Char('r'), ctrl)),
            Some(Action::RegisterAllForce)
        );
        // ctrl-shift-r is still ctrl-r (terminals send the same byte).
        assert_eq!(
            k.action(&press(KeyCode::Char('R'), ctrl | KeyModifiers::SHIFT)),
            Some(Action::RegisterAllForce)
        );
        // A plain binding never fires with CONTROL.
        assert_eq!(k.action(&press(KeyCode::Char('q'), ctrl)), None);
        assert_eq!(k.action(&press(KeyCode::Up, ctrl)), None);
        // ALT (and friends) never match, plain or ctrl.
        for m in [
            KeyModifiers::ALT,
            KeyModifiers::ALT | ctrl,
            KeyModifiers::SUPER,
            KeyModifiers::META,
        ] {
            assert_eq!(k.action(&press(KeyCode::Char('r'), m)), None, "{m:?}");
            assert_eq!(k.action(&press(KeyCode::Char('q'), m)), None, "{m:?}");
        }
        assert_eq!(k.action(&press(KeyCode::Up, KeyModifiers::ALT)), None);
    }

    #[test]
    fn remaps_replace_the_defaults_of_the_named_action_only() {
        let k = map(
            "quit = \"Q\"\nup = [\"up\", \"w\"]\ndown = [\"DOWN\", \"s\"]\nrefresh = \"F5\"\n\
             register_all_force = \"Ctrl-U\"\nhelp = [\"h\", \"?\"]\nmark = \"tab\"\n",
        )
        .unwrap();
        assert_eq!(k.action(&ch('Q')), Some(Action::Quit));
        assert_eq!(k.action(&ch('q')), None);
        assert_eq!(k.action(&ch('w')), Some(Action::Up));
        assert_eq!(k.action(&ch('k')), None);
        assert_eq!(k.action(&ch('s')), Some(Action::Down));
        assert_eq!(
            k.action(&press(KeyCode::F(5), KeyModifiers::NONE)),
            Some(Action::Refresh)
        );
        assert_eq!(
            k.action(&press(KeyCode::Char('u'), KeyModifiers::CONTROL)),
            Some(Action::RegisterAllForce)
        );
        assert_eq!(
            k.action(&press(KeyCode::Char('r'), KeyModifiers::CONTROL)),
            None
        );
        assert_eq!(k.action(&ch('h')), Some(Action::Help));
        assert_eq!(
            k.action(&press(KeyCode::Tab, KeyModifiers::NONE)),
            Some(Action::Mark)
        );
        assert_eq!(k.action(&ch(' ')), None);
        // Untouched actions keep their defaults.
        assert_eq!(k.action(&ch('r')), Some(Action::Register));
        assert_eq!(k.keys_of(Action::Top), "Home / g");
        assert_eq!(k.keys_of(Action::Up), "↑ / w");
        assert_eq!(k.keys_of(Action::RegisterAllForce), "ctrl-u");
    }

    #[test]
    fn moving_a_default_key_to_another_action_works_when_both_are_rebound() {
        let k = map("register = \"x\"\nrestart = \"r\"\n").unwrap();
        assert_eq!(k.action(&ch('x')), Some(Action::Register));
        assert_eq!(k.action(&ch('r')), Some(Action::Restart));
    }

    #[test]
    fn every_key_spec_parses() {
        let named = [
            ("up", Key::Up),
            ("Down", Key::Down),
            ("LEFT", Key::Left),
            ("right", Key::Right),
            ("PageUp", Key::PageUp),
            ("pagedown", Key::PageDown),
            ("home", Key::Home),
            ("end", Key::End),
            ("Enter", Key::Enter),
            ("space", Key::Space),
            (" ", Key::Space),
            ("tab", Key::Tab),
            ("backspace", Key::Backspace),
            ("delete", Key::Delete),
            ("insert", Key::Insert),
            ("f1", Key::F(1)),
            ("F12", Key::F(12)),
            ("g", Key::Char('g')),
            ("G", Key::Char('G')),
            ("/", Key::Char('/')),
            ("é", Key::Char('é')),
            ("ctrl-r", Key::Ctrl('r')),
            ("CTRL-R", Key::Ctrl('r')),
            ("ctrl-/", Key::Ctrl('/')),
        ];
        for (spec, key) in named {
            assert_eq!(Key::parse(spec), Ok(key), "{spec:?}");
            // spec() round-trips.
            assert_eq!(Key::parse(&key.spec()), Ok(key), "{spec:?}");
        }
        for bad in [
            "",
            "f0",
            "f13",
            "f01",
            "f+1",
            "ctrl-",
            "ctrl-ab",
            "ctrl- ",
            "alt-x",
            "shift-g",
            "pgup",
            "\n",
            "\t",
            "upp",
            "ctrl-space",
        ] {
            let e = Key::parse(bad).unwrap_err();
            assert!(!e.contains('\n'), "{bad:?}: {e}");
        }
    }

    #[test]
    fn display_is_what_help_shows() {
        let k = Keymap::default();
        assert_eq!(k.keys_of(Action::Up), "↑ / k");
        assert_eq!(k.keys_of(Action::Down), "↓ / j");
        assert_eq!(k.keys_of(Action::PageUp), "PgUp");
        assert_eq!(k.keys_of(Action::PageDown), "PgDn");
        assert_eq!(k.keys_of(Action::Bottom), "End / G");
        assert_eq!(k.keys_of(Action::Detail), "Enter");
        assert_eq!(k.keys_of(Action::Mark), "Space");
        assert_eq!(k.keys_of(Action::RegisterAllForce), "ctrl-r");
        let help = k.help();
        assert_eq!(help.len(), Action::ALL.len());
        assert_eq!(help[0], ("↑ / k".to_string(), "select the row above"));
        assert_eq!(
            help[6],
            (
                "Enter".to_string(),
                "open the selected instance's detail (Esc back)"
            )
        );
        assert_eq!(help.last(), Some(&("q".to_string(), "quit")));
        for (key, shown) in [
            (Key::Left, "←"),
            (Key::Right, "→"),
            (Key::Tab, "Tab"),
            (Key::Backspace, "Backspace"),
            (Key::Delete, "Del"),
            (Key::Insert, "Ins"),
            (Key::F(7), "F7"),
        ] {
            assert_eq!(key.to_string(), shown);
        }
    }

    #[test]
    fn unknown_action_is_named_and_lists_the_known_ones() {
        let (path, msg) = map("regster = \"r\"").unwrap_err();
        assert_eq!(path, "keys.regster");
        assert!(
            msg.starts_with("unknown action; known: up, down, page_up"),
            "{msg}"
        );
        assert!(msg.ends_with("help, quit"), "{msg}");
        // A weird (quoted) table key cannot break the one-line error.
        let (path, _) = map("\"a\\nb\" = \"r\"").unwrap_err();
        assert!(!path.contains('\n'), "{path}");
    }

    #[test]
    fn wrong_value_types_are_refused() {
        let (path, msg) = map("quit = 1").unwrap_err();
        assert_eq!(path, "keys.quit");
        assert!(msg.contains("must be a key like"), "{msg}");
        let (path, _) = map("quit = true").unwrap_err();
        assert_eq!(path, "keys.quit");
        let (path, _) = map("quit = { a = 1 }").unwrap_err();
        assert_eq!(path, "keys.quit");
        let (path, msg) = map("up = [\"k\", 3]").unwrap_err();
        assert_eq!(path, "keys.up[1]");
        assert!(msg.contains("integer"), "{msg}");
        let (path, _) = map("up = [[\"k\"]]").unwrap_err();
        assert_eq!(path, "keys.up[0]");
    }

    #[test]
    fn unparsable_and_empty_are_refused() {
        let (path, msg) = map("quit = \"qq\"").unwrap_err();
        assert_eq!(path, "keys.quit");
        assert!(msg.contains("`qq` is not a key"), "{msg}");
        let (path, _) = map("quit = \"\"").unwrap_err();
        assert_eq!(path, "keys.quit");
        let (path, _) = map("up = [\"up\", \"pgup\"]").unwrap_err();
        assert_eq!(path, "keys.up[1]");
        let (path, msg) = map("up = []").unwrap_err();
        assert_eq!(path, "keys.up");
        assert!(msg.contains("at least one key"), "{msg}");
    }

    #[test]
    fn reserved_keys_are_refused() {
        for spec in ["esc", "Esc", "escape", "ctrl-c", "CTRL-C"] {
            let (path, msg) = map(&format!("quit = \"{spec}\"")).unwrap_err();
            assert_eq!(path, "keys.quit", "{spec}");
            assert!(msg.contains("reserved"), "{spec}: {msg}");
        }
        let (path, _) = map("help = [\"h\", \"esc\"]").unwrap_err();
        assert_eq!(path, "keys.help[1]");
    }

    #[test]
    fn a_key_bound_twice_is_refused_and_names_both_actions() {
        // With a default.
        let (path, msg) = map("restart = \"r\"").unwrap_err();
        assert_eq!(path, "keys.restart");
        assert_eq!(msg, "`r` is bound to both register and restart");
        // The table's action is blamed even when it comes first in help order.
        let (path, msg) = map("up = [\"up\", \"q\"]").unwrap_err();
        assert_eq!(path, "keys.up");
        assert_eq!(msg, "`q` is bound to both up and quit");
        // Between two entries of the table.
        let (path, msg) = map("sort = \"z\"\nbell = \"z\"").unwrap_err();
        assert_eq!(path, "keys.bell");
        assert_eq!(msg, "`z` is bound to both sort and bell");
        // Named keys and ctrl keys clash too; case is a different key.
        let (_, msg) = map("refresh = \"Enter\"").unwrap_err();
        assert_eq!(msg, "`enter` is bound to both detail and refresh");
        let (_, msg) = map("bell = \"ctrl-R\"").unwrap_err();
        assert_eq!(msg, "`ctrl-r` is bound to both register_all_force and bell");
        assert!(map("bell = \"B\"").is_ok());
        // The same key twice in one action is harmless.
        let k = map("bell = [\"b\", \"b\"]").unwrap();
        assert_eq!(k.keys_of(Action::Bell), "b");
    }

    #[test]
    fn the_readme_examples_hold() {
        let k = map(
            "quit = \"Q\"\nup = [\"up\", \"w\"]\ndown = [\"down\", \"s\"]\nrefresh = \"f5\"\n\
             register_all_force = \"ctrl-u\"\n",
        )
        .unwrap();
        assert_eq!(k.action(&ch('s')), Some(Action::Down));
        assert_eq!(k.action(&ch('k')), None);
        let (path, msg) = map("down = [\"down\", \"s\"]").unwrap_err();
        assert_eq!(path, "keys.down");
        assert_eq!(msg, "`s` is bound to both down and refresh");
    }
}
