//! Diffs between two versions of a record.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::snapshot::{RawJson, Snapshot, raw_members};

/// How one column differs between two versions.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Change {
    /// The recorded value changed. A column absent on one side (added to or dropped from the
    /// table, or untracked in between) shows as `null` there.
    Value {
        /// The value in the `from` version.
        from: Value,
        /// The value in the `to` version.
        to: Value,
    },
    /// A hidden column changed in between; its values are never recorded.
    Hidden,
}

/// One end of a diff.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffEnd {
    /// The version number.
    pub version: i32,
    /// When it was recorded.
    pub changed: DateTime<Utc>,
    /// Whether it records the record's deletion.
    pub deleted: bool,
}

impl DiffEnd {
    fn of(s: &Snapshot) -> Self {
        Self {
            version: s.version(),
            changed: s.changed(),
            deleted: s.is_deleted(),
        }
    }
}

/// The differences between two versions of a record: column → [`Change`], in column order
/// (like the Python library's `{column: (from, to)}`; `version` and hidden columns are never
/// compared by value).
///
/// `from` is `None` when the diff starts before the record's first version: every column then
/// shows as `null` → value.
///
/// The values of [`Change::Value`] are `serde_json::Value`s, whose numbers are f64 (`350.0`
/// for a stored `350.00`); [`Diff::raw_values`] gives them as PostgreSQL printed them, and a
/// serialized diff (`--json`) writes those.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    /// The version diffed from (`None`: before the first version).
    pub from: Option<DiffEnd>,
    /// The version diffed to (`None` only when `from` is too: no history at either time).
    pub to: Option<DiffEnd>,
    /// The changed columns.
    pub changes: BTreeMap<String, Change>,
    /// The JSON text of each value change's two sides, as PostgreSQL printed them.
    raw: BTreeMap<String, [RawJson; 2]>,
}

impl Diff {
    /// Compares two snapshots of one record by their stored values (numbers as PostgreSQL
    /// compares them: `350.0` equals `350.00`, and digits an f64 would drop count), without a
    /// database round trip (no
    /// [`Change::Hidden`] entries: those need the versions in between, see
    /// [`crate::RecordHistory::diff`]). `None` on either side stands for "no record".
    ///
    /// ```no_run
    /// # async fn f(conn: &mut sqlx::PgConnection, record: chrononaut::RecordHistory) -> Result<(), chrononaut::Error> {
    /// let versions = record.versions(conn, &chrononaut::VersionFilter::new()).await?;
    /// for pair in versions.windows(2) {
    ///     let diff = chrononaut::Diff::compare(Some(&pair[0]), Some(&pair[1]));
    ///     println!("v{}: {:?}", pair[1].version(), diff.changes.keys().collect::<Vec<_>>());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn compare(from: Option<&Snapshot>, to: Option<&Snapshot>) -> Diff {
        let hidden = to.or(from).map(|s| s.hidden_columns()).unwrap_or_default();
        compare(from, to, hidden)
    }

    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Number of changed columns.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// The change of `column`, if it changed.
    pub fn get(&self, column: &str) -> Option<&Change> {
        self.changes.get(column)
    }

    /// `(from, to)` of a column whose value changed (`None` for unchanged and hidden columns).
    pub fn values(&self, column: &str) -> Option<(&Value, &Value)> {
        match self.changes.get(column) {
            Some(Change::Value { from, to }) => Some((from, to)),
            _ => None,
        }
    }

    /// `(from, to)` of a column whose value changed, as PostgreSQL printed them (`350.00`,
    /// `"alice"`; `null` for a side that lacks the column). `None` for unchanged and hidden
    /// columns.
    pub fn raw_values(&self, column: &str) -> Option<(&RawValue, &RawValue)> {
        match self.changes.get(column) {
            Some(Change::Value { .. }) => self
                .raw
                .get(column)
                .map(|[from, to]| (from.0.as_ref(), to.0.as_ref())),
            _ => None,
        }
    }
}

/// `{"from": ..., "to": ..., "changes": {column: {"kind": "value", "from": ..., "to": ...} |
/// {"kind": "hidden"}}}`, values as PostgreSQL printed them.
impl Serialize for Diff {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("Diff", 3)?;
        out.serialize_field("from", &self.from)?;
        out.serialize_field("to", &self.to)?;
        out.serialize_field("changes", &RawChanges(self))?;
        out.end()
    }
}

