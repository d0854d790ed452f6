//! SQLite: capture by triggers (every writer), versions, hidden and untracked columns, context,
//! strict mode, suppression, append-only history, and the reads (versions, version_at, diff,
//! as_of), and a writer killed in the middle of a transaction, each against a real SQLite file.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::Utc;
use chrononaut::{ChangeContext, Chrononaut, Error, Operation, TrackOptions, VersionFilter};
use futures::TryStreamExt;
use serde_json::{Value, json};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Connection, Row, SqliteConnection, SqlitePool};

/// A fresh database file of its own for one test (removed when dropped).
struct Db {
    path: PathBuf,
    pool: SqlitePool,
}

impl Drop for Db {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

static N: AtomicU32 = AtomicU32::new(0);

async fn db(name: &str) -> Db {
    db_journal(name, SqliteJournalMode::Wal).await
}

/// A fresh database file in the given journal mode.
async fn db_journal(name: &str, journal: SqliteJournalMode) -> Db {
    let path = std::env::temp_dir().join(format!(
        "chrononaut-test-{}-{}-{name}.db",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    Db {
        pool: open(&path, journal).await,
        path,
    }
}

async fn open(path: &std::path::Path, journal: SqliteJournalMode) -> SqlitePool {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(journal)
        .busy_timeout(Duration::from_secs(10));
    SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .expect("open sqlite")
}

async fn exec(pool: &SqlitePool, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A tracked table `items(id, name, price, secret hidden, seen untracked)`.
async fn items(name: &str) -> Db {
    let d = db(name).await;
    exec(
        &d.pool,
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, secret TEXT, seen INTEGER)",
    )
    .await;
    let ch = Chrononaut::new();
    let mut conn = d.pool.acquire().await.unwrap();
    ch.install(&mut conn).await.unwrap();
    ch.track(
        &mut conn,
        "items",
        &TrackOptions::new().hidden(["secret"]).untracked(["seen"]),
    )
    .await
    .unwrap();
    d
}

/// A history row: (version, operation, key, data, user_info, extra_info).
type Row6 = (i64, Option<String>, Value, Value, Value, Value);

/// The history rows of `table`, in order: (version, operation, key, data, user_info, extra_info).
async fn history(pool: &SqlitePool, table: &str) -> Vec<Row6> {
    let rows = sqlx::query(
        "SELECT version, operation, key, data, user_info, extra_info FROM chrononaut_activity \
         WHERE table_name = ?1 ORDER BY id",
    )
    .bind(table)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            let j = |c: &str| serde_json::from_str::<Value>(&r.get::<String, _>(c)).unwrap();
            (
                r.get("version"),
                r.get("operation"),
                j("key"),
                j("data"),
                j("user_info"),
                j("extra_info"),
            )
        })
        .collect()
}

fn ops(h: &[Row6]) -> Vec<(i64, &str)> {
    h.iter()
        .map(|r| (r.0, r.1.as_deref().unwrap_or("?")))
        .collect()
}

#[tokio::test]
async fn versions_follow_the_rules_and_data_is_exact() {
    let d = items("rules").await;
    let ch = Chrononaut::new();
    let ctx = ChangeContext::new()
        .user("alice")
        .remote_addr("10.0.0.1")
        .rationale("new stock");
    let mut tx = ch.begin_sqlite(&d.pool, &ctx).await.unwrap();
    sqlx::query("INSERT INTO items (id, name, price, secret, seen) VALUES (1, 'pen', 1.5, 's', 0)")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    exec(&d.pool, "UPDATE items SET price = 2.25 WHERE id = 1").await; // v1
    exec(&d.pool, "UPDATE items SET seen = 5 WHERE id = 1").await; // untracked only: none
    exec(&d.pool, "UPDATE items SET name = name WHERE id = 1").await; // no-op: none
    exec(&d.pool, "UPDATE items SET secret = 't' WHERE id = 1").await; // hidden: v2
    exec(&d.pool, "DELETE FROM items WHERE id = 1").await; // v3
    exec(
        &d.pool,
        "INSERT INTO items (id, name) VALUES (1, 'pen again')",
    )
    .await; // v4
    let h = history(&d.pool, "items").await;
    assert_eq!(
        ops(&h),
        vec![
            (0, "insert"),
            (1, "update"),
            (2, "update"),
            (3, "delete"),
            (4, "insert")
        ]
    );
    assert_eq!(h[0].2, json!({"id": 1}));
    assert_eq!(
        h[0].3,
        json!({"id": 1, "name": "pen", "price": 1.5, "version": 0})
    );
    assert_eq!(
        h[0].4,
        json!({"user_id": "alice", "remote_addr": "10.0.0.1"})
    );
    assert_eq!(
        h[0].5,
        json!({"rationale": "new stock", "hidden_cols_changed": ["secret"]})
    );
    // no context after that transaction committed: nobody known, nothing extra
    assert_eq!(h[1].4, json!({"user_id": null, "remote_addr": null}));
    assert_eq!(h[1].5, json!({}));
    assert_eq!(h[1].3["price"], json!(2.25));
    assert_eq!(h[2].5, json!({"hidden_cols_changed": ["secret"]}));
    assert_eq!(h[3].3["name"], json!("pen"));
    assert_eq!(
        h[4].3,
        json!({"id": 1, "name": "pen again", "price": null, "version": 4})
    );
    // the row's own version is kept in step
    let v: i64 = sqlx::query_scalar("SELECT version FROM items WHERE id = 1")
        .fetch_one(&d.pool)
        .await
        .unwrap();
    assert_eq!(v, 4);
    // the hidden value is nowhere in the history
    let leaked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM chrononaut_activity WHERE data LIKE '%\"s\"%' OR data LIKE '%secret%'",
    )
    .fetch_one(&d.pool)
    .await
    .unwrap();
    assert_eq!(leaked, 0);
}

