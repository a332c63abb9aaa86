//! A strict parser of the Prometheus text exposition format 0.0.4 and of
//! OpenMetrics 1.0 text, for checking `/metrics`: every line must be a
//! valid `# HELP`, `# TYPE` or sample line, every sample must belong to
//! the family declared just before it, no family or series may appear
//! twice, and histograms must be cumulative and complete. Anything else
//! fails with the line number.

use std::collections::{BTreeMap, BTreeSet};

/// The two text formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's own name (`x_total`, `x_bucket`…).
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub kind: String,
    pub help: String,
    pub samples: Vec<Sample>,
}

/// A parsed exposition: families by name.
#[derive(Debug, Default)]
pub struct Exposition {
    pub families: BTreeMap<String, Family>,
}

impl Exposition {
    /// The samples named `name` (in any family).
    pub fn samples<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.families
            .values()
            .flat_map(|f| f.samples.iter())
            .filter(move |s| s.name == name)
    }

    /// The value of the sample `name` with exactly `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples(name)
            .find(|s| s.labels == wanted)
            .map(|s| s.value)
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if text
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) =>
        {
            text.parse().map_err(|_| format!("bad value {text:?}"))
        }
        _ => Err(format!("bad value {text:?}")),
    }
}

/// `{a="1",b="x"}` at the start of `text`; returns the labels and the rest.
fn parse_labels(text: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = text.strip_prefix('{').expect("called on '{'");
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("a label without '='")?;
        let name = &rest[..eq];
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("a label value must be quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape in a label value: {other:?}")),
                },
                Some((_, c)) => value.push(c),
                None => return Err("an unterminated label value".into()),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = &rest[end + 1..];
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err("labels must be separated by ','".into());
        }
    }
}

/// The family a sample name belongs to, given the current family.
fn belongs(sample: &str, family: &str, kind: &str, format: Format) -> bool {
    let suffixes: &[&str] = match (kind, format) {
        ("counter", Format::OpenMetrics) => &["_total", "_created"],
        ("counter", Format::Text) => &[""],
        ("histogram", _) => &["_bucket", "_sum", "_count", "_created"],
        ("summary", _) => &["", "_sum", "_count", "_created"],
        _ => &[""],
    };
    suffixes
        .iter()
        .any(|s| sample.strip_suffix(s) == Some(family))
}

/// Parses `text`; the error names the 1-based line.
pub fn parse(text: &str, format: Format) -> Result<Exposition, String> {
    let mut exposition = Exposition::default();
    let mut current: Option<String> = None;
    let mut series = BTreeSet::new();
    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.pop() != Some("") {
        return Err("the exposition must end with a newline".into());
    }
    if format == Format::OpenMetrics && lines.pop() != Some("# EOF") {
        return Err("OpenMetrics must end with # EOF".into());
    }
    for (i, line) in lines.iter().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", i + 1);
        parse_line(line, format, &mut exposition, &mut current, &mut series).map_err(at)?;
    }
    for (name, family) in &exposition.families {
        if family.kind.is_empty() {
            return Err(format!("family {name} has HELP but no TYPE"));
        }
        if family.kind == "histogram" {
            check_histogram(name, family)?;
        }
    }
    Ok(exposition)
}

