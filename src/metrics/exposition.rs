//! The two text formats `GET /metrics` answers in, and which one a client
//! gets.
//!
//! [`prometheus_client`] writes only OpenMetrics. Prometheus asks for it
//! (its `Accept` header puts `application/openmetrics-text` first), but
//! `promtool check metrics`, `curl` and most other readers expect the
//! classic text format (version 0.0.4). So the answer is negotiated
//! ([`negotiate`]): OpenMetrics for a client whose `Accept` prefers it,
//! the text format for anything else, a missing or unreadable header
//! included. [`to_text_format`] converts the registry's OpenMetrics output.

/// The formats of the exposition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text: counters' families without `_total`, `# EOF`.
    OpenMetrics,
    /// Prometheus' classic text format 0.0.4.
    Text,
}

impl Format {
    /// The `Content-Type` of an answer in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// The format for a request with this `Accept` header: OpenMetrics when
/// the client accepts `application/openmetrics-text` at least as much as
/// the text format (its `q` is higher or equal, and not 0), else the text
/// format. Media ranges that do not parse are ignored.
pub fn negotiate(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::Text;
    };
    let (mut openmetrics, mut text) = (0.0f32, 0.0f32);
    for range in accept.split(',') {
        let Ok(mime) = range.trim().parse::<mime::Mime>() else {
            continue;
        };
        let q = mime
            .get_param("q")
            .and_then(|q| q.as_str().parse::<f32>().ok())
            .filter(|q| (0.0..=1.0).contains(q))
            .unwrap_or(1.0);
        let (ty, sub) = (mime.type_().as_str(), mime.subtype().as_str());
        match (ty, sub) {
            ("application", "openmetrics-text") => openmetrics = openmetrics.max(q),
            ("text", "plain") | ("text", "*") | ("*", "*") => text = text.max(q),
            _ => {}
        }
    }
    if openmetrics > 0.0 && openmetrics >= text {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

/// The classic text format (0.0.4) of an OpenMetrics exposition as
/// [`prometheus_client`] writes it: a counter family `x` (whose samples are
/// `x_total`) is declared as `x_total`, its `x_created` samples are dropped,
/// `# UNIT` and `# EOF` lines are dropped, `unknown` becomes `untyped`;
/// everything else (gauges, labels, values) is the same in both formats.
/// (No metric here carries exemplars, which the text format cannot hold.)
pub fn to_text_format(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let text = if let Some(rest) = line.strip_prefix("# HELP ") {
            descriptor("# HELP ", rest, &counters)
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let rest = rest
                .strip_suffix(" unknown")
                .map_or_else(|| rest.to_owned(), |name| format!("{name} untyped"));
            descriptor("# TYPE ", &rest, &counters)
        } else if is_created(line, &counters) {
            continue;
        } else {
            line.to_owned()
        };
        out.push_str(&text);
        out.push('\n');
    }
    out
}

/// A `# HELP`/`# TYPE` line (`prefix` then `rest`, which starts with the
/// family's name) with a counter family's name given its `_total`.
fn descriptor(prefix: &str, rest: &str, counters: &std::collections::HashSet<&str>) -> String {
    let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    if counters.contains(name) {
        format!("{prefix}{name}_total {tail}")
    } else {
        format!("{prefix}{rest}")
    }
}

/// Whether `line` is a sample `<counter>_created…` of one of `counters`.
fn is_created(line: &str, counters: &std::collections::HashSet<&str>) -> bool {
    let name = line.split(['{', ' ']).next().unwrap_or("");
    name.strip_suffix("_created")
        .is_some_and(|family| counters.contains(family))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_gets_openmetrics_others_the_text_format() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(negotiate(None), Format::Text);
        assert_eq!(negotiate(Some("*/*")), Format::Text);
        assert_eq!(negotiate(Some("")), Format::Text);
        assert_eq!(
            negotiate(Some("application/openmetrics-text;q=0")),
            Format::Text
        );
        assert_eq!(
            negotiate(Some("application/openmetrics-text;q=nonsense")),
            Format::OpenMetrics
        );
        assert_eq!(
            negotiate(Some("text/plain, application/openmetrics-text;q=0.5")),
            Format::Text
        );
    }

    #[test]
    fn counters_are_declared_with_total_and_the_rest_is_dropped() {
        let om = "# HELP a_seconds How long.\n# TYPE a_seconds counter\n# UNIT a_seconds seconds\n\
                  a_seconds_total{x=\"y z\"} 3\na_seconds_created{x=\"y z\"} 1.5\n\
                  # HELP g A gauge.\n# TYPE g gauge\ng 1\n# HELP u What.\n# TYPE u unknown\nu 2\n# EOF\n";
        assert_eq!(
            to_text_format(om),
            "# HELP a_seconds_total How long.\n# TYPE a_seconds_total counter\n\
             a_seconds_total{x=\"y z\"} 3\n\
             # HELP g A gauge.\n# TYPE g gauge\ng 1\n# HELP u What.\n# TYPE u untyped\nu 2\n"
        );
    }
}
