//! Recent activity: history rows newest first, of one table or of every table, in keyset
//! pages.
//!
//! Both reads are backward range scans of `ix_chrononaut_activity_table_changed (table_name,
//! changed, id)` that stop after one page: their cost does not grow with the history's size
//! (see `sql/history/activity_table.sql` and `activity_all.sql`).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgConnection, Row};

use crate::catalog::require_installed;
use crate::error::{Error, Result};
use crate::history::{load_table, normalize_key};
use crate::snapshot::{Hidden, Operation, Snapshot};
use crate::{Chrononaut, sql};

/// The page size of an [`ActivityFilter`] unless [`ActivityFilter::limit`] says otherwise.
pub const DEFAULT_ACTIVITY_LIMIT: i64 = 50;

/// Where a page of activity ends: the `(changed, id)` of its last row. The next page holds the
/// rows strictly older in `(changed, id)` order, so rows recorded meanwhile never shift it.
///
/// As text (for a URL or a JSON API) it is `<microseconds since 1970>_<id>`:
///
/// ```
/// use chrononaut::ActivityCursor;
/// let cursor: ActivityCursor = "1764643500123456_42".parse()?;
/// assert_eq!(cursor.id, 42);
/// assert_eq!(cursor.to_string(), "1764643500123456_42");
/// assert!("yesterday".parse::<ActivityCursor>().is_err());
/// # Ok::<(), chrononaut::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ActivityCursor {
    /// `changed` of the last row of the page.
    pub changed: DateTime<Utc>,
    /// `id` of the last row of the page.
    pub id: i64,
}

impl ActivityCursor {
    /// The cursor that continues after `snapshot` (a row of a page).
    pub fn after(snapshot: &Snapshot) -> Self {
        Self {
            changed: snapshot.changed(),
            id: snapshot.meta().id,
        }
    }
}

impl std::fmt::Display for ActivityCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.changed.timestamp_micros(), self.id)
    }
}

impl FromStr for ActivityCursor {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let invalid = || {
            Error::InvalidOptions(format!(
                "invalid activity cursor {s:?} (expected <microseconds>_<id>, as a page's `next` prints)"
            ))
        };
        let (micros, id) = s.split_once('_').ok_or_else(invalid)?;
        let micros: i64 = micros.parse().map_err(|_| invalid())?;
        let id: i64 = id.parse().map_err(|_| invalid())?;
        let changed = DateTime::<Utc>::from_timestamp_micros(micros).ok_or_else(invalid)?;
        Ok(Self { changed, id })
    }
}

/// Which history rows [`Chrononaut::table_activity`] and [`Chrononaut::activity`] return:
/// newest first, in pages of [`DEFAULT_ACTIVITY_LIMIT`] unless [`Self::limit`] says otherwise.
///
/// ```
/// use chrononaut::{ActivityFilter, Operation};
/// let deletions_this_week = ActivityFilter::new()
///     .operations([Operation::Delete])
///     .after(chrono::Utc::now() - chrono::Duration::days(7))
///     .limit(20);
/// # let _ = deletions_this_week;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityFilter {
    operations: Option<Vec<Operation>>,
    after: Option<DateTime<Utc>>,
    before: Option<DateTime<Utc>>,
    cursor: Option<ActivityCursor>,
    user: Option<String>,
    key: Option<Value>,
    limit: i64,
}

impl Default for ActivityFilter {
    fn default() -> Self {
        Self {
            operations: None,
            after: None,
            before: None,
            cursor: None,
            user: None,
            key: None,
            limit: DEFAULT_ACTIVITY_LIMIT,
        }
    }
}

impl ActivityFilter {
    /// Every row, the first page.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only rows made by one of `operations`. History written by the Python library has no
    /// operation and is left out by any operation filter. The filter is checked on the rows the
    /// index scan reaches: a rare operation over a long history reads the rows between its
    /// matches (bound the time with [`Self::after`] where that matters).
    pub fn operations(mut self, operations: impl IntoIterator<Item = Operation>) -> Self {
        self.operations = Some(operations.into_iter().collect());
        self
    }

    /// Only rows recorded at or after `t` (`changed >= t`).
    pub fn after(mut self, t: DateTime<Utc>) -> Self {
        self.after = Some(t);
        self
    }

    /// Only rows recorded at or before `t` (`changed <= t`).
    pub fn before(mut self, t: DateTime<Utc>) -> Self {
        self.before = Some(t);
        self
    }

    /// The page after `cursor` (a previous page's [`ActivityPage::next`]); `None`: the first.
    pub fn cursor(mut self, cursor: Option<ActivityCursor>) -> Self {
        self.cursor = cursor;
        self
    }