#[tokio::test]
async fn the_library_reads_versions_diffs_and_as_of() {
    let d = items("reads").await;
    let ch = Chrononaut::new();
    exec(
        &d.pool,
        "INSERT INTO items (id, name, price) VALUES (1, 'a', 1.0), (2, 'b', 2.0)",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let t1 = Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    exec(&d.pool, "UPDATE items SET price = 3.5 WHERE id = 1").await;
    exec(&d.pool, "DELETE FROM items WHERE id = 2").await;
    exec(&d.pool, "INSERT INTO items (id, name) VALUES (3, 'c')").await;

    let mut conn = d.pool.acquire().await.unwrap();
    let record = ch
        .record(&mut conn, "items", json!({"id": "1"}))
        .await
        .unwrap();
    assert_eq!(record.key(), &json!({"id": 1}));
    let versions = record
        .versions(&mut conn, &VersionFilter::new())
        .await
        .unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version()).collect::<Vec<_>>(),
        vec![0, 1]
    );
    assert_eq!(versions[1].meta().operation, Some(Operation::Update));
    let at_t1 = record.version_at(&mut conn, t1).await.unwrap().unwrap();
    assert_eq!(at_t1.version(), 0);
    let diff = record
        .diff_versions(&mut conn, 0, None, true)
        .await
        .unwrap();
    assert_eq!(diff.changes.len(), 1, "{diff:?}");
    assert!(diff.changes.contains_key("price"));
    assert!(matches!(
        record.version(&mut conn, 7).await,
        Err(Error::VersionNotFound { .. })
    ));
    // the hidden column reads as hidden, never as a value
    assert!(matches!(
        versions[0].get("secret"),
        Err(Error::HiddenColumn { .. })
    ));

    let rows = |at| {
        let ch = ch.clone();
        let pool = d.pool.clone();
        async move {
            let mut conn = pool.acquire().await.unwrap();
            let as_of = ch.as_of(&mut conn, "items", at).await.unwrap();
            let mut rows: Vec<(Value, i32)> = as_of
                .rows()
                .map_ok(|r| (r.key.clone(), r.version))
                .try_collect()
                .await
                .unwrap();
            rows.sort_by_key(|r| r.0.to_string());
            rows
        }
    };
    assert_eq!(
        rows(t1).await,
        vec![(json!({"id": 1}), 0), (json!({"id": 2}), 0)]
    );
    assert_eq!(
        rows(Utc::now()).await,
        vec![(json!({"id": 1}), 1), (json!({"id": 3}), 0)]
    );

    let log = ch.table_log(&mut conn, "items", 2, None).await.unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].meta().key, json!({"id": 3}));
}

#[tokio::test]
async fn replace_upsert_and_key_changes_are_recorded() {
    let d = items("replace").await;
    exec(&d.pool, "INSERT INTO items (id, name) VALUES (1, 'a')").await;
    exec(
        &d.pool,
        "INSERT OR REPLACE INTO items (id, name) VALUES (1, 'b')",
    )
    .await;
    exec(
        &d.pool,
        "INSERT INTO items (id, name) VALUES (1, 'c') ON CONFLICT (id) DO UPDATE SET name = excluded.name",
    )
    .await;
    exec(&d.pool, "UPDATE items SET id = 2 WHERE id = 1").await;
    let h = history(&d.pool, "items").await;
    let keyed: Vec<(i64, &str, Value)> = h
        .iter()
        .map(|r| (r.0, r.1.as_deref().unwrap_or("?"), r.2.clone()))
        .collect();
    assert_eq!(
        keyed,
        vec![
            (0, "insert", json!({"id": 1})),
            (1, "update", json!({"id": 1})), // the replace
            (2, "update", json!({"id": 1})), // the upsert
            (3, "delete", json!({"id": 1})), // the key moved away
            (3, "update", json!({"id": 2})),
        ]
    );
    assert_eq!(h[1].3["name"], json!("b"));
    assert_eq!(h[3].3["name"], json!("c"));
    let v: i64 = sqlx::query_scalar("SELECT version FROM items WHERE id = 2")
        .fetch_one(&d.pool)
        .await
        .unwrap();
    assert_eq!(v, 3);

    // with recursive triggers on, SQLite fires the delete trigger for a replace
    let mut conn = d.pool.acquire().await.unwrap();
    sqlx::query("PRAGMA recursive_triggers = ON")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("INSERT OR REPLACE INTO items (id, name) VALUES (2, 'd')")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("UPDATE items SET price = 9 WHERE id = 2")
        .execute(&mut *conn)
        .await
        .unwrap();
    let h = history(&d.pool, "items").await;
    assert_eq!(
        ops(&h[5..]),
        vec![(4, "delete"), (5, "insert"), (6, "update")]
    );
    let v: i64 = sqlx::query_scalar("SELECT version FROM items WHERE id = 2")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(v, 6);
}

#[tokio::test]
async fn other_writers_are_recorded_and_a_rollback_leaves_nothing() {
    let d = items("writers").await;
    // a second connection that knows nothing of chrononaut
    let mut other = SqliteConnection::connect(&format!("sqlite://{}", d.path.display()))
        .await
        .unwrap();
    sqlx::query("INSERT INTO items (id, name) VALUES (10, 'raw')")
        .execute(&mut other)
        .await
        .unwrap();
    let mut tx = other.begin().await.unwrap();
    sqlx::query("UPDATE items SET name = 'never' WHERE id = 10")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    other.close().await.unwrap();
    // the sqlite3 shell, another process
    if let Ok(out) = std::process::Command::new("sqlite3")
        .arg(&d.path)
        .arg("UPDATE items SET name = 'shell' WHERE id = 10;")
        .output()
    {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let h = history(&d.pool, "items").await;
        assert_eq!(ops(&h), vec![(0, "insert"), (1, "update")]);
        assert_eq!(h[1].3["name"], json!("shell"));
        assert_eq!(h[1].4, json!({"user_id": null, "remote_addr": null}));
    } else {
        let h = history(&d.pool, "items").await;
        assert_eq!(ops(&h), vec![(0, "insert")]);
    }
}

