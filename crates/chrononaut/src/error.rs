//! The one error type of the library.

/// SQLSTATE raised by a strict-mode table when a write carries no extra change info.
pub const SQLSTATE_STRICT: &str = "CN001";
/// SQLSTATE raised when something tries to UPDATE, DELETE or TRUNCATE history.
pub const SQLSTATE_APPEND_ONLY: &str = "CN002";
/// SQLSTATE raised when the transaction-local context settings are malformed.
pub const SQLSTATE_BAD_CONTEXT: &str = "CN004";
/// SQLSTATE raised when an update names a version (`SET version = n`) that the row has moved past.
pub const SQLSTATE_STALE_VERSION: &str = "CN005";
/// SQLSTATE raised when a write touches a locked record or a frozen table.
pub const SQLSTATE_RECORD_LOCKED: &str = "CN006";
/// SQLSTATE raised when a lock or unlock is refused (no such record, already locked, ...).
pub const SQLSTATE_LOCK_REFUSED: &str = "CN007";
/// SQLSTATE raised when a prune cannot be done (the activity table is not partitioned, rows
/// older than the cut are in its DEFAULT partition, the partitions changed meanwhile).
pub const SQLSTATE_PRUNE_REFUSED: &str = "CN008";
/// PostgreSQL's `invalid_text_representation` (a malformed JSON context setting).
const SQLSTATE_INVALID_TEXT: &str = "22P02";
/// PostgreSQL's `insufficient_privilege`.
pub const SQLSTATE_PERMISSION: &str = "42501";

