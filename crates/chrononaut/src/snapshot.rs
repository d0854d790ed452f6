//! Snapshots: one version of one record, read-only.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::error::{Error, Result};

/// What made a version. History written by the Python library has none (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// The record was inserted (or snapshotted by a baseline).
    Insert,
    /// The record was updated.
    Update,
    /// The record was deleted; the snapshot holds its last state.
    Delete,
}

impl Operation {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "insert" => Some(Self::Insert),
            "update" => Some(Self::Update),
            "delete" => Some(Self::Delete),
            _ => None,
        }
    }

    /// `insert`, `update` or `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who, when, what and why of one version (the Python library's `chrononaut_meta`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotMeta {
    /// `id` of the history row.
    pub id: i64,
    /// The history `table_name` (`accounts`, `billing.accounts`).
    pub table: String,
    /// The record's primary key as a JSON object.
    pub key: Value,
    /// The version number.
    pub version: i32,
    /// When the version was recorded.
    pub changed: DateTime<Utc>,
    /// What made it (`None` on history written by the Python library).
    pub operation: Option<Operation>,
    /// `{"user_id": ..., "remote_addr": ...}`.
    pub user_info: Value,
    /// Rationale and other extra change info, `hidden_cols_changed`, ...
    pub extra_info: Value,
}

impl SnapshotMeta {
    /// `user_info.user_id`, when known.
    pub fn user_id(&self) -> Option<&str> {
        self.user_info.get("user_id").and_then(Value::as_str)
    }

    /// `user_info.db_user`: the database login role that made the change, recorded by the
    /// triggers whatever the client says it is (absent from rows the Python library wrote).
    pub fn db_user(&self) -> Option<&str> {
        self.user_info.get("db_user").and_then(Value::as_str)
    }

    /// `user_info.remote_addr`, when known.
    pub fn remote_addr(&self) -> Option<&str> {
        self.user_info.get("remote_addr").and_then(Value::as_str)
    }

    /// `extra_info.rationale`, when given.
    pub fn rationale(&self) -> Option<&str> {
        self.extra_info.get("rationale").and_then(Value::as_str)
    }

    /// The hidden columns that changed in this version (`extra_info.hidden_cols_changed`).
    pub fn hidden_cols_changed(&self) -> Vec<String> {
        self.extra_info
            .get("hidden_cols_changed")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The columns a snapshot may not show, shared by the snapshots of one read.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Hidden {
    pub hidden: Vec<String>,
    pub untracked: Vec<String>,
}

/// One version of one record, read-only: its meta and its recorded columns.
///
/// Reading a column gives its value, or an error that says why there is none:
///
/// ```no_run
/// # async fn f(conn: &mut sqlx::PgConnection) -> Result<(), chrononaut::Error> {
/// use chrononaut::{Chrononaut, Error};
/// let record = Chrononaut::new()
///     .record(conn, "accounts", serde_json::json!({"id": 1}))
///     .await?;
/// if let Some(snapshot) = record.previous_version(conn).await? {
///     println!("owner was {}", snapshot.get("owner")?);
///     match snapshot.get("password_hash") {
///         Err(Error::HiddenColumn { .. }) => println!("(hidden)"),
///         other => println!("{other:?}"),
///     }
/// }
/// # Ok(()) }
/// ```
///
/// Serialized (`--json`), `data` is written as PostgreSQL printed it: `350.00` stays `350.00`
/// (see [`Snapshot::raw`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    #[serde(flatten)]
    meta: SnapshotMeta,
    #[serde(skip)]
    data: Map<String, Value>,
    #[serde(rename = "data")]
    raw: RawJson,
    #[serde(skip)]
    columns: Arc<Hidden>,
}

/// JSON text as PostgreSQL printed it; equal when the texts are.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub(crate) struct RawJson(pub(crate) Box<RawValue>);

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

/// The members of a JSON object's text, each as its own text (`{}` for anything else).
pub(crate) fn raw_members(object: &RawValue) -> BTreeMap<String, &RawValue> {
    serde_json::from_str(object.get()).unwrap_or_default()
}

impl Snapshot {
    /// A snapshot from its parts (a backend's own row decoding).
    pub(crate) fn from_parts(
        meta: SnapshotMeta,
        raw: Box<RawValue>,
        columns: &Arc<Hidden>,
    ) -> Self {
        let data: Map<String, Value> = serde_json::from_str(raw.get()).unwrap_or_default();
        Self {
            meta,
            data,
            raw: RawJson(raw),
            columns: Arc::clone(columns),
        }
    }