    /// Only rows whose `user_info.user_id` is `user` (the application user of the change
    /// context, as `log` shows it). Like [`Self::operations`], checked on the rows the index
    /// scan reaches, with no index of its own (one would cost every history write): a rare
    /// user over a long history reads the rows between their changes, bounded by the
    /// statement timeout (bound the time with [`Self::after`] where that matters). Across
    /// tables ([`Chrononaut::activity`]) it is read in time windows back from the newest row,
    /// doubling, so that the tables' scans together stop near one page of matches.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Only the rows of one record (its primary key as a JSON object; values may be given as
    /// strings and are converted to the key columns' types). Only for
    /// [`Chrononaut::table_activity`] ([`Chrononaut::activity`] refuses it: a key belongs to a
    /// table). Read from `ix_chrononaut_activity_table_key_changed`: the record's rows only.
    pub fn key(mut self, key: Value) -> Self {
        self.key = Some(key);
        self
    }

    /// At most `n` rows per page (at least 0).
    pub fn limit(mut self, n: i64) -> Self {
        self.limit = n.max(0);
        self
    }

    fn operation_names(&self) -> Option<Vec<&'static str>> {
        self.operations
            .as_ref()
            .map(|ops| ops.iter().map(|o| o.as_str()).collect())
    }
}

/// One page of activity, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivityPage {
    /// The history rows (versions), newest first by `(changed, id)`.
    pub entries: Vec<Snapshot>,
    /// The cursor of the next page (pass it to [`ActivityFilter::cursor`]); `None` when this
    /// page is the last.
    pub next: Option<ActivityCursor>,
}

impl ActivityPage {
    fn from_rows(mut entries: Vec<Snapshot>, limit: i64) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let more = entries.len() > limit;
        entries.truncate(limit);
        let next = if more {
            entries.last().map(ActivityCursor::after)
        } else {
            None
        };
        Self { entries, next }
    }
}