#[tokio::test]
async fn strict_suppress_stale_and_append_only_refuse() {
    let d = db("refusals").await;
    exec(
        &d.pool,
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",
    )
    .await;
    let ch = Chrononaut::new();
    let mut conn = d.pool.acquire().await.unwrap();
    ch.install(&mut conn).await.unwrap();
    ch.track(&mut conn, "notes", &TrackOptions::new().strict(true))
        .await
        .unwrap();
    drop(conn);
    let err = sqlx::query("INSERT INTO notes (id, body) VALUES (1, 'x')")
        .execute(&d.pool)
        .await
        .map_err(Error::from)
        .unwrap_err();
    assert!(matches!(err, Error::StrictMode(_)), "{err:?}");
    let ctx = ChangeContext::new().rationale("first note");
    let mut tx = ch.begin_sqlite(&d.pool, &ctx).await.unwrap();
    sqlx::query("INSERT INTO notes (id, body) VALUES (1, 'x')")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // suppressed: nothing recorded, strict or not
    let mut tx = ch
        .begin_sqlite(&d.pool, &ChangeContext::new().suppress_versioning())
        .await
        .unwrap();
    sqlx::query("UPDATE notes SET body = 'quiet' WHERE id = 1")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(ops(&history(&d.pool, "notes").await), vec![(0, "insert")]);

    // a stale version is refused; the current one passes and is bumped
    let mut tx = ch.begin_sqlite(&d.pool, &ctx).await.unwrap();
    let err = sqlx::query("UPDATE notes SET body = 'y', version = 7 WHERE id = 1")
        .execute(&mut *tx)
        .await
        .map_err(Error::from)
        .unwrap_err();
    assert!(matches!(err, Error::StaleVersion(_)), "{err:?}");
    sqlx::query("UPDATE notes SET body = 'y', version = 0 WHERE id = 1")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        ops(&history(&d.pool, "notes").await),
        vec![(0, "insert"), (1, "update")]
    );

    // history is append-only
    for sql in [
        "UPDATE chrononaut_activity SET data = '{}'",
        "DELETE FROM chrononaut_activity",
    ] {
        let err = sqlx::query(sql)
            .execute(&d.pool)
            .await
            .map_err(Error::from)
            .unwrap_err();
        assert!(matches!(err, Error::AppendOnly(_)), "{sql}: {err:?}");
    }
}

#[tokio::test]
async fn bad_input_gets_clear_errors() {
    let d = db("bad").await;
    let ch = Chrononaut::new();
    let mut conn = d.pool.acquire().await.unwrap();
    let err = ch
        .track(&mut conn, "t", &TrackOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotInstalled), "{err:?}");
    ch.install(&mut conn).await.unwrap();
    ch.install(&mut conn).await.unwrap(); // again: idempotent
    sqlx::query("CREATE TABLE nokey (a TEXT)")
        .execute(&mut *conn)
        .await
        .unwrap();
    let err = ch
        .track(&mut conn, "missing", &TrackOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownTable(_)), "{err:?}");
    let err = ch
        .track(&mut conn, "nokey", &TrackOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoPrimaryKey(_)), "{err:?}");
    let err = ch
        .track(&mut conn, "chrononaut_activity", &TrackOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CannotTrackOwnTable(_)), "{err:?}");
    sqlx::query("CREATE TABLE k (id INTEGER PRIMARY KEY, a TEXT)")
        .execute(&mut *conn)
        .await
        .unwrap();
    let err = ch
        .track(&mut conn, "k", &TrackOptions::new().hidden(["nope"]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownColumn { .. }), "{err:?}");
    ch.track(&mut conn, "k", &TrackOptions::new())
        .await
        .unwrap();
    let err = ch
        .record(&mut conn, "k", json!({"id": "x"}))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidKey { .. }), "{err:?}");
    let err = ch
        .record(&mut conn, "k", json!({"other": 1}))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidKey { .. }), "{err:?}");
}

#[tokio::test]
async fn odd_identifiers_work() {
    let d = db("odd").await;
    exec(
        &d.pool,
        r#"CREATE TABLE "Odd ""Name""" ("K'ey" TEXT, "two" INTEGER, "va""l" TEXT, "sec'ret" TEXT, PRIMARY KEY ("K'ey", "two"))"#,
    )
    .await;
    let ch = Chrononaut::new();
    let mut conn = d.pool.acquire().await.unwrap();
    ch.install(&mut conn).await.unwrap();
    let tracked = ch
        .track(
            &mut conn,
            r#""Odd ""Name""""#,
            &TrackOptions::new().hidden(["sec'ret"]),
        )
        .await
        .unwrap();
    assert_eq!(tracked.history_name, r#"Odd "Name""#);
    assert_eq!(
        tracked.primary_key,
        vec!["K'ey".to_owned(), "two".to_owned()]
    );
    sqlx::query(r#"INSERT INTO "Odd ""Name""" ("K'ey", "two", "va""l", "sec'ret") VALUES ('a''b', 2, 'x"y', 'z')"#)
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(r#"UPDATE "Odd ""Name""" SET "va""l" = 'w', "sec'ret" = 'q'"#)
        .execute(&mut *conn)
        .await
        .unwrap();
    let h = history(&d.pool, r#"Odd "Name""#).await;
    assert_eq!(ops(&h), vec![(0, "insert"), (1, "update")]);
    assert_eq!(h[1].2, json!({"K'ey": "a'b", "two": 2}));
    assert_eq!(
        h[1].3,
        json!({"K'ey": "a'b", "two": 2, "va\"l": "w", "version": 1})
    );
    assert_eq!(h[1].5, json!({"hidden_cols_changed": ["sec'ret"]}));
    let record = ch
        .record(
            &mut conn,
            r#"odd "name""#,
            json!({"two": "2", "K'ey": "a'b"}),
        )
        .await
        .unwrap();
    let versions = record
        .versions(&mut conn, &VersionFilter::new())
        .await
        .unwrap();
    assert_eq!(versions.len(), 2);
}

#[tokio::test]
async fn two_writers_get_distinct_versions_and_a_reader_sees_committed_history() {
    let d = items("writers2").await;
    exec(
        &d.pool,
        "INSERT INTO items (id, name, price) VALUES (1, 'a', 0)",
    )
    .await;
    let ch = Chrononaut::new();
    let mut tasks = Vec::new();
    for w in 0..2 {
        let pool = d.pool.clone();
        let ch = ch.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let ctx = ChangeContext::new().user(format!("writer{w}"));
                let mut tx = ch.begin_sqlite(&pool, &ctx).await.unwrap();
                sqlx::query("UPDATE items SET price = price + 1, name = ?1 WHERE id = 1")
                    .bind(format!("w{w}-{i}"))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
        }));
    }
    // a reader while they write (WAL: it never blocks them)
    let mut reader = d.pool.acquire().await.unwrap();
    let mut seen = 0;
    for _ in 0..10 {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM chrononaut_activity")
            .fetch_one(&mut *reader)
            .await
            .unwrap();
        assert!(n >= seen);
        seen = n;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    let h = history(&d.pool, "items").await;
    assert_eq!(
        h.iter().map(|r| r.0).collect::<Vec<_>>(),
        (0..=50).collect::<Vec<_>>()
    );
    for r in &h[1..] {
        let user = r.4["user_id"].as_str().unwrap();
        assert!(
            r.3["name"]
                .as_str()
                .unwrap()
                .starts_with(&format!("w{}", &user[6..]))
        );
        assert!(user == "writer0" || user == "writer1");
    }
    // history = data: the last version holds what the row holds
    let price: f64 = sqlx::query_scalar("SELECT price FROM items WHERE id = 1")
        .fetch_one(&d.pool)
        .await
        .unwrap();
    assert_eq!(h[50].3["price"], json!(price));
}

#[tokio::test]
async fn unsupported_features_say_so() {
    let d = items("unsupported").await;
    exec(&d.pool, "INSERT INTO items (id, name) VALUES (1, 'a')").await;
    let ch = Chrononaut::new();
    let mut conn = d.pool.acquire().await.unwrap();
    let record = ch
        .record(&mut conn, "items", json!({"id": 1}))
        .await
        .unwrap();
    // no lock can be taken on SQLite (`lock` takes a PostgreSQL connection), so a record's
    // and a table's lock events are none
    assert!(record.lock_events(&mut conn, 10).await.unwrap().is_empty());
    assert!(
        ch.lock_events(&mut conn, "items", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        ch.lock_events(&mut conn, "nope", 10).await,
        Err(Error::UnknownTable(_))
    ));
    let err = ch
        .track(&mut conn, "items", &TrackOptions::new().keep(30))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unsupported {
                backend: "SQLite",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "retention policies (pruning) is not available on SQLite"
    );
    let status = ch.status(&mut conn).await.unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].history_rows, 1);
    assert_eq!(status[0].options.hidden, vec!["secret".to_owned()]);
    assert!(!status[0].stale);
    sqlx::query("ALTER TABLE items ADD COLUMN extra TEXT")
        .execute(&mut *conn)
        .await
        .unwrap();
    assert!(ch.status(&mut conn).await.unwrap()[0].stale);
    ch.untrack(&mut conn, "items").await.unwrap();
    sqlx::query("UPDATE items SET name = 'untracked now'")
        .execute(&mut *conn)
        .await
        .unwrap();
    assert_eq!(history(&d.pool, "items").await.len(), 1);
    assert!(matches!(
        ch.untrack(&mut conn, "items").await,
        Err(Error::NotTracked(_))
    ));
}

