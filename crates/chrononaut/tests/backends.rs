//! One behaviour suite, run on both backends: every check here is written once against
//! [`Backend`] and runs on a fresh PostgreSQL database and on a fresh SQLite file. What differs
//! per backend is only how to connect, the table's DDL and how a transaction gets its context.
//! (Backend-specific behaviour is tested apart: tests/sqlite.rs, and the PostgreSQL suites.)

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use chrononaut::{
    BaselineOptions, Change, ChangeContext, Chrononaut, DbConn, Error, Operation, RestoreTarget,
    TrackOptions, VersionFilter,
};
use chrononaut_testdb::TestDb;
use futures::TryStreamExt;
use serde_json::{Value, json};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{PgPool, SqlitePool};

static N: AtomicU32 = AtomicU32::new(0);

/// A fresh database of one backend.
enum Backend {
    Postgres { _db: TestDb, pool: PgPool },
    Sqlite { path: PathBuf, pool: SqlitePool },
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Backend::Sqlite { path, .. } = self {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

impl Backend {
    async fn postgres() -> Self {
        let db = TestDb::new().await.expect("test database");
        let pool = db.pool().await.expect("pool");
        Backend::Postgres { _db: db, pool }
    }

    async fn sqlite(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "chrononaut-backends-{}-{}-{name}.db",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .expect("sqlite");
        Backend::Sqlite { path, pool }
    }

    fn name(&self) -> &'static str {
        match self {
            Backend::Postgres { .. } => "PostgreSQL",
            Backend::Sqlite { .. } => "SQLite",
        }
    }

    /// A connection, as any caller of the library holds one.
    async fn conn(&self) -> Box<dyn DbConn> {
        match self {
            Backend::Postgres { pool, .. } => Box::new(pool.acquire().await.expect("acquire")),
            Backend::Sqlite { pool, .. } => Box::new(pool.acquire().await.expect("acquire")),
        }
    }

    /// Runs `sql` as a plain writer (no context).
    async fn exec(&self, sql: &str) {
        let text = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Backend::Postgres { pool, .. } => sqlx::raw_sql(text).execute(pool).await.map(drop),
            Backend::Sqlite { pool, .. } => sqlx::raw_sql(text).execute(pool).await.map(drop),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Runs `sql` in a transaction carrying `ctx`.
    async fn exec_with(&self, ch: &Chrononaut, ctx: &ChangeContext, sql: &str) {
        let text = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Backend::Postgres { pool, .. } => {
                let mut tx = ch.begin(pool, ctx).await.expect("begin");
                sqlx::raw_sql(text).execute(&mut *tx).await.expect("write");
                tx.commit().await.expect("commit");
            }
            Backend::Sqlite { pool, .. } => {
                let mut tx = ch.begin_sqlite(pool, ctx).await.expect("begin");
                sqlx::raw_sql(text).execute(&mut *tx).await.expect("write");
                tx.commit().await.expect("commit");
            }
        }
    }

    /// `items(id, name, price, secret, seen)` in the backend's types.
    fn items_ddl(&self) -> &'static str {
        match self {
            Backend::Postgres { .. } => {
                "CREATE TABLE items (id integer PRIMARY KEY, name text, price numeric(10, 2), \
                 secret text, seen integer NOT NULL DEFAULT 0)"
            }
            Backend::Sqlite { .. } => {
                "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price NUMERIC, \
                 secret TEXT, seen INTEGER NOT NULL DEFAULT 0)"
            }
        }
    }
}

/// Both backends, each running `check` on a database of its own.
async fn on_both<F, Fut>(name: &str, check: F)
where
    F: Fn(Backend) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    check(Backend::postgres().await).await;
    check(Backend::sqlite(name).await).await;
}

/// Installs chrononaut, creates `items` with two rows, tracks it (secret hidden, seen
/// untracked) and records the rows as a baseline.
async fn items(b: &Backend, ch: &Chrononaut) {
    let mut conn = b.conn().await;
    ch.install(&mut *conn).await.expect("install");
    b.exec(b.items_ddl()).await;
    b.exec("INSERT INTO items (id, name, price, secret) VALUES (1, 'one', 1.5, 's1')")
        .await;
    ch.track(
        &mut *conn,
        "items",
        &TrackOptions::new().hidden(["secret"]).untracked(["seen"]),
    )
    .await
    .expect("track");
    let report = ch
        .baseline(&mut *conn, "items", BaselineOptions::new())
        .await
        .expect("baseline");
    assert_eq!(report.recorded, 1, "{}", b.name());
}