impl Chrononaut {
    /// The recent activity of `table`: its history rows newest first, one page per call
    /// (keyset-paginated, see [`ActivityCursor`]). The table must exist; its history is read
    /// whoever wrote it (rows written by the Python library included) and whether or not it is
    /// still tracked. One index range scan, whatever the size of the history.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut sqlx::PgConnection) -> Result<(), chrononaut::Error> {
    /// use chrononaut::{ActivityFilter, Chrononaut};
    /// let ch = Chrononaut::new();
    /// let first = ch.table_activity(conn, "accounts", &ActivityFilter::new().limit(20)).await?;
    /// for v in &first.entries {
    ///     println!("{} v{} {:?} by {:?}", v.meta().key, v.version(), v.meta().operation,
    ///              v.meta().user_id());
    /// }
    /// if let Some(next) = first.next {
    ///     // e.g. `?after=1764643500123456_42` in a URL: next.to_string(), parsed back with
    ///     // "...".parse::<chrononaut::ActivityCursor>()
    ///     let second = ch
    ///         .table_activity(conn, "accounts", &ActivityFilter::new().limit(20).cursor(Some(next)))
    ///         .await?;
    ///     # let _ = second;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn table_activity(
        &self,
        conn: &mut PgConnection,
        table: &str,
        filter: &ActivityFilter,
    ) -> Result<ActivityPage> {
        let info = load_table(conn, table).await?;
        let rows = match &filter.key {
            None => {
                let user_filter = if filter.user.is_some() {
                    sql::ACTIVITY_USER_TABLE
                } else {
                    ""
                };
                let query = sql::fill(
                    sql::ACTIVITY_TABLE,
                    &[("activity", &info.activity), ("user_filter", user_filter)],
                )?;
                let mut q = sqlx::query(sqlx::AssertSqlSafe(query))
                    .bind(info.history_name())
                    .bind(filter.after)
                    .bind(filter.before)
                    .bind(filter.cursor.map(|c| c.changed))
                    .bind(filter.cursor.map(|c| c.id))
                    .bind(filter.operation_names())
                    .bind(filter.limit.saturating_add(1));
                if let Some(user) = &filter.user {
                    // planned for its values every time (unnamed statement): see below
                    q = q.bind(user.as_str()).persistent(false);
                }
                q.fetch_all(&mut *conn).await?
            }
            Some(key) => {
                let key = normalize_key(conn, &info, key).await?;
                sqlx::query(sqlx::AssertSqlSafe(info.query(sql::ACTIVITY_KEY)?))
                    .bind(info.history_name())
                    .bind(key)
                    .bind(filter.after)
                    .bind(filter.before)
                    .bind(filter.cursor.map(|c| c.changed))
                    .bind(filter.cursor.map(|c| c.id))
                    .bind(filter.operation_names())
                    .bind(filter.user.as_deref())
                    .bind(filter.limit.saturating_add(1))
                    .fetch_all(&mut *conn)
                    .await?
            }
        };
        let entries = rows
            .iter()
            .map(|r| Snapshot::from_row(r, &info.columns))
            .collect::<Result<Vec<_>>>()?;
        Ok(ActivityPage::from_rows(entries, filter.limit))
    }

    /// The recent activity of every table with history (tracked now or before, or written by
    /// the Python library), newest first, one page per call, as
    /// [`Chrononaut::table_activity`]; [`crate::SnapshotMeta::table`] says whose each row is.
    /// A merge of one index probe per table: its cost grows with the number of tables that
    /// have history, not with the history's size.
    ///
    /// ```no_run
    /// # async fn f(conn: &mut sqlx::PgConnection) -> Result<(), chrononaut::Error> {
    /// use chrononaut::{ActivityFilter, Chrononaut, Operation};
    /// let since = chrono::Utc::now() - chrono::Duration::hours(1);
    /// let page = Chrononaut::new()
    ///     .activity(conn, &ActivityFilter::new().after(since).operations([Operation::Delete]))
    ///     .await?;
    /// for v in &page.entries {
    ///     println!("{} {} deleted at {}", v.meta().table, v.meta().key, v.changed());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn activity(
        &self,
        conn: &mut PgConnection,
        filter: &ActivityFilter,
    ) -> Result<ActivityPage> {
        if filter.key.is_some() {
            return Err(Error::InvalidOptions(
                "a key filter needs a table: use table_activity".into(),
            ));
        }
        let installed = require_installed(conn).await?;
        let options = sqlx::query(sql::OPTIONS_BY_NAME)
            .fetch_all(&mut *conn)
            .await?;
        let mut columns: HashMap<String, Arc<Hidden>> = HashMap::new();
        for row in &options {
            let mut hidden = Hidden {
                hidden: row.try_get("hidden")?,
                untracked: row.try_get("untracked")?,
            };
            if row.try_get::<bool, _>("record_changes")? {
                hidden
                    .untracked
                    .extend(["change_info".to_owned(), "changed".to_owned()]);
            }
            columns.insert(row.try_get("history_name")?, Arc::new(hidden));
        }
        let untracked = Arc::new(Hidden::default());
        let activity = installed.activity().into_string();
        let user_filter = if filter.user.is_some() {
            sql::ACTIVITY_USER_ALL
        } else {
            ""
        };
        let query = sql::fill(
            sql::ACTIVITY_ALL,
            &[("activity", &activity), ("user_filter", user_filter)],
        )?;
        let limit = filter.limit.saturating_add(1);
        let rows = match &filter.user {
            None => {
                let bounds = Bounds {
                    after: filter.after,
                    before: filter.before,
                    cursor: filter.cursor.map(|c| (c.changed, c.id)),
                };
                all_rows(conn, &query, filter, bounds, limit).await?
            }
            Some(_) => {
                let span = sql::fill(sql::ACTIVITY_SPAN, &[("activity", &activity)])?;
                let plain = sql::fill(
                    sql::ACTIVITY_ALL,
                    &[("activity", &activity), ("user_filter", "")],
                )?;
                user_walk(conn, &query, &plain, &span, filter, limit).await?
            }
        };
        let entries = rows
            .iter()
            .map(|r| {
                let name: String = r.try_get("table_name")?;
                Snapshot::from_row(r, columns.get(&name).unwrap_or(&untracked))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ActivityPage::from_rows(entries, filter.limit))
    }
}

/// The bounds of one run of `activity_all.sql`: `changed >= after`, `changed <= before`,
/// `(changed, id) < cursor`.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    after: Option<DateTime<Utc>>,
    before: Option<DateTime<Utc>>,
    cursor: Option<(DateTime<Utc>, i64)>,
}

/// The first window of [`user_walk`], back from its upper end; each next one is twice as long.
/// About a page of a 1-in-50 user at 20 history rows a second would take 2 minutes: a few
/// doublings.
const FIRST_WINDOW: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