/// How `items`' history disagrees with its rows: one line per record whose latest history
/// version is not the row as it is (data, version), per live row without history, and per
/// gone row whose history does not end in a delete. Empty: history = data.
async fn history_mismatches(pool: &SqlitePool) -> Vec<String> {
    let latest = sqlx::query(
        "SELECT a.key, a.version, a.data, a.operation FROM chrononaut_activity AS a \
         WHERE a.table_name = 'items' AND a.id = (SELECT max(b.id) FROM chrononaut_activity AS b \
         WHERE b.table_name = 'items' AND b.key = a.key)",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut history: std::collections::BTreeMap<String, (i64, Value, Option<String>)> = latest
        .iter()
        .map(|r| {
            let key: Value = serde_json::from_str(&r.get::<String, _>("key")).unwrap();
            let data: Value = serde_json::from_str(&r.get::<String, _>("data")).unwrap();
            (
                key.to_string(),
                (r.get("version"), data, r.get("operation")),
            )
        })
        .collect();
    let rows = sqlx::query(
        "SELECT json_object('id', id) AS key, version, \
         json_object('id', id, 'name', name, 'price', price, 'version', version) AS data \
         FROM items",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut out = Vec::new();
    for r in &rows {
        let key: Value = serde_json::from_str(&r.get::<String, _>("key")).unwrap();
        let data: Value = serde_json::from_str(&r.get::<String, _>("data")).unwrap();
        let version: i64 = r.get("version");
        match history.remove(&key.to_string()) {
            None => out.push(format!("{key}: a row without history")),
            Some((v, d, op)) => {
                if op.as_deref() == Some("delete") || v != version || d != data {
                    out.push(format!(
                        "{key}: row {data} (version {version}), history {d} (version {v}, {op:?})"
                    ));
                }
            }
        }
    }
    for (key, (v, _, op)) in history {
        if op.as_deref() != Some("delete") {
            out.push(format!(
                "{key}: no row, history ends at version {v} ({op:?})"
            ));
        }
    }
    out
}

/// The `sqlite3` shell on `path`, its stdin and stdout kept open.
struct Shell {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Shell {
    fn start(path: &std::path::Path) -> Shell {
        use std::process::{Command, Stdio};
        let mut child = Command::new(std::env::var("SQLITE3").unwrap_or_else(|_| "sqlite3".into()))
            .arg(path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("this test needs the sqlite3 shell (apt-get install sqlite3, or set SQLITE3)");
        let stdin = child.stdin.take().unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        Shell {
            child,
            stdin,
            stdout,
        }
    }

    /// Sends `script`, then waits for the line `marker` it ends by printing.
    fn run_until(&mut self, script: &str, marker: &str) {
        use std::io::{BufRead, Read, Write};
        self.stdin
            .write_all(format!("{script}\nSELECT '{marker}';\n").as_bytes())
            .unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            if self.stdout.read_line(&mut line).unwrap() == 0 {
                let mut err = String::new();
                let _ = self.child.stderr.take().unwrap().read_to_string(&mut err);
                panic!("the sqlite3 shell ended before {marker:?}: {err}");
            }
            if line.trim_end() == marker {
                return;
            }
        }
    }
}

fn file_len(path: &std::path::Path, suffix: &str) -> u64 {
    std::fs::metadata(format!("{}{suffix}", path.display()))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// A writer killed (SIGKILL) in the middle of a transaction, after its changes and their
/// history reached the file (a cache of a few pages spills them), leaves history = data:
/// none of the uncommitted rows or their history, the committed transaction's rows, history
/// and context intact, and writes after it continue the versions. In WAL mode (the
/// uncommitted frames are in the WAL and ignored) and in rollback-journal mode (the hot
/// journal is rolled back by the next opener).
#[tokio::test]
async fn a_crash_in_the_middle_of_a_transaction_leaves_history_equal_to_data() {
    for journal in [SqliteJournalMode::Wal, SqliteJournalMode::Delete] {
        let mut d = db_journal("crash", journal).await;
        exec(
            &d.pool,
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, secret TEXT, seen INTEGER)",
        )
        .await;
        let ch = Chrononaut::new();
        let mut conn = d.pool.acquire().await.unwrap();
        ch.install(&mut conn).await.unwrap();
        ch.track(
            &mut conn,
            "items",
            &TrackOptions::new().hidden(["secret"]).untracked(["seen"]),
        )
        .await
        .unwrap();
        drop(conn);
        d.pool.close().await;

        let mut shell = Shell::start(&d.path);
        shell.run_until(
            ".bail on\n.timeout 10000\n\
             BEGIN;\n\
             INSERT OR REPLACE INTO chrononaut_context (id, user_info, extra_info) VALUES \
                 (1, '{\"user_id\":\"committed\",\"remote_addr\":null}', '{\"rationale\":\"kept\"}');\n\
             WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 200) \
                 INSERT INTO items (id, name, price, secret, seen) SELECT i, 'item ' || i, i, 's', 0 FROM g;\n\
             UPDATE items SET price = price * 2 WHERE id <= 50;\n\
             DELETE FROM items WHERE id > 190;\n\
             DELETE FROM chrononaut_context;\n\
             COMMIT;",
            "committed",
        );
        let (db_before, wal_before) = (file_len(&d.path, ""), file_len(&d.path, "-wal"));
        // the transaction that dies: enough rows and history for a cache of 10 pages to spill
        shell.run_until(
            "PRAGMA cache_size = 10;\n\
             BEGIN;\n\
             INSERT OR REPLACE INTO chrononaut_context (id, user_info, extra_info) VALUES \
                 (1, '{\"user_id\":\"lost\",\"remote_addr\":null}', '{\"rationale\":\"never\"}');\n\
             WITH RECURSIVE g(i) AS (SELECT 1000 UNION ALL SELECT i + 1 FROM g WHERE i < 3999) \
                 INSERT INTO items (id, name, price) SELECT i, printf('%.400c', 'x') || i, i FROM g;\n\
             UPDATE items SET name = 'lost', secret = 'gone' WHERE id <= 100;\n\
             DELETE FROM items WHERE id BETWEEN 101 AND 120;",
            "ready",
        );
        // the uncommitted changes are on disk, not only in the shell's memory
        if journal == SqliteJournalMode::Wal {
            let wal = file_len(&d.path, "-wal");
            assert!(
                wal > wal_before + 1_000_000,
                "WAL {wal_before} -> {wal} bytes: nothing spilled"
            );
        } else {
            let db_now = file_len(&d.path, "");
            assert!(
                file_len(&d.path, "-journal") > 0 && db_now > db_before,
                "file {db_before} -> {db_now} bytes, journal {}: nothing spilled",
                file_len(&d.path, "-journal")
            );
        }
        shell.child.kill().unwrap(); // SIGKILL: no rollback, no close
        let status = shell.child.wait().unwrap();
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(status.signal(), Some(9), "{status:?}");
        }
        drop(shell);

        d.pool = open(&d.path, journal).await;
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&d.pool)
            .await
            .unwrap();
        assert_eq!(check, "ok", "{journal:?}");
        // the data is the committed transaction's
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM items ORDER BY id")
            .fetch_all(&d.pool)
            .await
            .unwrap();
        assert!(
            ids == (1..=190).collect::<Vec<_>>(),
            "{journal:?}: {} rows, ids {:?}..{:?}, not 1..190",
            ids.len(),
            ids.first(),
            ids.last()
        );
        let lost: i64 =
            sqlx::query_scalar("SELECT count(*) FROM items WHERE name = 'lost' OR secret = 'gone'")
                .fetch_one(&d.pool)
                .await
                .unwrap();
        assert_eq!(lost, 0, "{journal:?}");
        // so is the history, all of it, under its context
        let h = history(&d.pool, "items").await;
        assert_eq!(h.len(), 200 + 50 + 10, "{journal:?}");
        assert!(
            h.iter()
                .all(|r| r.4["user_id"] == json!("committed") && r.5["rationale"] == json!("kept")),
            "{journal:?}: a row not of the committed transaction"
        );
        assert_eq!(
            history_mismatches(&d.pool).await,
            Vec::<String>::new(),
            "{journal:?}"
        );
        let contexts: i64 = sqlx::query_scalar("SELECT count(*) FROM chrononaut_context")
            .fetch_one(&d.pool)
            .await
            .unwrap();
        assert_eq!(
            contexts, 0,
            "{journal:?}: a context row outlived its transaction"
        );

        // writes after the crash continue the versions
        exec(&d.pool, "UPDATE items SET price = 7 WHERE id = 1").await;
        let h = history(&d.pool, "items").await;
        let last = h.last().unwrap();
        assert_eq!((last.0, &last.2), (2, &json!({"id": 1})), "{journal:?}");
        assert_eq!(history_mismatches(&d.pool).await, Vec::<String>::new());

        // and the check sees a disagreement when there is one: a suppressed change
        exec(
            &d.pool,
            "BEGIN; INSERT INTO chrononaut_context (id, suppressed) VALUES (1, 1); \
             UPDATE items SET name = 'unrecorded' WHERE id = 2; \
             DELETE FROM chrononaut_context; COMMIT;",
        )
        .await;
        let found = history_mismatches(&d.pool).await;
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("{\"id\":2}"), "{found:?}");
    }
}