fn parse_line(
    line: &str,
    format: Format,
    exposition: &mut Exposition,
    current: &mut Option<String>,
    series: &mut BTreeSet<String>,
) -> Result<(), String> {
    if line.is_empty() {
        return match format {
            Format::Text => Ok(()),
            Format::OpenMetrics => Err("an empty line".into()),
        };
    }
    if let Some(comment) = line.strip_prefix('#') {
        let mut words = comment.trim_start().splitn(3, ' ');
        let keyword = words.next().unwrap_or("");
        if !matches!(keyword, "HELP" | "TYPE" | "UNIT") {
            return match format {
                Format::Text => Ok(()),
                Format::OpenMetrics => Err("a comment that is not HELP, TYPE or UNIT".into()),
            };
        }
        let name = words.next().ok_or("a descriptor without a name")?;
        let rest = words.next().unwrap_or("");
        if !is_metric_name(name) {
            return Err(format!("bad metric name {name:?}"));
        }
        if current.as_deref() != Some(name) {
            if exposition.families.contains_key(name) {
                return Err(format!("family {name} appears twice"));
            }
            exposition.families.insert(
                name.to_owned(),
                Family {
                    kind: String::new(),
                    help: String::new(),
                    samples: Vec::new(),
                },
            );
            *current = Some(name.to_owned());
        }
        let family = exposition.families.get_mut(name).expect("inserted above");
        if !family.samples.is_empty() {
            return Err(format!("a {keyword} line after samples of {name}"));
        }
        match keyword {
            "HELP" => family.help = rest.to_owned(),
            "TYPE" => {
                let kinds: &[&str] = match format {
                    Format::Text => &["counter", "gauge", "histogram", "summary", "untyped"],
                    Format::OpenMetrics => &[
                        "counter",
                        "gauge",
                        "histogram",
                        "summary",
                        "unknown",
                        "info",
                        "stateset",
                        "gaugehistogram",
                    ],
                };
                if !kinds.contains(&rest) {
                    return Err(format!("unknown type {rest:?}"));
                }
                if !family.kind.is_empty() {
                    return Err(format!("a second TYPE for {name}"));
                }
                family.kind = rest.to_owned();
            }
            _ if format == Format::Text => return Err("UNIT is not in the text format".into()),
            _ => {}
        }
        return Ok(());
    }
    let name_end = line.find(['{', ' ']).ok_or("a sample without a value")?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let (labels, rest) = if line[name_end..].starts_with('{') {
        parse_labels(&line[name_end..])?
    } else {
        (BTreeMap::new(), &line[name_end..])
    };
    let rest = rest
        .strip_prefix(' ')
        .ok_or("a space must precede the value")?;
    let mut parts = rest.split(' ');
    let value = parse_value(parts.next().unwrap_or(""))?;
    if let Some(ts) = parts.next() {
        ts.parse::<f64>()
            .map_err(|_| format!("bad timestamp {ts:?}"))?;
    }
    if parts.next().is_some() {
        return Err("trailing text after the timestamp".into());
    }
    let family_name = current.clone().ok_or("a sample before any TYPE")?;
    let family = exposition.families.get_mut(&family_name).expect("current");
    if family.kind.is_empty() {
        return Err(format!("a sample of {family_name} before its TYPE"));
    }
    if !belongs(name, &family_name, &family.kind, format) {
        return Err(format!(
            "{name} is not a sample of the {} {family_name}",
            family.kind
        ));
    }
    if family.kind == "counter" && (value.is_nan() || value < 0.0) {
        return Err("a negative counter".into());
    }
    let key = format!("{name}{labels:?}");
    if !series.insert(key) {
        return Err("the same series twice".into());
    }
    family.samples.push(Sample {
        name: name.to_owned(),
        labels,
        value,
    });
    Ok(())
}

/// A label set without `le`, sorted.
type LabelPairs = Vec<(String, String)>;

/// Buckets cumulative, a `+Inf` bucket equal to `_count`, per label set.
fn check_histogram(name: &str, family: &Family) -> Result<(), String> {
    let mut by_labels: BTreeMap<LabelPairs, Vec<(f64, f64)>> = BTreeMap::new();
    let mut counts = BTreeMap::new();
    for s in &family.samples {
        let mut rest: LabelPairs = s
            .labels
            .iter()
            .filter(|(k, _)| *k != "le")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        rest.sort();
        if s.name.ends_with("_bucket") {
            let le = s
                .labels
                .get("le")
                .ok_or(format!("{name}: a bucket without le"))?;
            by_labels
                .entry(rest)
                .or_default()
                .push((parse_value(le)?, s.value));
        } else if s.name.ends_with("_count") {
            counts.insert(rest, s.value);
        }
    }
    for (labels, mut buckets) in by_labels {
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        if buckets.windows(2).any(|w| w[1].1 < w[0].1) {
            return Err(format!("{name}: buckets are not cumulative"));
        }
        let last = buckets.last().expect("at least one");
        if last.0 != f64::INFINITY {
            return Err(format!("{name}: no +Inf bucket"));
        }
        if counts.get(&labels) != Some(&last.1) {
            return Err(format!("{name}: _count differs from the +Inf bucket"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_text_parses() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n# TYPE g gauge\ng{x=\"a\\\"b\"} 1.5 123\n";
        let e = parse(text, Format::Text).unwrap();
        assert_eq!(e.value("g", &[("x", "a\"b")]), Some(1.5));
    }

    #[test]
    fn bad_text_is_refused() {
        for bad in [
            "a 1\n",
            "# TYPE a gauge\na{x=1} 1\n",
            "# TYPE a gauge\na 1\na 2\n",
            "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n",
            "# TYPE a counter\na_total 1\n",
            "# TYPE a gauge\na one\n",
            "# TYPE a gauge\na 1",
        ] {
            assert!(parse(bad, Format::Text).is_err(), "{bad}");
        }
    }
}