/// Everything that can go wrong in chrononaut.
///
/// Errors raised by the capture triggers carry SQLSTATEs of chrononaut's own (class `CN`) and
/// come back as the typed variants below, whichever statement of yours fired the trigger:
///
/// ```no_run
/// # async fn f(pool: sqlx::PgPool) -> Result<(), chrononaut::Error> {
/// let result = sqlx::query("UPDATE invoices SET amount = 10 WHERE id = 1")
///     .execute(&pool)
///     .await
///     .map_err(chrononaut::Error::from);
/// if let Err(chrononaut::Error::StrictMode(message)) = result {
///     eprintln!("give a rationale: {message}");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// chrononaut's schema is not installed in this database (run `chrononaut init`).
    #[error("chrononaut is not installed in this database; run `chrononaut init` first")]
    NotInstalled,
    /// The database holds a newer chrononaut schema than this library knows.
    #[error(
        "the database has chrononaut schema version {found}, newer than this library's {supported}; upgrade chrononaut"
    )]
    SchemaTooNew {
        /// Version found in the database.
        found: i32,
        /// Newest version this library installs.
        supported: i32,
    },
    /// The database holds an older chrononaut schema than this library needs: run
    /// `chrononaut init` (or [`crate::Chrononaut::install`]) to upgrade it in place.
    #[error(
        "the database has chrononaut schema version {found}, older than this library's {supported}; run `chrononaut init` to upgrade it"
    )]
    SchemaTooOld {
        /// Version found in the database.
        found: i32,
        /// The version this library installs.
        supported: i32,
    },
    /// An existing `chrononaut_activity` table lacks a column chrononaut needs, or has it with
    /// another type.
    #[error("existing activity table is not compatible: {0}")]
    IncompatibleActivityTable(String),
    /// The named table does not exist (or is not a table).
    #[error("unknown table: {0}")]
    UnknownTable(String),
    /// The table has no primary key, so its records cannot be identified.
    #[error("table {0} has no primary key; chrononaut needs one to identify records")]
    NoPrimaryKey(String),
    /// A column named in the options does not exist in the table.
    #[error("table {table} has no column {column:?}")]
    UnknownColumn {
        /// The table.
        table: String,
        /// The column that was named.
        column: String,
    },
    /// Tracking options that contradict each other or the table (a column both hidden and
    /// untracked, a primary-key column untracked, a `version` column of the wrong type, ...).
    #[error("invalid tracking options: {0}")]
    InvalidOptions(String),
    /// The activity table (or chrononaut's own tables) cannot be tracked.
    #[error("{0} is chrononaut's own table and cannot be tracked")]
    CannotTrackOwnTable(String),
    /// Another tracked table already writes its history under the `table_name` this table's
    /// history would have (`billing.accounts` and `public."billing.accounts"`): their records
    /// would mix. Rename one of them.
    #[error(
        "cannot track {table}: its history name {history_name:?} is already used by {other}; rename one of the two tables"
    )]
    HistoryNameTaken {
        /// The table that was to be tracked.
        table: String,
        /// The history `table_name` both would have.
        history_name: String,
        /// The tracked table that has it.
        other: String,
    },
    /// The table is not tracked.
    #[error("table {0} is not tracked")]
    NotTracked(String),
    /// The change context cannot be applied (extra info that is not a JSON object, ...), or the
    /// database found the context settings malformed.
    #[error(transparent)]
    InvalidContext(Refusal),
    /// A strict-mode table refused a write that carried no extra change info.
    #[error(transparent)]
    StrictMode(Refusal),
    /// Something tried to change or delete history without the escape that allows it.
    #[error(transparent)]
    AppendOnly(Refusal),
    /// The database refused for lack of privilege (an escape used by a non-member of
    /// `chrononaut_admin`, a write to the activity table by an application role, ...).
    #[error(transparent)]
    PermissionDenied(Refusal),
    /// A record key that does not fit the table's primary key (a column missing or unknown,
    /// a value of the wrong type, not a JSON object).
    #[error("invalid key for {table}: {message}")]
    InvalidKey {
        /// The table.
        table: String,
        /// What is wrong.
        message: String,
    },
    /// A snapshot column that is hidden: its changes are noted, its values never stored
    /// (the Python library's `HiddenAttributeError`).
    #[error("column {column:?} of {table} is hidden: its values are not recorded")]
    HiddenColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// A snapshot column that is untracked (the Python library's `UntrackedAttributeError`).
    #[error("column {column:?} of {table} is untracked: it is not recorded")]
    UntrackedColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// The record has no version with this number.
    #[error("{table} {key} has no version {version}")]
    VersionNotFound {
        /// The table.
        table: String,
        /// The record's key, as JSON.
        key: String,
        /// The version asked for.
        version: i32,
    },
    /// The record has no history (at all, or at the time asked for).
    #[error("{table} {key} has no history{when}")]
    NoHistory {
        /// The table.
        table: String,
        /// The record's key, as JSON.
        key: String,
        /// Empty, or " at <time>".
        when: String,
    },
    /// A diff whose `to` lies before its `from`.
    #[error("diffs must be chronological: {0}")]
    NotChronological(String),
    /// A snapshot or row that does not deserialize into the requested type.
    #[error("cannot deserialize {what}: {message}")]
    Deserialize {
        /// What was deserialized (table, key and version).
        what: String,
        /// serde's message.
        message: String,
    },
    /// A restore that cannot be done faithfully (a hidden or untracked column of a deleted
    /// record that is NOT NULL without default, ...). Nothing was written.
    #[error("cannot restore: {0}")]
    CannotRestore(String),
    /// Legacy history cannot be converted (missing legacy table or column, a second `--all`
    /// over converted data without `force`, progress recorded with another id column, ...).
    #[error("cannot convert legacy history: {0}")]
    Conversion(String),
    /// An update that expected another version of the record than the one it has (optimistic
    /// concurrency: someone changed the record since it was read). Nothing was written.
    #[error(transparent)]
    StaleVersion(Refusal),
    /// A write to a locked record or a frozen table; the message names who locked it, when
    /// and why. Nothing was written.
    #[error(transparent)]
    RecordLocked(Refusal),
    /// A lock or unlock that cannot be done: the table is not tracked, the record does not
    /// exist, it is already locked (lock) or not locked (unlock), no reason was given.
    #[error(transparent)]
    LockRefused(Refusal),
    /// A prune that cannot be done (see [`SQLSTATE_PRUNE_REFUSED`]). Nothing was removed.
    #[error(transparent)]
    PruneRefused(Refusal),
    /// An archive of pruned history that cannot be written or read (nothing was pruned when
    /// writing it failed).
    #[error("archive: {0}")]
    Archive(String),
    /// The record asked for does not exist.
    #[error("{table} has no record {key}")]
    RecordNotFound {
        /// The table.
        table: String,
        /// The key, as JSON.
        key: String,
    },
    /// A digest file that cannot be read or does not fit this database.
    #[error("invalid digest: {0}")]
    InvalidDigest(String),
    /// Something this backend does not do (yet): SQLite serves capture, history reads and
    /// time travel; locks, restore, verify, conversion and pruning are PostgreSQL's only.
    #[error("{what} is not available on {backend}")]
    Unsupported {
        /// What was asked for.
        what: String,
        /// The database it was asked of (`SQLite`).
        backend: &'static str,
    },
    /// A bug in chrononaut itself (a SQL template and its filler that do not fit). Please report it.
    #[error("internal error: {0}")]
    Internal(String),
    /// Any other database error (also kept as [`std::error::Error::source`]).
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        let sqlx::Error::Database(db) = &err else {
            return Error::Database(err);
        };
        let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
        // SQLite: a capture trigger's RAISE(ABORT, 'CN00n: ...') carries the code in its text
        // (SQLite has no SQLSTATEs); the refusal keeps it as its code.
        if let Some(code) = sqlite_refusal_code(db.as_ref()) {
            let mut refusal = Refusal::from_database(err);
            refusal.code = Some(code.to_owned());
            return match code {
                SQLSTATE_STRICT => Error::StrictMode(refusal),
                SQLSTATE_APPEND_ONLY => Error::AppendOnly(refusal),
                SQLSTATE_BAD_CONTEXT => Error::InvalidContext(refusal),
                SQLSTATE_STALE_VERSION => Error::StaleVersion(refusal),
                SQLSTATE_RECORD_LOCKED => Error::RecordLocked(refusal),
                _ => Error::LockRefused(refusal),
            };
        }
        let ours = |r: Option<&str>| r.is_some_and(|w| w.contains("function chrononaut."));
        let variant: fn(Refusal) -> Error = match db.code().as_deref() {
            Some(SQLSTATE_STRICT) => Error::StrictMode,
            Some(SQLSTATE_APPEND_ONLY) => Error::AppendOnly,
            Some(SQLSTATE_BAD_CONTEXT) => Error::InvalidContext,
            Some(SQLSTATE_STALE_VERSION) => Error::StaleVersion,
            Some(SQLSTATE_RECORD_LOCKED) => Error::RecordLocked,
            Some(SQLSTATE_LOCK_REFUSED) => Error::LockRefused,
            Some(SQLSTATE_PRUNE_REFUSED) => Error::PruneRefused,
            // Only chrononaut's own refusals: a RAISE in one of its functions, or PostgreSQL
            // refusing access to one of its objects. A 42501 about a table of yours stays a
            // database error.
            Some(SQLSTATE_PERMISSION)
                if pg.is_some_and(|p| ours(p.r#where())) || refused_ours(db.message()) =>
            {
                Error::PermissionDenied
            }
            // A context setting that looks like JSON but is not: the cast in
            // chrononaut.current_context() fails (checked there without an exception
            // block, which would cost a subtransaction per captured statement).
            Some(SQLSTATE_INVALID_TEXT)
                if pg.is_some_and(|p| {
                    p.r#where()
                        .is_some_and(|w| w.contains("chrononaut.current_context()"))
                }) =>
            {
                let message = format!(
                    "malformed chrononaut context: chrononaut.extra, chrononaut.extra_auto or \
                     chrononaut.record_extra is not valid JSON ({}{})",
                    db.message(),
                    pg.and_then(|p| p.detail())
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                );
                let mut refusal = Refusal::from_database(err);
                refusal.message = message;
                return Error::InvalidContext(refusal);
            }
            _ => return Error::Database(err),
        };
        variant(Refusal::from_database(err))
    }
}

