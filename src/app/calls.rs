//! The calls the operator starts in bulk or one at a time: `/status` of all,
//! registering the webhooks of one, the drifted or all.

use super::outcomes::Outcomes;
use super::*;
use crate::words::count;

impl App {
    /// `/status` (and `/me`) of every configured instance as one batch;
    /// `own`: the operator's `s` (its summary goes to the operator's
    /// footer slot), else the start's (the background slot).
    pub(super) fn fetch_all_status(&mut self, own: bool) -> Vec<Command> {
        if self.ops.status_batch.is_some() {
            self.notify(Level::Info, "status refresh already running");
            return Vec::new();
        }
        let mut cmds = Vec::new();
        let hooks = self.settings.can_check_hooks;
        let polled: Vec<bool> = self
            .fleet
            .instances
            .iter()
            .map(|i| self.fleet.polled(i))
            .collect();
        let rows = self.fleet.instances.iter_mut().zip(&polled);
        for inst in rows.filter(|(_, polled)| **polled).map(|(i, _)| i) {
            if inst.status != StatusCheck::Pending {
                inst.status = StatusCheck::Pending;
                cmds.push(Command::FetchStatus(inst.id.clone()));
            }
            // `/me` too: which URLs Z-API sends the webhooks to (drift)
            if hooks && inst.hooks != HookCheck::Pending {
                inst.hooks = HookCheck::Pending;
                cmds.push(Command::FetchHooks(inst.id.clone()));
            }
        }
        // A call already in flight reports back too, so it counts in the batch.
        let total = polled.iter().filter(|p| **p).count();
        if total > 0 {
            self.ops.status_batch = Some(Batch {
                total,
                ..Batch::default()
            });
            self.ops.status_outcomes = (Outcomes::default(), own);
            let text = format!("asking Z-API the status of {}…", count(total, "instance"));
            if own {
                self.notify(Level::Info, text);
            } else {
                self.notify_background(Level::Info, text);
            }
        }
        cmds
    }

    pub(super) fn register_blocked(&mut self) -> bool {
        if let Some(missing) = self.setup.missing_for_register {
            let how = if missing == "client_token" {
                " (or ZAPI_CLIENT_TOKEN)"
            } else {
                " (or --public-url)"
            };
            self.notify(
                Level::Warn,
                format!("nothing sent: set {missing} in the config{how} to re-register webhooks"),
            );
            return true;
        }
        false
    }

    /// `r`: the marked instances, else the selected (or detail) one.
    pub(super) fn register_selected(&mut self) -> Vec<Command> {
        let targets = self.targets();
        let Some(&first) = targets.first() else {
            self.notify(Level::Info, "no instance selected");
            return Vec::new();
        };
        if self.register_blocked() {
            return Vec::new();
        }
        if targets.len() > 1 {
            self.view.marked.clear();
            self.ops.register_notes = RegisterNotes {
                marked: true,
                ..RegisterNotes::default()
            };
            return self.register_batch_of(targets);
        }
        let inst = &self.fleet.instances[first];
        let label = inst.label().to_string();
        let configured = inst.configured;
        let text = if !configured {
            format!(
                "{label} is not configured: add its id and token to the config to re-register it"
            )
        } else if inst.registration == Registration::Pending {
            format!("{label}: registration already running")
        } else if self.guard_register(&[first], false) {
            return Vec::new();
        } else {
            let inst = &mut self.fleet.instances[first];
            inst.registration = Registration::Pending;
            let id = inst.id.clone();
            self.view.marked.clear();
            self.notify(Level::Info, format!("registering webhooks of {label}…"));
            return vec![Command::Register(id)];
        };
        let level = if configured { Level::Info } else { Level::Warn };
        self.notify(level, text);
        Vec::new()
    }

    /// `R`: among the marked instances if any, else among every configured
    /// one, those whose webhooks are not known to point here (drifted,
    /// never registered, failed); the others are counted in the summary as
    /// already pointing here. `force` (`ctrl-r`): every configured instance.
    pub(super) fn register_all(&mut self, force: bool) -> Vec<Command> {
        if self.register_blocked() {
            return Vec::new();
        }
        let marked = !force && !self.view.marked.is_empty();
        let pool: Vec<usize> = if marked {
            let targets = self.targets();
            self.view.marked.clear();
            targets
        } else {
            (0..self.fleet.instances.len()).collect()
        };
        let configured: Vec<usize> = pool
            .into_iter()
            .filter(|&n| self.fleet.instances[n].configured)
            .collect();
        let (targets, here): (Vec<usize>, Vec<usize>) = configured
            .iter()
            .partition(|&&n| force || health::hooks_here(&self.fleet.instances[n]) != Some(true));
        if targets.is_empty() && !here.is_empty() {
            let text = if marked {
                format!(
                    "nothing sent: {} already {} here ({} re-registers anyway)",
                    count(here.len(), "marked instance"),
                    crate::words::count_of(here.len(), "points", "point"),
                    self.settings.keys.keys_of(Action::Register)
                )
            } else {
                format!(
                    "every instance's webhooks point here already ({} forces all)",
                    self.settings.keys.keys_of(Action::RegisterAllForce)
                )
            };
            self.notify(Level::Ok, text);
            return Vec::new();
        }
        self.ops.register_notes = RegisterNotes {
            already_here: here.len(),
            marked,
            ..RegisterNotes::default()
        };
        self.register_batch_of(targets)
    }

    pub(super) fn register_batch_of(&mut self, targets: Vec<usize>) -> Vec<Command> {
        if self.ops.register_batch.is_some() {
            self.notify(Level::Info, "re-registration already running");
            return Vec::new();
        }
        // another system's webhook URLs are replaced only after `y`
        if self.guard_register(&targets, true) {
            return Vec::new();
        }
        self.send_register_batch(targets, &HashSet::new())
    }

    /// Registers `targets` as one batch; those in `replacing` were
    /// confirmed to replace another system's URL.
    pub(super) fn send_register_batch(
        &mut self,
        targets: Vec<usize>,
        replacing: &HashSet<InstanceId>,
    ) -> Vec<Command> {
        let mut cmds = Vec::new();
        let mut total = 0;
        for i in targets {
            let inst = &mut self.fleet.instances[i];
            if !inst.configured {
                continue;
            }
            total += 1;
            if inst.registration != Registration::Pending {
                inst.registration = Registration::Pending;
                let replace = replacing.contains(&inst.id);
                cmds.push(register_guard::register_command(inst.id.clone(), replace));
            }
        }
        // A registration already in flight reports back too, so it counts in the batch.
        if total == 0 {
            self.notify(Level::Info, "no configured instance to register");
        } else {
            self.ops.register_batch = Some(Batch {
                total,
                ..Batch::default()
            });
            self.ops.register_notes.outcomes = Outcomes::default();
            self.ops.register_notes.left_foreign = 0;
            self.notify(
                Level::Info,
                format!("registering the webhooks of {}…", count(total, "instance")),
            );
        }
        cmds
    }
}