struct RawChanges<'a>(&'a Diff);

impl Serialize for RawChanges<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct RawChange<'a> {
            kind: &'static str,
            from: &'a RawValue,
            to: &'a RawValue,
        }
        let mut map = serializer.serialize_map(Some(self.0.changes.len()))?;
        for (column, change) in &self.0.changes {
            match self.0.raw_values(column) {
                Some((from, to)) => map.serialize_entry(
                    column,
                    &RawChange {
                        kind: "value",
                        from,
                        to,
                    },
                )?,
                None => map.serialize_entry(column, change)?,
            }
        }
        map.end()
    }
}

/// Compares the data of two snapshots. `hidden` columns and `version` are skipped.
pub(crate) fn compare(from: Option<&Snapshot>, to: Option<&Snapshot>, hidden: &[String]) -> Diff {
    let mut changes = BTreeMap::new();
    let mut raw = BTreeMap::new();
    let same = matches!((from, to), (Some(a), Some(b)) if a.meta().id == b.meta().id);
    if !same {
        let empty = serde_json::Map::new();
        let a = from.map_or(&empty, |s| s.data());
        let b = to.map_or(&empty, |s| s.data());
        let raw_a = from.map(|s| raw_members(s.raw_data())).unwrap_or_default();
        let raw_b = to.map(|s| raw_members(s.raw_data())).unwrap_or_default();
        for column in a.keys().chain(b.keys()) {
            if column == "version" || hidden.contains(column) || changes.contains_key(column) {
                continue;
            }
            // absent on one side and null on the other is no change worth showing
            let rx = raw_a.get(column).copied().unwrap_or(RawValue::NULL);
            let ry = raw_b.get(column).copied().unwrap_or(RawValue::NULL);
            // compared as stored, not as f64s: 0.1000000000000000001 differs from 0.1
            if canonical(rx.get()) != canonical(ry.get()) {
                let x = a.get(column).unwrap_or(&Value::Null);
                let y = b.get(column).unwrap_or(&Value::Null);
                raw.insert(
                    column.clone(),
                    [RawJson(rx.to_owned()), RawJson(ry.to_owned())],
                );
                changes.insert(
                    column.clone(),
                    Change::Value {
                        from: x.clone(),
                        to: y.clone(),
                    },
                );
            }
        }
    }
    Diff {
        from: from.map(DiffEnd::of),
        to: to.map(DiffEnd::of),
        changes,
        raw,
    }
}

/// JSON text as PostgreSQL prints jsonb (keys in a fixed order, no insignificant space
/// variation) with each number's insignificant zeros dropped (`350.00` → `350`, `-0.0` → `0`),
/// so that two texts are equal exactly when PostgreSQL finds the values equal, at full
/// precision. PostgreSQL prints jsonb numbers without exponents.
fn canonical(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('.') {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    let (mut in_string, mut escaped) = (false, false);
    while let Some((i, c)) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '-' || c.is_ascii_digit() {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if !(d.is_ascii_digit() || matches!(d, '.' | 'e' | 'E' | '+' | '-')) {
                    break;
                }
                end = j + d.len_utf8();
                chars.next();
            }
            let number = &text[i..end];
            let number = if number.contains('.') && !number.contains(['e', 'E']) {
                number.trim_end_matches('0').trim_end_matches('.')
            } else {
                number
            };
            out.push_str(if number == "-0" { "0" } else { number });
        } else {
            in_string = c == '"';
            out.push(c);
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn canonical_drops_insignificant_zeros_of_numbers_only() {
        for (text, expected) in [
            ("350.00", "350"),
            ("350.50", "350.5"),
            ("-0.0", "0"),
            ("10", "10"),
            ("100.001", "100.001"),
            (
                "12345678901234567890.1234567890",
                "12345678901234567890.123456789",
            ),
            (
                r#"{"a": 1.50, "b": [2.0, "3.00", -4.10]}"#,
                r#"{"a": 1.5, "b": [2, "3.00", -4.1]}"#,
            ),
            (r#""a \" 1.0""#, r#""a \" 1.0""#),
            (r#"{"x\\": 0.10}"#, r#"{"x\\": 0.1}"#),
        ] {
            assert_eq!(canonical(text), expected, "{text}");
        }
    }
}