/// One run of `activity_all.sql` (`query`, filled) within `bounds`: at most `limit` rows, newest
/// first.
async fn all_rows(
    conn: &mut PgConnection,
    query: &str,
    filter: &ActivityFilter,
    bounds: Bounds,
    limit: i64,
) -> Result<Vec<sqlx::postgres::PgRow>> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(query.to_owned()))
        .bind(bounds.after)
        .bind(bounds.before)
        .bind(bounds.cursor.map(|c| c.0))
        .bind(bounds.cursor.map(|c| c.1))
        .bind(filter.operation_names())
        .bind(limit);
    if let Some(user) = &filter.user {
        // Not a prepared statement of the connection's cache: after five runs PostgreSQL
        // may keep a generic plan, and the generic plan of a filter it cannot estimate
        // (`user_info->>'user_id' = $7`) bitmap-scans and sorts every table's whole
        // history (6 s at 1M rows) instead of walking the index newest first. Planned for
        // the values, the walk stops after a page of matches.
        q = q.bind(user.as_str()).persistent(false);
    }
    Ok(q.fetch_all(&mut *conn).await?)
}

/// The rows of a user filter across every table: `activity_all.sql` reads a page of matches
/// *per table* and keeps one page, so over many tables it reads tables x a page of the user's
/// rows. Instead, walk back in time windows: the same query bounded to `[upper - w, upper)`,
/// `w` doubling from [`FIRST_WINDOW`] until the page is full or the window reaches the
/// caller's `after` (or the oldest history row: then one last run with only the caller's
/// bounds). Each per-table probe then stops at the window's lower end, and most windows hold
/// few matches of each table. After a window without a match the next one starts at the newest
/// row (of anyone) below it, so a gap in the history costs one probe, not many doublings.
///
/// Exactly the rows of one unbounded run, in the same order: the first window has the caller's
/// `before` and cursor and `changed >= upper - w`; the next ones have the cursor
/// `(lower end of the previous window, i64::MIN)`, i.e. `changed <` that end, so the windows
/// neither overlap nor leave gaps, and rows of one `changed` fall in one window (ties stay
/// ordered by id DESC). Each window is its own statement (read committed: its own snapshot),
/// like a next page: a row committed meanwhile into a window already read is not repeated.
async fn user_walk(
    conn: &mut PgConnection,
    query: &str,
    plain: &str,
    span: &str,
    filter: &ActivityFilter,
    limit: i64,
) -> Result<Vec<sqlx::postgres::PgRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(span.to_owned()))
        .fetch_one(&mut *conn)
        .await?;
    let newest: Option<DateTime<Utc>> = row.try_get("newest")?;
    let oldest: Option<DateTime<Utc>> = row.try_get("oldest")?;
    let (Some(newest), Some(oldest)) = (newest, oldest) else {
        return Ok(Vec::new());
    };
    let mut upper = newest;
    if let Some(before) = filter.before {
        upper = upper.min(before);
    }
    if let Some(cursor) = filter.cursor {
        upper = upper.min(cursor.changed);
    }
    let floor = filter.after.map_or(oldest, |a| a.max(oldest));
    let mut cursor = filter.cursor.map(|c| (c.changed, c.id));
    let mut width = FIRST_WINDOW;
    let mut rows = Vec::new();
    loop {
        let lower = upper.checked_sub_signed(width).filter(|l| *l > floor);
        let bounds = Bounds {
            // the last window: down to the caller's own bound
            after: lower.or(filter.after),
            before: filter.before,
            cursor,
        };
        let before_window = rows.len();
        let wanted = limit.saturating_sub(i64::try_from(rows.len()).unwrap_or(i64::MAX));
        rows.extend(all_rows(conn, query, filter, bounds, wanted).await?);
        let Some(lower) = lower else { break };
        if i64::try_from(rows.len()).unwrap_or(i64::MAX) >= limit {
            break;
        }
        // next: changed < lower (no id is below i64::MIN)
        cursor = Some((lower, i64::MIN));
        upper = lower;
        if rows.len() == before_window {
            // No match in this window: skip any gap in the history below it (say an idle
            // hour), from the newest row of any user under the window (one probe per table).
            let below = Bounds {
                after: filter.after,
                before: filter.before,
                cursor,
            };
            let unfiltered = ActivityFilter::new();
            match all_rows(conn, plain, &unfiltered, below, 1).await?.first() {
                Some(row) => upper = upper.min(row.try_get("changed")?),
                None => break,
            }
        }
        width = width.checked_mul(2).unwrap_or(chrono::TimeDelta::MAX);
    }
    Ok(rows)
}

impl Chrononaut {
    /// The history `table_name`s of the tracked tables (`accounts`, `billing.accounts`),
    /// sorted: what [`Chrononaut::table_activity`] takes as a table, for a filter's choices.
    /// Reads the catalog only, not the history.
    pub async fn activity_tables(&self, conn: &mut PgConnection) -> Result<Vec<String>> {
        require_installed(conn).await?;
        let mut names: Vec<String> = sqlx::query(sql::OPTIONS_BY_NAME)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get("history_name"))
            .collect::<std::result::Result<_, _>>()?;
        names.sort();
        Ok(names)
    }
}