#[tokio::test]
async fn versions_follow_the_same_rules() {
    on_both("rules", |b| async move {
        let ch = Chrononaut::new();
        items(&b, &ch).await;
        let who = ChangeContext::new()
            .user("alice")
            .remote_addr("10.0.0.1")
            .rationale("why");
        b.exec_with(
            &ch,
            &who,
            "INSERT INTO items (id, name, price) VALUES (2, 'two', 2.5)",
        )
        .await;
        b.exec("UPDATE items SET name = 'two!' WHERE id = 2").await; // v1
        b.exec("UPDATE items SET seen = seen + 1 WHERE id = 2")
            .await; // untracked: none
        b.exec("UPDATE items SET name = name WHERE id = 2").await; // no-op: none
        b.exec("UPDATE items SET secret = 'x' WHERE id = 2").await; // hidden: v2
        b.exec("DELETE FROM items WHERE id = 2").await; // v3
        b.exec("INSERT INTO items (id, name, price) VALUES (2, 'back', 3.5)")
            .await; // v4

        let mut conn = b.conn().await;
        let record = ch
            .record(&mut *conn, "items", json!({"id": "2"}))
            .await
            .expect("record");
        let versions = record
            .versions(&mut *conn, &VersionFilter::new())
            .await
            .expect("versions");
        let seen: Vec<(i32, Option<Operation>)> = versions
            .iter()
            .map(|v| (v.version(), v.meta().operation))
            .collect();
        assert_eq!(
            seen,
            [
                (0, Some(Operation::Insert)),
                (1, Some(Operation::Update)),
                (2, Some(Operation::Update)),
                (3, Some(Operation::Delete)),
                (4, Some(Operation::Insert)),
            ],
            "{}",
            b.name()
        );
        let first = &versions[0];
        assert_eq!(first.meta().user_id(), Some("alice"), "{}", b.name());
        assert_eq!(first.meta().remote_addr(), Some("10.0.0.1"));
        assert_eq!(first.meta().rationale(), Some("why"));
        // recorded columns only, the version inside data, the same values on both
        let data: Value = Value::Object(versions[1].data().clone());
        assert_eq!(
            data,
            json!({"id": 2, "name": "two!", "price": 2.5, "version": 1}),
            "{}",
            b.name()
        );
        assert_eq!(
            versions[2].meta().extra_info["hidden_cols_changed"],
            json!(["secret"]),
            "{}",
            b.name()
        );
        // a plain writer is nobody
        assert_eq!(versions[1].meta().user_id(), None);
        // the baseline row
        let one = ch
            .record(&mut *conn, "items", json!({"id": 1}))
            .await
            .expect("record 1");
        let base = one.latest(&mut *conn).await.expect("latest").expect("some");
        assert_eq!(base.version(), 0);
        assert_eq!(
            base.meta().extra_info,
            json!({"baseline": true}),
            "{}",
            b.name()
        );
    })
    .await;
}