#[tokio::test]
async fn baseline_records_existing_rows_once_with_odd_names() {
    let d = db("baseline").await;
    // a quote in the table's and a column's name, a hidden column, a `version` column of its own
    exec(
        &d.pool,
        "CREATE TABLE \"it's\" (\"k\"\"ey\" TEXT PRIMARY KEY, v TEXT, secret TEXT, version INTEGER);
         INSERT INTO \"it's\" VALUES ('a', 'x', 's', 7), ('b', 'y', NULL, NULL);",
    )
    .await;
    let ch = Chrononaut::new();
    let mut conn = d.pool.acquire().await.unwrap();
    ch.install(&mut conn).await.unwrap();
    ch.track(&mut conn, "it's", &TrackOptions::new().hidden(["secret"]))
        .await
        .unwrap();
    let report = ch
        .baseline(&mut conn, "it's", chrononaut::BaselineOptions::new())
        .await
        .unwrap();
    assert_eq!(report.recorded, 2);
    let h = history(&d.pool, "it's").await;
    assert_eq!(ops(&h), [(0, "insert"), (0, "insert")]);
    assert_eq!(h[0].2, json!({"k\"ey": "a"}));
    assert_eq!(h[0].3, json!({"k\"ey": "a", "v": "x", "version": 0}));
    assert_eq!(h[0].5, json!({"baseline": true}));
    // the rows' own version now matches their history
    let versions: Vec<Option<i64>> = sqlx::query_scalar("SELECT version FROM \"it's\" ORDER BY 1")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert_eq!(versions, [Some(0), Some(0)]);
    // again: nothing (every row has history); the next change is version 1
    let again = ch
        .baseline(&mut conn, "it's", chrononaut::BaselineOptions::new())
        .await
        .unwrap();
    assert_eq!(again.recorded, 0);
    exec(
        &d.pool,
        "UPDATE \"it's\" SET v = 'z' WHERE \"k\"\"ey\" = 'a'",
    )
    .await;
    let h = history(&d.pool, "it's").await;
    assert_eq!(ops(&h), [(0, "insert"), (0, "insert"), (1, "update")]);
    // not tracked: refused
    exec(&d.pool, "CREATE TABLE plain (id INTEGER PRIMARY KEY)").await;
    assert!(matches!(
        ch.baseline(&mut conn, "plain", chrononaut::BaselineOptions::new())
            .await,
        Err(Error::NotTracked(_))
    ));
}

