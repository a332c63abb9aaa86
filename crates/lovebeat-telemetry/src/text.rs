//! OpenMetrics text, as prometheus-client writes it, into the Prometheus
//! text format 0.0.4, for scrapers that do not ask for OpenMetrics (curl,
//! `promtool check metrics`, older Prometheus servers).
//!
//! For what lovebeat exposes (counters, gauges, histograms; no units,
//! exemplars or `_created` samples) the formats differ in two ways only: a
//! counter family is named after its `_total` samples, and there is no
//! `# EOF` line.

/// The 0.0.4 form of an OpenMetrics exposition.
pub(super) fn downgrade(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len() + 1024);
    let mut lines = openmetrics.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let Some(help) = line.strip_prefix("# HELP ") else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let (name, text) = help.split_once(' ').unwrap_or((help, ""));
        let is_counter = lines
            .peek()
            .and_then(|next| next.strip_prefix("# TYPE "))
            .is_some_and(|t| t.strip_prefix(name) == Some(" counter"));
        if is_counter {
            lines.next();
            out.push_str(&format!(
                "# HELP {name}_total {text}\n# TYPE {name}_total counter\n"
            ));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_families_take_the_sample_name() {
        let om = "# HELP lovebeat_beats Accepted beats.\n# TYPE lovebeat_beats counter\nlovebeat_beats_total 3\n# HELP up Up.\n# TYPE up gauge\nup 1\n# EOF\n";
        assert_eq!(
            downgrade(om),
            "# HELP lovebeat_beats_total Accepted beats.\n# TYPE lovebeat_beats_total counter\nlovebeat_beats_total 3\n# HELP up Up.\n# TYPE up gauge\nup 1\n"
        );
    }

    #[test]
    fn a_counter_prefix_of_another_family_is_not_confused() {
        let om = "# HELP a Help.\n# TYPE ab counter\nab_total 1\n";
        assert_eq!(downgrade(om), om);
    }

    #[test]
    fn histograms_and_units_lines() {
        let om = "# HELP d Took.\n# TYPE d histogram\n# UNIT d seconds\nd_sum 0.0\nd_count 0\nd_bucket{le=\"+Inf\"} 0\n# EOF\n";
        assert_eq!(
            downgrade(om),
            "# HELP d Took.\n# TYPE d histogram\nd_sum 0.0\nd_count 0\nd_bucket{le=\"+Inf\"} 0\n"
        );
    }
}