/// The chrononaut code (`CN001` ...) of a refusal raised by a SQLite trigger of chrononaut's.
fn sqlite_refusal_code(db: &dyn sqlx::error::DatabaseError) -> Option<&'static str> {
    db.try_downcast_ref::<sqlx::sqlite::SqliteError>()?;
    let message = db.message();
    [
        SQLSTATE_STRICT,
        SQLSTATE_APPEND_ONLY,
        SQLSTATE_BAD_CONTEXT,
        SQLSTATE_STALE_VERSION,
        SQLSTATE_RECORD_LOCKED,
        SQLSTATE_LOCK_REFUSED,
    ]
    .into_iter()
    .find(|code| {
        message
            .strip_prefix(code)
            .is_some_and(|rest| rest.starts_with(':'))
    })
}

/// Whether a PostgreSQL privilege error (`permission denied for table locks`, `must be owner
/// of table chrononaut_activity`) names one of
/// chrononaut's objects. PostgreSQL names the object without its schema, so an object of yours
/// named like one of ours (a table `locks`, a function `unlock`) is taken for ours.
fn refused_ours(message: &str) -> bool {
    const OURS: &[&str] = &[
        // tables (chrononaut_activity and the schema match the prefix below)
        "locks",
        "lock_events",
        "tracked",
        "meta",
        "fixups",
        "heads",
        "prunes",
        "conversions",
        // functions of schema chrononaut (the per-table ones are capture_*)
        "as_of",
        "chain_hash",
        "check_table_lock",
        "current_context",
        "escape_allowed",
        "guard_activity",
        "heads_clear",
        "heads_forget",
        "heads_note",
        "prune_apply",
        "prune_plan",
        "rebuild_heads",
        "rebuild_table_heads",
        "refresh_head",
        "lock",
        "lock_target",
        "lock_tracked",
        "record_change_info",
        "record_extra",
        "record_extra_for",
        "record_lock_event",
        "refuse_strict",
        "sync_lock_triggers",
        "unlock",
    ];
    let Some(rest) = message
        .strip_prefix("permission denied for ")
        .or_else(|| message.strip_prefix("must be owner of "))
    else {
        return false;
    };
    let name = rest.split_once(' ').map_or("", |(_, name)| name);
    name.starts_with("chrononaut") || name.starts_with("capture_") || OURS.contains(&name)
}

