//! A blank [`Setup`] to build on: tests and examples write only the fields
//! they care about (`Setup { can_query_status: true, ..Setup::default() }`)
//! instead of every field, so a new field does not touch every test.

use crate::app::{Setup, TimeZone};

/// No listener address shown, no config file, no instances, local time, no
/// banner or warnings, and no status calls (`can_query_status: false`, as
/// without a Client-Token); nothing is missing for registration.
impl Default for Setup {
    fn default() -> Self {
        Setup {
            listen: String::new(),
            secret_paths: false,
            config_file: None,
            instances: Vec::new(),
            missing_for_register: None,
            can_query_status: false,
            tz: TimeZone::Local,
            banner: None,
            warnings: Vec::new(),
        }
    }
}
