//! The arrays of tables (`[[alarms]]`, `[[views]]`, `[[notify]]`,
//! `[[checks]]`) as written, with a message that says what to write when
//! one is written as a table of tables (`[alarms.web]`), where serde would
//! only say "invalid type: map, expected a sequence"; and `[[views]]`,
//! which also takes Go lovebeat's forms: the legacy `[views.NAME]` tables
//! (§11) and its 1.0 sample's `[[views]] name / pattern` (§4.1).

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

/// An entry of an array of tables.
pub(crate) trait ArrayEntry {
    /// The array's key: `alarms` for `[[alarms]]`.
    const TABLE: &str;
    /// The key that tells entries apart, as the message suggests it.
    const KEYS: &str;
}

/// The entries of `[[T::TABLE]]`, refusing `[T::TABLE.NAME]` tables with a
/// message saying what to write.
pub(crate) fn entries<'de, D, T>(deserializer: D) -> Result<Vec<Spanned<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + ArrayEntry,
{
    deserializer.deserialize_any(Entries(PhantomData))
}

struct Entries<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de> + ArrayEntry> Visitor<'de> for Entries<T> {
    type Value = Vec<Spanned<T>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[[{}]] tables", T::TABLE)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(items)
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom(format!(
            "write each entry as its own [[{table}]] table with {keys}, not as [{table}.NAME] \
             or {table} = {{ … }}",
            table = T::TABLE,
            keys = T::KEYS
        )))
    }
}

/// How a view was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ViewForm {
    /// `[[views]]` with `name`.
    Listed,
    /// Go lovebeat's legacy `[views.NAME]` table.
    Table,
}

/// A view as written, in either form.
#[derive(Debug)]
pub(crate) struct View {
    /// The view name (the table's name for [`ViewForm::Table`]).
    pub name: Spanned<String>,
    /// A regex matched anywhere in the service name (unanchored).
    pub regexp: Option<Spanned<String>>,
    /// A glob, as Go lovebeat 1.0's sample file wrote `[[views]]` (Go
    /// itself ignored them): read as an `[[alarms]]` pattern.
    pub pattern: Option<Spanned<String>>,
    /// Names of `[alerts.NAME]` tables.
    pub alerts: Vec<Spanned<String>>,
    pub form: ViewForm,
    /// Hold-down: how long a change must last before it alerts (`5m`).
    pub hold: Option<Spanned<String>>,
    /// Remind this often while failing and unacknowledged (`1h`).
    pub repeat: Option<Spanned<String>>,
}

/// A `[[views]]` entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Listed {
    name: Spanned<String>,
    regexp: Option<Spanned<String>>,
    pattern: Option<Spanned<String>>,
    #[serde(default)]
    alerts: Vec<Spanned<String>>,
    #[serde(default, rename = "for")]
    hold: Option<Spanned<String>>,
    #[serde(default)]
    repeat: Option<Spanned<String>>,
}

/// A legacy `[views.NAME]` table: the keys Go lovebeat read there.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    regexp: Option<Spanned<String>>,
    #[serde(default)]
    alerts: Vec<Spanned<String>>,
}

/// Every view, in file order, whichever form it was written in.
pub(crate) fn views<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Spanned<View>>, D::Error> {
    deserializer.deserialize_any(Views)
}

struct Views;

impl<'de> Visitor<'de> for Views {
    type Value = Vec<Spanned<View>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[[views]] tables (or Go lovebeat's legacy [views.NAME] tables)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut views = Vec::new();
        while let Some(listed) = seq.next_element::<Spanned<Listed>>()? {
            let span = listed.span();
            let listed = listed.into_inner();
            let view = View {
                name: listed.name,
                regexp: listed.regexp,
                pattern: listed.pattern,
                alerts: listed.alerts,
                form: ViewForm::Listed,
                hold: listed.hold,
                repeat: listed.repeat,
            };
            views.push(Spanned::new(span, view));
        }
        Ok(views)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut views = Vec::new();
        while let Some((name, table)) = map.next_entry::<Spanned<String>, Spanned<Table>>()? {
            let span = table.span();
            let table = table.into_inner();
            let view = View {
                name,
                regexp: table.regexp,
                pattern: None,
                alerts: table.alerts,
                form: ViewForm::Table,
                hold: None,
                repeat: None,
            };
            views.push(Spanned::new(span, view));
        }
        Ok(views)
    }
}
