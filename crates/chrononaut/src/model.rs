//! Typed models: a struct that mirrors a tracked table reads its own history as values of its
//! own type ([`Versioned`], usually derived with `#[derive(chrononaut::Versioned)]`).
//!
//! Everything here goes through the untyped reads ([`RecordHistory`], [`Chrononaut::as_of`])
//! and deserializes their data with serde.

use std::future::Future;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::Chrononaut;
use crate::diff::Diff;
use crate::error::{Error, Result};
use crate::history::{RecordHistory, VersionFilter};
use crate::snapshot::{Snapshot, SnapshotMeta};

/// A struct that mirrors a tracked table, whose history reads come back typed.
///
/// Derive it (feature `derive`, on by default) on a struct with one field per column you want,
/// which also derives [`serde::Deserialize`]:
///
/// ```no_run
/// # async fn f(conn: &mut sqlx::PgConnection) -> Result<(), chrononaut::Error> {
/// use chrononaut::{Chrononaut, VersionFilter, Versioned};
///
/// #[derive(serde::Deserialize, Versioned)]
/// #[chrononaut(table = "billing.accounts")] // default: the struct name in snake_case
/// struct Account {
///     id: i32,                   // the key: a field named `id`, or #[chrononaut(key)] fields
///     owner: String,
///     balance: i64,
///     #[serde(default)]
///     password_hash: Option<String>, // hidden in the history: never in its data
/// }
///
/// let ch = Chrononaut::new();
/// let account = Account { id: 1, owner: "alice".into(), balance: 0, password_hash: None };
/// for v in account.versions(&ch, conn, &VersionFilter::new()).await? {
///     println!("v{} {}: {}", v.version(), v.changed(), v.value().owner);
/// }
/// let then = chrono::Utc::now() - chrono::Duration::days(30);
/// let everyone_then: Vec<Account> = Account::history_at(&ch, conn, then).await?;
/// # let _ = everyone_then; Ok(()) }
/// ```
///
/// Attributes of the derive: `#[chrononaut(table = "schema.table")]` on the struct (any name
/// SQL accepts; default: the struct's name in snake_case, `AccountEntry` → `account_entry`),
/// `#[chrononaut(key)]` on each primary-key field (default: the field named `id`). A key field's
/// column is its `#[serde(rename = "...")]` name if it has one (a container-level
/// `rename_all` is not applied to key columns), else its name; its value may be of any
/// [`Serialize`] type (it is converted to the column's type, as
/// [`Chrononaut::record`] does).
///
/// **Columns missing from the data.** A snapshot holds the recorded columns only: hidden and
/// untracked columns are never there, nor columns added to the table after that version was
/// recorded. Give such fields `#[serde(default)]` or make them `Option` (serde reads a missing
/// `Option` field as `None`), or leave them out of the struct: other columns, and the
/// `"version"` that every snapshot holds, are ignored (so do not use
/// `#[serde(deny_unknown_fields)]`). A snapshot that does not deserialize is
/// [`Error::Deserialize`].
///
/// Each method resolves the table and key first (as [`Chrononaut::record`] does, two queries);
/// for several reads of one record take [`Versioned::record`] once.
pub trait Versioned: DeserializeOwned + Send + Sync {
    /// The table, as given to [`Chrononaut::record`] (`accounts`, `billing.accounts`).
    const TABLE: &'static str;
    /// The primary-key columns the key is built from.
    const KEY_COLUMNS: &'static [&'static str];

    /// This value's primary key, a JSON object of [`Self::KEY_COLUMNS`] (the derive builds it
    /// from the key fields with [`KeyBuilder`]).
    fn key(&self) -> Result<Value>;

    /// The history of this value's record, typed: resolves table and key once for several
    /// reads.
    fn record(
        &self,
        ch: &Chrononaut,
        conn: &mut (impl crate::DbConn + ?Sized),
    ) -> impl Future<Output = Result<TypedRecord<Self>>> + Send {
        async move {
            let key = self.key()?;
            Self::record_by_key(ch, conn, key).await
        }
    }

    /// The history of the record with primary key `key` (a JSON object, as for
    /// [`Chrononaut::record`]), typed.
    fn record_by_key(
        ch: &Chrononaut,
        conn: &mut (impl crate::DbConn + ?Sized),
        key: Value,
    ) -> impl Future<Output = Result<TypedRecord<Self>>> + Send {
        async move {
            let history = ch.record(conn, Self::TABLE, key).await?;
            Ok(TypedRecord::new(history))
        }
    }

    /// This record's versions ([`RecordHistory::versions`]).
    fn versions(
        &self,
        ch: &Chrononaut,
        conn: &mut (impl crate::DbConn + ?Sized),
        filter: &VersionFilter,
    ) -> impl Future<Output = Result<Vec<TypedSnapshot<Self>>>> + Send {
        async move { self.record(ch, conn).await?.versions(conn, filter).await }
    }

    /// Version `n` of this record ([`RecordHistory::version`]).
    fn version(
        &self,
        ch: &Chrononaut,
        conn: &mut (impl crate::DbConn + ?Sized),
        n: i32,
    ) -> impl Future<Output = Result<TypedSnapshot<Self>>> + Send {
        async move { self.record(ch, conn).await?.version(conn, n).await }
    }

    /// The version of this record in force at `at` ([`RecordHistory::version_at`]; after a
    /// deletion, the deletion's snapshot, [`TypedSnapshot::is_deleted`]).
    fn version_at(
        &self,
        ch: &Chrononaut,
        conn: &mut (impl crate::DbConn + ?Sized),
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<TypedSnapshot<Self>>>> + Send {
        async move { self.record(ch, conn).await?.version_at(conn, at).await }
    }

    /// The latest version of this record ([`RecordHistory::latest`]).
    fn latest_version(
        &self,
        ch: &Chrononaut,
        conn: &mut (impl crate::DbConn + ?Sized),
    ) -> impl Future<Output = Result<Option<TypedSnapshot<Self>>>> + Send {
        async move { self.record(ch, conn).await?.latest(conn).await }
    }

    /// The version before the latest ([`RecordHistory::previous_version`]).
    fn previous_version(
        &self,
        ch: &Chrononaut,
        conn: &mut (impl crate::DbConn + ?Sized),
    ) -> impl Future<Output = Result<Option<TypedSnapshot<Self>>>> + Send {
        async move { self.record(ch, conn).await?.previous_version(conn).await }
    }

    /// True when a version of this record was recorded after `since`
    /// ([`RecordHistory::has_changed_since`]).
    fn has_changed_since(
        &self,
        ch: &Chrononaut,
        conn: &mut (impl crate::DbConn + ?Sized),
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool>> + Send {
        async move {
            self.record(ch, conn)
                .await?
                .history()
                .has_changed_since(conn, since)
                .await
        }
    }

    /// The changes from version `from` to version `to` (`None`: the latest)
    /// ([`RecordHistory::diff_versions`]).
    fn diff_versions(
        &self,
        ch: &Chrononaut,
        conn: &mut (impl crate::DbConn + ?Sized),
        from: i32,
        to: Option<i32>,
        include_hidden: bool,
    ) -> impl Future<Output = Result<Diff>> + Send {
        async move {
            self.record(ch, conn)
                .await?
                .history()
                .diff_versions(conn, from, to, include_hidden)
                .await
        }
    }

    /// The changes from the state at `from` to the state at `to` (`None`: now)
    /// ([`RecordHistory::diff_timestamps`]).
    fn diff_timestamps(
        &self,
        ch: &Chrononaut,
        conn: &mut (impl crate::DbConn + ?Sized),
        from: DateTime<Utc>,
        to: Option<DateTime<Utc>>,
        include_hidden: bool,
    ) -> impl Future<Output = Result<Diff>> + Send {
        async move {
            self.record(ch, conn)
                .await?
                .history()
                .diff_timestamps(conn, from, to, include_hidden)
                .await
        }
    }

    /// Every record of the table as it was at `at` ([`Chrononaut::as_of`], collected; in
    /// no particular order). Hidden and untracked columns are absent from the data.
    fn history_at(
        ch: &Chrononaut,
        conn: &mut (impl crate::DbConn + ?Sized),
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Self>>> + Send {
        async move {
            ch.as_of(&mut *conn, Self::TABLE, at)
                .await?
                .typed::<Self>()
                .try_collect()
                .await
        }
    }
}

/// Builds a record key (a JSON object) field by field; what the derive generates for
/// [`Versioned::key`], and handy for a manual implementation.
///
/// ```
/// let mut key = chrononaut::KeyBuilder::new("order_lines");
/// key.field("order_id", &7)?;
/// key.field("line", &"a")?;
/// assert_eq!(key.finish(), serde_json::json!({"order_id": 7, "line": "a"}));
/// # Ok::<(), chrononaut::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct KeyBuilder {
    table: &'static str,
    key: Map<String, Value>,
}

impl KeyBuilder {
    /// An empty key of `table` (named in errors).
    pub fn new(table: &'static str) -> Self {
        Self {
            table,
            key: Map::new(),
        }
    }

    /// Adds column `column` with `value`, serialized with serde ([`Error::InvalidKey`] when it
    /// does not serialize).
    pub fn field<T: Serialize + ?Sized>(&mut self, column: &str, value: &T) -> Result<()> {
        let value = serde_json::to_value(value).map_err(|e| Error::InvalidKey {
            table: self.table.to_owned(),
            message: format!("key column {column:?} does not serialize: {e}"),
        })?;
        self.key.insert(column.to_owned(), value);
        Ok(())
    }

    /// The key.
    pub fn finish(self) -> Value {
        Value::Object(self.key)
    }
}

/// One version of a record, typed: the snapshot (meta and raw data) and its data deserialized
/// into `T`.
///
/// ```no_run
/// # #[derive(serde::Deserialize, chrononaut::Versioned)]
/// # struct Account { id: i32, owner: String }
/// # async fn f(conn: &mut sqlx::PgConnection, account: Account) -> Result<(), chrononaut::Error> {
/// use chrononaut::Versioned;
/// let ch = chrononaut::Chrononaut::new();
/// if let Some(before) = account.previous_version(&ch, conn).await? {
///     println!(
///         "v{} by {:?}: owner {}",
///         before.version(),
///         before.meta().user_id(),
///         before.value().owner
///     );
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TypedSnapshot<T> {
    snapshot: Snapshot,
    value: T,
}

impl<T: DeserializeOwned> TypedSnapshot<T> {
    /// Deserializes `snapshot`'s data into `T` ([`Error::Deserialize`] when it does not fit).
    ///
    /// ```no_run
    /// # #[derive(serde::Deserialize)]
    /// # struct Account { id: i32 }
    /// # async fn f(conn: &mut sqlx::PgConnection, record: chrononaut::RecordHistory) -> Result<(), chrononaut::Error> {
    /// let v0 = record.version(conn, 0).await?;
    /// let typed = chrononaut::TypedSnapshot::<Account>::new(v0)?;
    /// # let _ = typed; Ok(()) }
    /// ```
    pub fn new(snapshot: Snapshot) -> Result<Self> {
        let value = snapshot.deserialize()?;
        Ok(Self { snapshot, value })
    }
}

impl<T> TypedSnapshot<T> {
    /// The value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The value, taken out.
    pub fn into_value(self) -> T {
        self.value
    }

    /// The snapshot and the value.
    pub fn into_parts(self) -> (Snapshot, T) {
        (self.snapshot, self.value)
    }

    /// The untyped snapshot (for [`Snapshot::get`], [`Snapshot::data`]).
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Table, key, version, time, operation, user and extra info.
    pub fn meta(&self) -> &SnapshotMeta {
        self.snapshot.meta()
    }

    /// The version number.
    pub fn version(&self) -> i32 {
        self.snapshot.version()
    }

    /// When this version was recorded.
    pub fn changed(&self) -> DateTime<Utc> {
        self.snapshot.changed()
    }

    /// True when this version records the record's deletion (the value is its last state).
    pub fn is_deleted(&self) -> bool {
        self.snapshot.is_deleted()
    }
}

/// The history of one record with typed snapshots, from [`Versioned::record`]: a
/// [`RecordHistory`] whose reads deserialize into `T`.
///
/// ```no_run
/// # #[derive(serde::Deserialize, chrononaut::Versioned)]
/// # struct Account { id: i32, owner: String }
/// # async fn f(conn: &mut sqlx::PgConnection, account: Account) -> Result<(), chrononaut::Error> {
/// use chrononaut::{VersionFilter, Versioned};
/// let ch = chrononaut::Chrononaut::new();
/// let record = account.record(&ch, conn).await?;      // resolved once
/// let first = record.version(conn, 0).await?;
/// let recent = record.versions(conn, &VersionFilter::new().newest_first().limit(5)).await?;
/// let diff = record.history().diff_versions(conn, 0, None, false).await?;
/// # let _ = (first, recent, diff); Ok(()) }
/// ```
pub struct TypedRecord<T> {
    history: RecordHistory,
    _type: std::marker::PhantomData<fn() -> T>,
}

impl<T> Clone for TypedRecord<T> {
    fn clone(&self) -> Self {
        Self {
            history: self.history.clone(),
            _type: std::marker::PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for TypedRecord<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedRecord")
            .field("type", &std::any::type_name::<T>())
            .field("history", &self.history)
            .finish()
    }
}

impl<T: DeserializeOwned> TypedRecord<T> {
    /// Typed reads of `history`.
    pub fn new(history: RecordHistory) -> Self {
        Self {
            history,
            _type: std::marker::PhantomData,
        }
    }

    /// The untyped history (diffs, [`RecordHistory::has_changed_since`], the key, ...).
    pub fn history(&self) -> &RecordHistory {
        &self.history
    }

    /// The record's versions ([`RecordHistory::versions`]).
    pub async fn versions(
        &self,
        conn: &mut (impl crate::DbConn + ?Sized),
        filter: &VersionFilter,
    ) -> Result<Vec<TypedSnapshot<T>>> {
        self.history
            .versions(conn, filter)
            .await?
            .into_iter()
            .map(TypedSnapshot::new)
            .collect()
    }

    /// Version `n` ([`RecordHistory::version`]).
    pub async fn version(
        &self,
        conn: &mut (impl crate::DbConn + ?Sized),
        n: i32,
    ) -> Result<TypedSnapshot<T>> {
        TypedSnapshot::new(self.history.version(conn, n).await?)
    }

    /// The version in force at `at` ([`RecordHistory::version_at`]).
    pub async fn version_at(
        &self,
        conn: &mut (impl crate::DbConn + ?Sized),
        at: DateTime<Utc>,
    ) -> Result<Option<TypedSnapshot<T>>> {
        self.history
            .version_at(conn, at)
            .await?
            .map(TypedSnapshot::new)
            .transpose()
    }

    /// The latest version ([`RecordHistory::latest`]).
    pub async fn latest(
        &self,
        conn: &mut (impl crate::DbConn + ?Sized),
    ) -> Result<Option<TypedSnapshot<T>>> {
        self.history
            .latest(conn)
            .await?
            .map(TypedSnapshot::new)
            .transpose()
    }

    /// The version before the latest ([`RecordHistory::previous_version`]).
    pub async fn previous_version(
        &self,
        conn: &mut (impl crate::DbConn + ?Sized),
    ) -> Result<Option<TypedSnapshot<T>>> {
        self.history
            .previous_version(conn)
            .await?
            .map(TypedSnapshot::new)
            .transpose()
    }

    /// The changes from `from` to `to` (`None`: the latest) ([`RecordHistory::diff`]).
    pub async fn diff(
        &self,
        conn: &mut (impl crate::DbConn + ?Sized),
        from: &TypedSnapshot<T>,
        to: Option<&TypedSnapshot<T>>,
        include_hidden: bool,
    ) -> Result<Diff> {
        self.history
            .diff(
                conn,
                from.snapshot(),
                to.map(TypedSnapshot::snapshot),
                include_hidden,
            )
            .await
    }
}

/// What the derive's generated code names (not a public API).
#[doc(hidden)]
pub mod __private {
    pub use serde::de::DeserializeOwned;
    pub use serde_json::Value;
}