#[tokio::test]
async fn restore_writes_an_earlier_state_as_a_new_version() {
    let d = db("restore").await;
    // a blob, a generated column, a hidden NOT NULL column without a default
    exec(
        &d.pool,
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT, body BLOB, price NUMERIC, \
         token TEXT NOT NULL, twice INTEGER GENERATED ALWAYS AS (id * 2) VIRTUAL);
         INSERT INTO docs (id, title, body, price, token) VALUES (1, 'one', x'00ff', 350.5, 't1');",
    )
    .await;
    let ch = Chrononaut::new();
    let mut conn = d.pool.acquire().await.unwrap();
    ch.install(&mut conn).await.unwrap();
    ch.track(&mut conn, "docs", &TrackOptions::new().hidden(["token"]))
        .await
        .unwrap();
    ch.baseline(&mut conn, "docs", chrononaut::BaselineOptions::new())
        .await
        .unwrap();
    exec(
        &d.pool,
        "UPDATE docs SET title = 'changed', body = x'01', price = 1, token = 't2' WHERE id = 1",
    )
    .await;
    let record = ch
        .record(&mut conn, "docs", json!({"id": 1}))
        .await
        .unwrap();
    let ctx = ChangeContext::new().user("alice").rationale("undo");
    let report = ch
        .restore(
            &mut conn,
            &record,
            chrononaut::RestoreTarget::Version(0),
            &ctx,
        )
        .await
        .unwrap();
    assert_eq!(report.restored_from, 0);
    assert!(!report.reinserted);
    let v = report.new_version.expect("a new version");
    assert_eq!(v.version(), 2);
    assert_eq!(v.meta().user_id(), Some("alice"));
    assert_eq!(v.meta().rationale(), Some("undo"));
    assert_eq!(v.meta().extra_info["restored_from"]["version"], 0);
    // the row is back, blob as a blob; the hidden column keeps its current value
    let row: (String, Vec<u8>, f64, String, i64) =
        sqlx::query_as("SELECT title, body, price, token, twice FROM docs WHERE id = 1")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!(row, ("one".into(), vec![0x00, 0xff], 350.5, "t2".into(), 2));
    // the context row is gone: a later plain write is nobody's
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM chrononaut_context")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(left, 0);
    // the same state again: nothing written
    let again = ch
        .restore(
            &mut conn,
            &record,
            chrononaut::RestoreTarget::Version(0),
            &ctx,
        )
        .await
        .unwrap();
    assert!(again.new_version.is_none());
    // deleted, with a NOT NULL hidden column never recorded: refused, nothing written
    exec(&d.pool, "DELETE FROM docs WHERE id = 1").await;
    let before = history(&d.pool, "docs").await.len();
    let err = ch
        .restore(
            &mut conn,
            &record,
            chrononaut::RestoreTarget::Version(0),
            &ctx,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CannotRestore(_)), "{err:?}");
    assert!(err.to_string().contains("token"), "{err}");
    assert_eq!(history(&d.pool, "docs").await.len(), before);
    // a time with no version yet
    let err = ch
        .restore(
            &mut conn,
            &record,
            chrononaut::RestoreTarget::At("2000-01-01T00:00:00Z".parse().unwrap()),
            &ctx,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoHistory { .. }), "{err:?}");
}

#[tokio::test]
async fn seal_and_verify_report_each_kind_of_tampering() {
    use chrononaut::IssueKind;
    let d = items("seal").await;
    let ch = Chrononaut::new();
    let mut conn = d.pool.acquire().await.unwrap();
    for stmt in [
        "INSERT INTO items (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')",
        "UPDATE items SET name = name || '1'",
        "UPDATE items SET name = name || '2'",
    ] {
        exec(&d.pool, stmt).await;
    }
    let report = ch.seal(&mut conn).await.unwrap();
    assert_eq!(report.sealed, 12);
    let clean = ch.verify(&mut conn, None).await.unwrap();
    assert!(clean.is_ok(), "{:?}", clean.issues);
    assert_eq!(clean.tables[0].chained, 12);
    // a history write the triggers would refuse, done with them dropped
    exec(
        &d.pool,
        "DROP TRIGGER chrononaut_activity_append_only_update;
         DROP TRIGGER chrononaut_activity_append_only_delete;
         -- record 1: its middle version removed
         DELETE FROM chrononaut_activity WHERE key = '{\"id\":1}' AND version = 1;
         -- record 2: a version edited
         UPDATE chrononaut_activity SET user_info = '{\"user_id\":\"mallory\"}'
         WHERE key = '{\"id\":2}' AND version = 2;
         -- record 3: a hash removed
         UPDATE chrononaut_activity SET hash = NULL, prev_hash = NULL
         WHERE key = '{\"id\":3}' AND version = 2;",
    )
    .await;
    let report = ch.verify(&mut conn, Some("items")).await.unwrap();
    let found: Vec<(IssueKind, String, Option<i32>)> = report
        .issues
        .iter()
        .map(|i| (i.kind, i.key.clone().unwrap().to_string(), i.version))
        .collect();
    assert_eq!(
        found,
        [
            (IssueKind::Missing, "{\"id\":1}".to_owned(), Some(2)),
            (IssueKind::Edited, "{\"id\":2}".to_owned(), Some(2)),
            (IssueKind::HashRemoved, "{\"id\":3}".to_owned(), Some(2)),
        ],
        "{:?}",
        report.issues
    );
    // record 4 is untouched and a new row after the seal is only not sealed yet
    exec(&d.pool, "UPDATE items SET name = 'new' WHERE id = 4").await;
    let report = ch.verify(&mut conn, None).await.unwrap();
    assert_eq!(report.issues.len(), 3);
    assert_eq!(report.tables[0].unchained, 2);
    // an unknown table is refused
    assert!(matches!(
        ch.verify(&mut conn, Some("nope")).await,
        Err(Error::UnknownTable(_))
    ));
}

