//! Diffs between two versions of a record.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::snapshot::Snapshot;

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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    /// The version diffed from (`None`: before the first version).
    pub from: Option<DiffEnd>,
    /// The version diffed to (`None` only when `from` is too: no history at either time).
    pub to: Option<DiffEnd>,
    /// The changed columns.
    pub changes: BTreeMap<String, Change>,
}

impl Diff {
    /// Compares two snapshots of one record by value, without a database round trip (no
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
}

/// Compares the data of two snapshots. `hidden` columns and `version` are skipped.
pub(crate) fn compare(from: Option<&Snapshot>, to: Option<&Snapshot>, hidden: &[String]) -> Diff {
    let mut changes = BTreeMap::new();
    let same = matches!((from, to), (Some(a), Some(b)) if a.meta().id == b.meta().id);
    if !same {
        let empty = serde_json::Map::new();
        let a = from.map_or(&empty, |s| s.data());
        let b = to.map_or(&empty, |s| s.data());
        for column in a.keys().chain(b.keys()) {
            if column == "version" || hidden.contains(column) || changes.contains_key(column) {
                continue;
            }
            let x = a.get(column).unwrap_or(&Value::Null);
            let y = b.get(column).unwrap_or(&Value::Null);
            // absent on one side and null on the other is no change worth showing
            if x != y {
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
    }
}