/// Why chrononaut (or the database on its behalf) refused something: the message, and where
/// the refusal came from the database, its SQLSTATE, DETAIL and HINT, and the database error
/// itself as [`std::error::Error::source`].
///
/// Dereferences to the message, so `refusal.contains("...")` and `format!("{refusal}")` read
/// it directly.
///
/// ```
/// # fn f(err: chrononaut::Error) {
/// if let chrononaut::Error::RecordLocked(refusal) = &err {
///     eprintln!("{refusal}");
///     if let Some(hint) = refusal.hint() {
///         eprintln!("hint: {hint}");
///     }
///     assert_eq!(refusal.code(), Some(chrononaut::SQLSTATE_RECORD_LOCKED));
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Refusal {
    message: String,
    code: Option<String>,
    detail: Option<String>,
    hint: Option<String>,
    source: Option<Box<sqlx::Error>>,
}

impl Refusal {
    /// A refusal decided by the library itself, before or without asking the database.
    pub fn new(message: impl Into<String>) -> Refusal {
        Refusal {
            message: message.into(),
            code: None,
            detail: None,
            hint: None,
            source: None,
        }
    }

    fn from_database(err: sqlx::Error) -> Refusal {
        let (message, code, detail, hint) = match &err {
            sqlx::Error::Database(db) => {
                let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
                (
                    db.message().to_owned(),
                    db.code().map(|c| c.into_owned()),
                    pg.and_then(|p| p.detail()).map(str::to_owned),
                    pg.and_then(|p| p.hint()).map(str::to_owned),
                )
            }
            other => (other.to_string(), None, None, None),
        };
        Refusal {
            message,
            code,
            detail,
            hint,
            source: Some(Box::new(err)),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The SQLSTATE, when the database refused (`CN001` ... `CN007`, `42501`).
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The database error's DETAIL, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The database error's HINT, if any (what to do about it).
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl std::ops::Deref for Refusal {
    type Target = str;
    fn deref(&self) -> &str {
        &self.message
    }
}

impl From<String> for Refusal {
    fn from(message: String) -> Refusal {
        Refusal::new(message)
    }
}

impl From<&str> for Refusal {
    fn from(message: &str) -> Refusal {
        Refusal::new(message)
    }
}

/// Result with chrononaut's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