#[tokio::test]
async fn reads_diffs_and_time_travel_agree() {
    on_both("reads", |b| async move {
        let ch = Chrononaut::new();
        items(&b, &ch).await;
        b.exec("UPDATE items SET name = 'uno', price = 1.75 WHERE id = 1")
            .await;
        b.exec("UPDATE items SET secret = 's2' WHERE id = 1").await;
        b.exec("INSERT INTO items (id, name, price) VALUES (2, 'two', 2.5)")
            .await;
        let mut conn = b.conn().await;
        let record = ch
            .record(&mut *conn, "items", json!({"id": 1}))
            .await
            .expect("record");
        let all = record
            .versions(&mut *conn, &VersionFilter::new())
            .await
            .expect("versions");
        assert_eq!(all.len(), 3, "{}", b.name());
        let t1: DateTime<Utc> = all[1].changed();
        // version n, the version at a time, the previous one, changed since
        assert_eq!(
            record.version(&mut *conn, 1).await.expect("v1").version(),
            1
        );
        let at = record.version_at(&mut *conn, t1).await.expect("at");
        assert_eq!(at.map(|s| s.version()), Some(1), "{}", b.name());
        let before = t1 - chrono::Duration::microseconds(1);
        let at = record.version_at(&mut *conn, before).await.expect("at");
        assert_eq!(at.map(|s| s.version()), Some(0), "{}", b.name());
        let prev = record.previous_version(&mut *conn).await.expect("prev");
        assert_eq!(prev.map(|s| s.version()), Some(1));
        assert!(
            record
                .has_changed_since(&mut *conn, before)
                .await
                .expect("since")
        );
        assert!(
            !record
                .has_changed_since(&mut *conn, all[2].changed())
                .await
                .expect("since")
        );
        assert!(matches!(
            record.version(&mut *conn, 9).await,
            Err(Error::VersionNotFound { .. })
        ));
        // diffs: values, and a hidden change without its values
        let d = record
            .diff_versions(&mut *conn, 0, Some(2), true)
            .await
            .expect("diff");
        let mut names: Vec<&str> = d.changes.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["name", "price", "secret"], "{}", b.name());
        assert_eq!(
            d.values("name"),
            Some((&json!("one"), &json!("uno"))),
            "{}",
            b.name()
        );
        assert!(matches!(d.get("secret"), Some(Change::Hidden)), "{d:?}");
        // the whole table: at t1 only record 1 (as version 1); now both
        let rows: Vec<chrononaut::AsOfRow> = ch
            .as_of(&mut *conn, "items", t1)
            .await
            .expect("as_of")
            .rows()
            .try_collect()
            .await
            .expect("rows");
        assert_eq!(rows.len(), 1, "{}", b.name());
        assert_eq!(rows[0].version, 1);
        assert_eq!(rows[0].data["name"], "uno");
        assert!(rows[0].data.get("secret").is_none());
        let now: Vec<chrononaut::AsOfRow> = ch
            .as_of(
                &mut *conn,
                "items",
                Utc::now() + chrono::Duration::seconds(5),
            )
            .await
            .expect("as_of")
            .rows()
            .try_collect()
            .await
            .expect("rows");
        let mut keys: Vec<Value> = now.iter().map(|r| r.key.clone()).collect();
        keys.sort_by_key(Value::to_string);
        assert_eq!(keys, [json!({"id": 1}), json!({"id": 2})], "{}", b.name());
    })
    .await;
}

/// Writes of one record closer together than the clock's step (SQLite's has milliseconds)
/// still get strictly increasing times, so the version at each version's own time is that
/// version, and the newest time is the latest version's, the delete's included.
#[tokio::test]
async fn a_records_versions_have_increasing_times() {
    on_both("times", |b| async move {
        let ch = Chrononaut::new();
        items(&b, &ch).await;
        // many versions in one statement batch (one transaction), then one per statement
        let mut batch = String::from("BEGIN;");
        for i in 0..40 {
            batch.push_str(&format!("UPDATE items SET price = {i} WHERE id = 1;"));
        }
        batch.push_str("COMMIT;");
        b.exec(&batch).await;
        for i in 0..20 {
            b.exec(&format!("UPDATE items SET name = 'n{i}' WHERE id = 1"))
                .await;
        }
        b.exec("DELETE FROM items WHERE id = 1").await;
        b.exec("INSERT INTO items (id, name) VALUES (1, 'back')")
            .await;
        let mut conn = b.conn().await;
        let record = ch
            .record(&mut *conn, "items", json!({"id": 1}))
            .await
            .expect("record");
        let all = record
            .versions(&mut *conn, &VersionFilter::new())
            .await
            .expect("versions");
        assert_eq!(all.len(), 63, "{}", b.name());
        for pair in all.windows(2) {
            assert!(
                pair[0].changed() < pair[1].changed(),
                "{}: version {} at {} and version {} at {}",
                b.name(),
                pair[0].version(),
                pair[0].changed(),
                pair[1].version(),
                pair[1].changed()
            );
        }
        for v in &all {
            let at = record
                .version_at(&mut *conn, v.changed())
                .await
                .expect("at");
            assert_eq!(at.map(|s| s.version()), Some(v.version()), "{}", b.name());
        }
    })
    .await;
}