/// A digest on SQLite: the same for the same history, unchanged by a later seal, and it
/// catches what the chains cannot (a record's latest version removed) as well as an edited
/// row, for every table or for one; a digest file edited by hand is told apart.
#[tokio::test]
async fn digests_pin_the_history_whatever_is_sealed() {
    use chrononaut::IssueKind;
    let d = items("digest").await;
    let ch = Chrononaut::new();
    let mut conn = d.pool.acquire().await.unwrap();
    exec(
        &d.pool,
        "CREATE TABLE other (id INTEGER PRIMARY KEY, v TEXT)",
    )
    .await;
    ch.track(&mut conn, "other", &TrackOptions::new())
        .await
        .unwrap();
    for stmt in [
        "INSERT INTO items (id, name) VALUES (1, 'a'), (2, 'b')",
        "UPDATE items SET name = 'a1' WHERE id = 1",
        "INSERT INTO other (id, v) VALUES (1, 'x')",
    ] {
        exec(&d.pool, stmt).await;
    }
    let digest = ch.digest(&mut conn, None).await.unwrap();
    assert_eq!(digest.max_id, 4);
    let tables: Vec<(&str, i64)> = digest
        .tables
        .iter()
        .map(|t| (t.table_name.as_str(), t.rows))
        .collect();
    assert_eq!(tables, [("items", 3), ("other", 1)]);
    assert!(
        digest.database.starts_with("sqlite://"),
        "{}",
        digest.database
    );
    // the same history gives the same digest; a seal and later writes do not change it
    let again = ch.digest(&mut conn, None).await.unwrap();
    assert_eq!(
        (&again.tables, &again.overall),
        (&digest.tables, &digest.overall)
    );
    ch.seal(&mut conn).await.unwrap();
    exec(&d.pool, "UPDATE items SET name = 'b1' WHERE id = 2").await;
    let report = ch.verify_digest(&mut conn, &digest).await.unwrap();
    assert!(
        report.is_ok() && report.digest_checked,
        "{:?}",
        report.issues
    );
    let one = ch.digest(&mut conn, Some("ITEMS")).await.unwrap();
    assert_eq!(one.scope.as_deref(), Some("items"));
    assert_eq!(one.tables.len(), 1);
    // behind the triggers' back: record 1's latest version removed, other's row edited
    exec(
        &d.pool,
        "DROP TRIGGER chrononaut_activity_append_only_update;
         DROP TRIGGER chrononaut_activity_append_only_delete;
         DELETE FROM chrononaut_activity WHERE key = '{\"id\":1}' AND version = 1
           AND table_name = 'items';
         UPDATE chrononaut_activity SET data = replace(data, 'x', 'y')
         WHERE table_name = 'other';",
    )
    .await;
    // the chains of items are whole: record 1 merely ends one version earlier
    let chains = ch.verify(&mut conn, Some("items")).await.unwrap();
    assert!(chains.is_ok(), "{:?}", chains.issues);
    let report = ch.verify_digest(&mut conn, &digest).await.unwrap();
    let mismatches: Vec<(&str, &str)> = report
        .issues
        .iter()
        .filter(|i| i.kind == IssueKind::DigestMismatch)
        .map(|i| (i.table_name.as_str(), i.message.as_str()))
        .collect();
    assert_eq!(
        mismatches,
        [
            (
                "items",
                "items: 2 history rows up to id 4 now, 3 when the digest was taken"
            ),
            (
                "other",
                "other: history up to id 4 was changed since the digest was taken"
            ),
        ]
    );
    // a digest for one table checks that table only
    let report = ch.verify_digest(&mut conn, &one).await.unwrap();
    assert!(report.issues.iter().all(|i| i.table_name == "items"));
    assert_eq!(report.issues.len(), 1, "{:?}", report.issues);
    // a digest file edited by hand is told apart
    let mut forged = digest.clone();
    forged.tables[0].rows = 2;
    let report = ch.verify_digest(&mut conn, &forged).await.unwrap();
    assert!(
        report
            .issues
            .iter()
            .any(|i| i.message.contains("the digest file itself is inconsistent")),
        "{:?}",
        report.issues
    );
}