    pub(crate) fn from_row(row: &PgRow, columns: &Arc<Hidden>) -> Result<Self> {
        let operation: Option<String> = row.try_get("operation")?;
        // kept as text too: a JSON number read into `Value` is an f64 (350.00 becomes 350.0)
        let raw = row
            .try_get::<sqlx::types::Json<Box<RawValue>>, _>("data")?
            .0;
        let data: Map<String, Value> = serde_json::from_str(raw.get()).unwrap_or_default();
        Ok(Self {
            meta: SnapshotMeta {
                id: row.try_get("id")?,
                table: row.try_get("table_name")?,
                key: row.try_get("key")?,
                version: row.try_get("version")?,
                changed: row.try_get("changed")?,
                operation: operation.as_deref().and_then(Operation::parse),
                user_info: row.try_get("user_info")?,
                extra_info: row.try_get("extra_info")?,
            },
            data,
            raw: RawJson(raw),
            columns: Arc::clone(columns),
        })
    }

    /// The meta: table, key, version, time, operation, user and extra info.
    pub fn meta(&self) -> &SnapshotMeta {
        &self.meta
    }

    /// The version number.
    pub fn version(&self) -> i32 {
        self.meta.version
    }

    /// When this version was recorded.
    pub fn changed(&self) -> DateTime<Utc> {
        self.meta.changed
    }

    /// True when this version records the record's deletion (its data is the last state).
    /// History written by the Python library does not say; its deletes read as `false`.
    pub fn is_deleted(&self) -> bool {
        self.meta.operation == Some(Operation::Delete)
    }

    /// The recorded columns, as stored (without hidden and untracked columns; with `version`).
    pub fn data(&self) -> &Map<String, Value> {
        &self.data
    }

    /// The recorded columns as PostgreSQL printed them (`{"balance": 350.00, ...}`): numbers
    /// keep their digits and scale, which [`Snapshot::data`] reads as f64 (`350.0`, and only
    /// ~15 significant digits).
    pub fn raw_data(&self) -> &RawValue {
        &self.raw.0
    }

    /// The value of `column` in this version.
    ///
    /// Errors: [`Error::UntrackedColumn`] and [`Error::HiddenColumn`] for columns the table's
    /// options exclude (checked first, as in the Python library: a column hidden today is not
    /// shown even where older history holds it), [`Error::UnknownColumn`] for a column this
    /// version does not hold.
    pub fn get(&self, column: &str) -> Result<&Value> {
        self.check(column)?;
        self.data
            .get(column)
            .ok_or_else(|| self.unknown_column(column))
    }

    /// The value of `column` as PostgreSQL printed it (`350.00`, `"alice"`), with the errors of
    /// [`Snapshot::get`]. Parse it into the type you need (`rust_decimal`, `bigdecimal`, ...)
    /// where an f64 would round.
    ///
    /// ```no_run
    /// # fn f(snapshot: &chrononaut::Snapshot) -> Result<(), chrononaut::Error> {
    /// assert_eq!(snapshot.raw("balance")?.get(), "350.00");
    /// # Ok(()) }
    /// ```
    pub fn raw(&self, column: &str) -> Result<&RawValue> {
        self.check(column)?;
        raw_members(&self.raw.0)
            .remove(column)
            .ok_or_else(|| self.unknown_column(column))
    }

    /// Refuses columns the table's current options exclude.
    fn check(&self, column: &str) -> Result<()> {
        if self.columns.untracked.iter().any(|c| c == column) {
            return Err(Error::UntrackedColumn {
                table: self.meta.table.clone(),
                column: column.to_owned(),
            });
        }
        if self.columns.hidden.iter().any(|c| c == column) {
            return Err(Error::HiddenColumn {
                table: self.meta.table.clone(),
                column: column.to_owned(),
            });
        }
        Ok(())
    }

    fn unknown_column(&self, column: &str) -> Error {
        Error::UnknownColumn {
            table: self.meta.table.clone(),
            column: column.to_owned(),
        }
    }

    /// The recorded columns deserialized into `T` (hidden and untracked columns are absent:
    /// give them `#[serde(default)]` or make them `Option`). Timestamps are RFC 3339 strings,
    /// which chrono's serde support reads.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut sqlx::PgConnection) -> Result<(), chrononaut::Error> {
    /// #[derive(serde::Deserialize)]
    /// struct Account { id: i32, owner: String, balance: i64 }
    ///
    /// let record = chrononaut::Chrononaut::new()
    ///     .record(conn, "accounts", serde_json::json!({"id": 1}))
    ///     .await?;
    /// let first: Account = record.version(conn, 0).await?.deserialize()?;
    /// # let _ = first; Ok(()) }
    /// ```
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T> {
        T::deserialize(Value::Object(self.data.clone())).map_err(|e| Error::Deserialize {
            what: format!(
                "{} {} version {}",
                self.meta.table, self.meta.key, self.meta.version
            ),
            message: e.to_string(),
        })
    }

    /// The table's hidden columns (their values are never recorded).
    pub fn hidden_columns(&self) -> &[String] {
        &self.columns.hidden
    }

    pub(crate) fn sort_key(&self) -> (DateTime<Utc>, i32, i64) {
        (self.meta.changed, self.meta.version, self.meta.id)
    }
}

impl std::fmt::Display for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} v{} at {}: {}",
            self.meta.table,
            self.meta.key,
            self.meta.version,
            self.meta.changed.to_rfc3339(),
            self.raw.0.get()
        )
    }
}