#[tokio::test]
async fn restore_and_bad_input_agree() {
    on_both("restore", |b| async move {
        let ch = Chrononaut::new();
        items(&b, &ch).await;
        b.exec("UPDATE items SET name = 'wrong', price = 9.25 WHERE id = 1")
            .await;
        b.exec("DELETE FROM items WHERE id = 1").await;
        let mut conn = b.conn().await;
        let record = ch
            .record(&mut *conn, "items", json!({"id": 1}))
            .await
            .expect("record");
        let ctx = ChangeContext::new().user("bob").rationale("undo");
        let report = ch
            .restore(&mut *conn, &record, RestoreTarget::Version(0), &ctx)
            .await
            .expect("restore");
        assert!(report.reinserted, "{}", b.name());
        let v = report.new_version.expect("a version");
        assert_eq!(
            (v.version(), v.meta().operation),
            (3, Some(Operation::Insert))
        );
        assert_eq!(v.meta().user_id(), Some("bob"));
        assert_eq!(v.meta().extra_info["restored_from"]["version"], 0);
        assert_eq!(v.data()["name"], "one", "{}", b.name());
        assert_eq!(v.data()["price"], json!(1.5), "{}", b.name());
        // bad input: the same typed errors
        assert!(
            matches!(
                ch.record(&mut *conn, "nope", json!({"id": 1})).await,
                Err(Error::UnknownTable(_))
            ),
            "{}",
            b.name()
        );
        for key in [json!({"name": "x"}), json!({}), json!([1])] {
            assert!(
                matches!(
                    ch.record(&mut *conn, "items", key.clone()).await,
                    Err(Error::InvalidKey { .. })
                ),
                "{} {key}",
                b.name()
            );
        }
        b.exec("CREATE TABLE nokey (v integer)").await;
        assert!(
            matches!(
                ch.track(&mut *conn, "nokey", &TrackOptions::new()).await,
                Err(Error::NoPrimaryKey(_))
            ),
            "{}",
            b.name()
        );
        assert!(
            matches!(
                ch.track(&mut *conn, "items", &TrackOptions::new().hidden(["ghost"]))
                    .await,
                Err(Error::UnknownColumn { .. }) | Err(Error::InvalidOptions(_))
            ),
            "{}",
            b.name()
        );
    })
    .await;
}

/// A row of `items`, for the typed reads of `#[derive(Versioned)]`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, chrononaut::Versioned)]
#[chrononaut(table = "items")]
struct Item {
    id: i64,
    name: String,
    price: f64,
    /// hidden: never in a snapshot
    #[serde(default)]
    secret: Option<String>,
}

#[tokio::test]
async fn typed_reads_of_the_derive_agree() {
    use chrononaut::Versioned;
    on_both("typed", |b| async move {
        let ch = Chrononaut::new();
        items(&b, &ch).await;
        b.exec("UPDATE items SET name = 'uno', price = 1.75 WHERE id = 1")
            .await;
        let mut conn = b.conn().await;
        let item = Item {
            id: 1,
            name: String::new(),
            price: 0.0,
            secret: None,
        };
        let versions = item
            .versions(&ch, &mut *conn, &VersionFilter::new())
            .await
            .expect("typed versions");
        let values: Vec<(i32, Item)> = versions
            .iter()
            .map(|v| (v.version(), v.value().clone()))
            .collect();
        let row = |name: &str, price: f64| Item {
            id: 1,
            name: name.into(),
            price,
            secret: None,
        };
        assert_eq!(
            values,
            [(0, row("one", 1.5)), (1, row("uno", 1.75))],
            "{}",
            b.name()
        );
        let latest = item
            .latest_version(&ch, &mut *conn)
            .await
            .expect("latest")
            .expect("some");
        assert_eq!(latest.value().name, "uno", "{}", b.name());
    })
    .await;
}