#[tokio::test]
async fn a_seal_across_batches_and_seals_keeps_every_chain_whole() {
    let d = items("seal_batches").await;
    let ch = Chrononaut::new();
    let mut conn = d.pool.acquire().await.unwrap();
    // 2 records x 3000 versions, interleaved, then a second seal over more of the same: the
    // seal's batches (5000 rows) cut through both records' chains
    exec(
        &d.pool,
        "INSERT INTO items (id, name, price) VALUES (1, 'a', 0), (2, 'b', 0)",
    )
    .await;
    let mut tx = conn.begin().await.unwrap();
    for _ in 0..2999 {
        sqlx::query("UPDATE items SET price = price + 1")
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(ch.seal(&mut conn).await.unwrap().sealed, 6000);
    for _ in 0..10 {
        sqlx::query("UPDATE items SET price = price + 1")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    assert_eq!(ch.seal(&mut conn).await.unwrap().sealed, 20);
    let report = ch.verify(&mut conn, None).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.issues);
    assert_eq!(report.tables[0].chained, 6020);
    // every row links to its record's previous row
    let broken: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM chrononaut_activity AS a
         WHERE a.prev_hash IS NOT (SELECT p.hash FROM chrononaut_activity AS p
                                   WHERE p.key = a.key AND p.table_name = a.table_name
                                     AND p.id < a.id
                                   ORDER BY p.id DESC LIMIT 1)",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(broken, 0);
}

#[tokio::test]
async fn locks_refuse_every_writer_until_unlocked() {
    let d = items("locks").await;
    exec(
        &d.pool,
        "INSERT INTO items (id, name, price) VALUES (1, 'a', 1.5), (2, 'b', 2.5)",
    )
    .await;
    let ch = Chrononaut::new();
    let ctx = ChangeContext::new().user("alice").rationale("audit");
    // locked inside a transaction with a context: alice locked it
    let mut tx = ch.begin_sqlite(&d.pool, &ctx).await.unwrap();
    let lock = ch
        .lock(&mut *tx, "items", json!({"id": "1"}), "under audit")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(lock.key, Some(json!({"id": 1})));
    assert_eq!(lock.locked_by, "alice");
    assert_eq!(lock.user_id.as_deref(), Some("alice"));
    assert_eq!(lock.reason, "under audit");
    let mut conn = d.pool.acquire().await.unwrap();
    // every writer is refused: this library's connection (typed), and the sqlite3 shell
    for statement in [
        "UPDATE items SET name = 'x' WHERE id = 1",
        "UPDATE items SET seen = 1 WHERE id = 1",
        "DELETE FROM items WHERE id = 1",
        "UPDATE items SET id = 9 WHERE id = 1",
        "INSERT OR REPLACE INTO items (id, name) VALUES (1, 'r')",
    ] {
        let err: Error = sqlx::query(statement)
            .execute(&mut *conn)
            .await
            .unwrap_err()
            .into();
        assert!(
            matches!(err, Error::RecordLocked(_)),
            "{statement}: {err:?}"
        );
    }
    let shell =
        std::process::Command::new(std::env::var("SQLITE3").unwrap_or_else(|_| "sqlite3".into()))
            .arg(&d.path)
            .arg("UPDATE items SET name = 'shell' WHERE id = 1;")
            .output()
            .unwrap();
    assert!(!shell.status.success());
    assert!(String::from_utf8_lossy(&shell.stderr).contains("CN006"));
    // the other record is free; the locked one unchanged, no history made
    exec(&d.pool, "UPDATE items SET name = 'b2' WHERE id = 2").await;
    let h = history(&d.pool, "items").await;
    assert_eq!(ops(&h), [(0, "insert"), (0, "insert"), (1, "update")]);
    // refusals of the lock calls themselves
    for (key, reason) in [(json!({"id": 1}), "again"), (json!({"id": 7}), "absent")] {
        assert!(
            matches!(
                ch.lock(&mut *conn, "items", key, reason).await,
                Err(Error::LockRefused(_))
            ),
            "{reason}"
        );
    }
    assert!(matches!(
        ch.unlock(&mut *conn, "items", json!({"id": 2})).await,
        Err(Error::LockRefused(_))
    ));
    let listed = ch.locks(&mut *conn, None).await.unwrap();
    assert_eq!(listed, vec![lock.clone()]);
    // a freeze refuses inserts too
    ch.freeze(&mut *conn, "items", "migration").await.unwrap();
    let err: Error = sqlx::query("INSERT INTO items (id, name) VALUES (3, 'c')")
        .execute(&mut *conn)
        .await
        .unwrap_err()
        .into();
    assert!(matches!(err, Error::RecordLocked(_)), "{err:?}");
    assert_eq!(ch.locks(&mut *conn, Some("items")).await.unwrap().len(), 2);
    ch.unfreeze(&mut *conn, "items").await.unwrap();
    ch.unlock(&mut *conn, "items", json!({"id": 1}))
        .await
        .unwrap();
    // no lock left: writes go through and are recorded, the refusing triggers are gone
    exec(&d.pool, "UPDATE items SET name = 'a2' WHERE id = 1").await;
    let triggers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN \
         ('chrononaut_lock_insert_items', 'chrononaut_lock_update_items', 'chrononaut_lock_delete_items')",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(triggers, 0);
    // the events: not versions, each with its version, user and reason
    let record = ch
        .record(&mut *conn, "items", json!({"id": 1}))
        .await
        .unwrap();
    let events = record.lock_events(&mut *conn, 10).await.unwrap();
    let seen: Vec<(String, Option<i32>, Value)> = events
        .iter()
        .map(|e| {
            (
                e.operation.to_string(),
                e.version,
                e.extra_info["reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("unlock".to_owned(), Some(0), json!("under audit")),
            ("lock".to_owned(), Some(0), json!("under audit")),
        ]
    );
    assert_eq!(events[1].user_info["user_id"], "alice");
    assert_eq!(
        ch.lock_events(&mut *conn, "items", 10).await.unwrap().len(),
        4
    );
    let versions = record
        .versions(&mut *conn, &VersionFilter::new())
        .await
        .unwrap();
    assert_eq!(versions.len(), 2, "lock events are not versions");
    // events are append-only
    assert!(
        sqlx::query("DELETE FROM chrononaut_lock_events")
            .execute(&mut *conn)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_schema_1_file_is_told_to_upgrade_and_upgrades_in_place() {
    let d = items("upgrade").await;
    exec(&d.pool, "INSERT INTO items (id, name) VALUES (1, 'a')").await;
    // a file as the first SQLite release left it: no lock tables, schema 1
    exec(
        &d.pool,
        "DROP TRIGGER chrononaut_lock_events_append_only_update;
         DROP TRIGGER chrononaut_lock_events_append_only_delete;
         DROP TABLE chrononaut_lock_events; DROP TABLE chrononaut_locks;
         UPDATE chrononaut_meta SET value = '1' WHERE key = 'schema_version';",
    )
    .await;
    let ch = Chrononaut::new();
    let mut conn = d.pool.acquire().await.unwrap();
    let err = ch
        .lock(&mut *conn, "items", json!({"id": 1}), "r")
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::SchemaTooOld { found: 1, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("chrononaut init"), "{err}");
    // reads still work, and know no lock events
    let record = ch
        .record(&mut *conn, "items", json!({"id": 1}))
        .await
        .unwrap();
    assert!(record.lock_events(&mut *conn, 5).await.unwrap().is_empty());
    let report = ch.install(&mut *conn).await.unwrap();
    assert_eq!(report.previous_version, Some(1));
    assert_eq!(report.schema_version, 2);
    ch.lock(&mut *conn, "items", json!({"id": 1}), "r")
        .await
        .unwrap();
    assert_eq!(history(&d.pool, "items").await.len(), 1);
}
