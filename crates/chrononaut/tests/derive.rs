//! Typed models: `#[derive(Versioned)]` structs reading their history (versions, version_at,
//! previous/latest, has_changed_since, diffs, whole-table history_at) against a real table
//! written through SQL; hidden and untracked columns missing from the data; composite keys in
//! another schema; deserialize and key errors.
#![cfg(feature = "derive")]

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrononaut::{
    Change, Error, KeyBuilder, Operation, TrackOptions, TypedSnapshot, VersionFilter, Versioned,
};
use common::Ctx;
use serde_json::json;

async fn now(t: &Ctx) -> DateTime<Utc> {
    sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&t.pool)
        .await
        .expect("clock")
}

/// Mirrors table `account`: `password_hash` is hidden and `last_login` untracked, so neither
/// is ever in a snapshot's data (`Option` reads them as `None`); `version` is in every one.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, Versioned)]
struct Account {
    id: i32,
    owner: String,
    balance: i64,
    password_hash: Option<String>,
    #[serde(default)]
    last_login: Option<DateTime<Utc>>,
    version: Option<i32>,
}

impl Account {
    fn key_only(id: i32) -> Self {
        Account {
            id,
            owner: String::new(),
            balance: 0,
            password_hash: None,
            last_login: None,
            version: None,
        }
    }
}

fn acct(id: i32, owner: &str, balance: i64, version: i32) -> Account {
    Account {
        id,
        owner: owner.into(),
        balance,
        password_hash: None,
        last_login: None,
        version: Some(version),
    }
}

fn values<T: Clone>(v: &[TypedSnapshot<T>]) -> Vec<T> {
    v.iter().map(|s| s.value().clone()).collect()
}

#[tokio::test]
async fn typed_history_of_a_model() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE account (id int PRIMARY KEY, owner text NOT NULL, balance bigint NOT NULL, \
         password_hash text, last_login timestamptz)",
    )
    .await;
    t.track(
        "account",
        &TrackOptions::new()
            .hidden(["password_hash"])
            .untracked(["last_login"]),
    )
    .await;
    assert_eq!(Account::TABLE, "account");
    assert_eq!(Account::KEY_COLUMNS, ["id"]);

    let t0 = now(&t).await;
    t.exec(
        "INSERT INTO account (id, owner, balance, password_hash, last_login) \
         VALUES (1, 'alice', 100, 'h1', now()), (2, 'bob', 5, 'h2', NULL)",
    )
    .await;
    let t1 = now(&t).await;
    t.exec("UPDATE account SET balance = 150 WHERE id = 1")
        .await;
    t.exec("UPDATE account SET last_login = now() WHERE id = 1") // untracked: no version
        .await;
    let t2 = now(&t).await;
    t.exec("UPDATE account SET owner = 'Alice' WHERE id = 1")
        .await;
    t.exec("UPDATE account SET password_hash = 'h3' WHERE id = 1") // hidden: a version
        .await;
    let t3 = now(&t).await;
    t.exec("DELETE FROM account WHERE id = 1").await;
    let t4 = now(&t).await;

    let mut conn = t.pool.acquire().await.expect("connection");
    let c = &mut *conn;
    let ch = &t.ch;
    let alice = Account::key_only(1);
    assert_eq!(alice.key().expect("key"), json!({"id": 1}));

    // versions: typed, with meta; hidden and untracked columns absent (None)
    let all = alice
        .versions(ch, c, &VersionFilter::new())
        .await
        .expect("versions");
    assert_eq!(
        values(&all),
        [
            acct(1, "alice", 100, 0),
            acct(1, "alice", 150, 1),
            acct(1, "Alice", 150, 2),
            acct(1, "Alice", 150, 3),
            acct(1, "Alice", 150, 4),
        ]
    );
    assert_eq!(
        all.iter().map(|v| v.meta().operation).collect::<Vec<_>>(),
        [
            Some(Operation::Insert),
            Some(Operation::Update),
            Some(Operation::Update),
            Some(Operation::Update),
            Some(Operation::Delete),
        ]
    );
    assert_eq!(all[3].meta().hidden_cols_changed(), ["password_hash"]);
    assert!(all[4].is_deleted() && !all[3].is_deleted());
    assert!(matches!(
        all[0].snapshot().get("password_hash"),
        Err(Error::HiddenColumn { .. })
    ));
    let newest = alice
        .versions(ch, c, &VersionFilter::new().after(t2).newest_first())
        .await
        .expect("newest");
    assert_eq!(
        newest.iter().map(|v| v.version()).collect::<Vec<_>>(),
        [4, 3, 2]
    );

    // version, version_at, latest, previous
    assert_eq!(
        alice.version(ch, c, 2).await.expect("v2").into_value(),
        acct(1, "Alice", 150, 2)
    );
    assert!(matches!(
        alice.version(ch, c, 9).await,
        Err(Error::VersionNotFound { version: 9, .. })
    ));
    assert!(alice.version_at(ch, c, t0).await.expect("at t0").is_none());
    let at1 = alice.version_at(ch, c, t1).await.expect("at").expect("t1");
    assert_eq!(at1.value(), &acct(1, "alice", 100, 0));
    assert!(at1.changed() <= t1);
    let at2 = alice.version_at(ch, c, t2).await.expect("at").expect("t2");
    assert_eq!(at2.value().balance, 150);
    let latest = alice
        .latest_version(ch, c)
        .await
        .expect("latest")
        .expect("some");
    assert!(latest.is_deleted());
    assert_eq!(latest.value().owner, "Alice");
    let previous = alice
        .previous_version(ch, c)
        .await
        .expect("previous")
        .expect("some");
    assert_eq!(previous.version(), 3);

    // has_changed_since
    assert!(alice.has_changed_since(ch, c, t3).await.expect("since"));
    assert!(!alice.has_changed_since(ch, c, t4).await.expect("since"));

    // diffs
    let d = alice
        .diff_versions(ch, c, 0, Some(2), false)
        .await
        .expect("diff");
    assert_eq!(
        d.changes,
        BTreeMap::from([
            (
                "balance".to_owned(),
                Change::Value {
                    from: json!(100),
                    to: json!(150)
                }
            ),
            (
                "owner".to_owned(),
                Change::Value {
                    from: json!("alice"),
                    to: json!("Alice")
                }
            ),
        ])
    );
    let d = alice
        .diff_timestamps(ch, c, t2, Some(t3), true)
        .await
        .expect("diff");
    assert_eq!(
        d.changes.keys().cloned().collect::<Vec<_>>(),
        ["owner", "password_hash"]
    );
    assert_eq!(d.changes["password_hash"], Change::Hidden);
    assert!(matches!(
        alice.diff_timestamps(ch, c, t3, Some(t1), false).await,
        Err(Error::NotChronological(_))
    ));

    // one resolution, several reads
    let record = alice.record(ch, c).await.expect("record");
    let v0 = record.version(c, 0).await.expect("v0");
    let v2 = record.version(c, 2).await.expect("v2");
    assert_eq!(
        record.diff(c, &v0, Some(&v2), false).await.expect("diff"),
        alice
            .diff_versions(ch, c, 0, Some(2), false)
            .await
            .expect("diff")
    );
    assert_eq!(record.history().key(), &json!({"id": 1}));
    let by_key = Account::record_by_key(ch, c, json!({"id": "2"}))
        .await
        .expect("by key");
    assert_eq!(
        by_key
            .latest(c)
            .await
            .expect("latest")
            .map(|s| s.into_value()),
        Some(acct(2, "bob", 5, 0))
    );

    // the whole table as of t, typed
    let at = |when| {
        let pool = t.pool.clone();
        let ch = t.ch.clone();
        async move {
            let mut conn = pool.acquire().await.expect("connection");
            let mut rows = Account::history_at(&ch, &mut conn, when)
                .await
                .expect("history_at");
            rows.sort_by_key(|a| a.id);
            rows
        }
    };
    assert_eq!(at(t0).await, []);
    assert_eq!(
        at(t1).await,
        [acct(1, "alice", 100, 0), acct(2, "bob", 5, 0)]
    );
    assert_eq!(
        at(t3).await,
        [acct(1, "Alice", 150, 3), acct(2, "bob", 5, 0)]
    );
    assert_eq!(at(t4).await, [acct(2, "bob", 5, 0)]);
}

/// A composite key in another schema, a key column renamed with serde, a key given as the
/// column's type converted from a string.
#[derive(Debug, PartialEq, serde::Deserialize, Versioned)]
#[chrononaut(table = "billing.order_line")]
struct Line {
    #[chrononaut(key)]
    #[serde(rename = "order")]
    order_id: i64,
    #[chrononaut(key)]
    line: String,
    qty: i32,
}

#[tokio::test]
async fn composite_key_in_a_schema() {
    let t = common::setup().await;
    t.exec(
        "CREATE SCHEMA billing; CREATE TABLE billing.order_line (\"order\" bigint, line text, \
         qty int NOT NULL, PRIMARY KEY (\"order\", line))",
    )
    .await;
    t.track("billing.order_line", &TrackOptions::new()).await;
    t.exec("INSERT INTO billing.order_line VALUES (7, 'a', 1), (7, 'b', 2)")
        .await;
    t.exec("UPDATE billing.order_line SET qty = qty + 10").await;

    let mut conn = t.pool.acquire().await.expect("connection");
    let c = &mut *conn;
    let line = Line {
        order_id: 7,
        line: "b".into(),
        qty: 0,
    };
    assert_eq!(line.key().expect("key"), json!({"order": 7, "line": "b"}));
    let versions = line
        .versions(&t.ch, c, &VersionFilter::new())
        .await
        .expect("versions");
    assert_eq!(
        versions.iter().map(|v| v.value().qty).collect::<Vec<_>>(),
        [2, 12]
    );
    assert_eq!(versions[0].meta().table, "billing.order_line");
    let d = line
        .diff_versions(&t.ch, c, 0, None, false)
        .await
        .expect("diff");
    assert_eq!(d.changes.keys().cloned().collect::<Vec<_>>(), ["qty"]);
    let mut all = Line::history_at(&t.ch, c, now(&t).await)
        .await
        .expect("history_at");
    all.sort_by(|a, b| a.line.cmp(&b.line));
    assert_eq!(
        all.iter().map(|l| (l.order_id, l.qty)).collect::<Vec<_>>(),
        [(7, 11), (7, 12)]
    );
}

/// A struct that requires a column the history never holds, a key that does not fit.
#[derive(Debug, serde::Deserialize, Versioned)]
#[chrononaut(table = "account")]
#[allow(dead_code)]
struct Strict {
    id: i32,
    password_hash: String,
}

#[derive(Debug, serde::Deserialize, Versioned)]
#[chrononaut(table = "account")]
struct WrongKey {
    #[chrononaut(key)]
    owner: String,
}

#[tokio::test]
async fn errors_say_what_does_not_fit() {
    let t = common::setup().await;
    t.exec("CREATE TABLE account (id int PRIMARY KEY, owner text, password_hash text)")
        .await;
    t.track("account", &TrackOptions::new().hidden(["password_hash"]))
        .await;
    t.exec("INSERT INTO account VALUES (1, 'alice', 'h')").await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let c = &mut *conn;

    let strict = Strict {
        id: 1,
        password_hash: String::new(),
    };
    match strict.version(&t.ch, c, 0).await {
        Err(Error::Deserialize { what, message }) => {
            assert!(what.contains("version 0"), "{what}");
            assert!(message.contains("password_hash"), "{message}");
        }
        other => panic!("expected a deserialize error, got {other:?}"),
    }
    assert!(matches!(
        Strict::history_at(&t.ch, c, now(&t).await).await,
        Err(Error::Deserialize { .. })
    ));

    let wrong = WrongKey {
        owner: "alice".into(),
    };
    match wrong.versions(&t.ch, c, &VersionFilter::new()).await {
        Err(Error::InvalidKey { message, .. }) => {
            assert!(message.contains("\"owner\""), "{message}")
        }
        other => panic!("expected an invalid key, got {other:?}"),
    }

    // a key value that does not serialize to JSON
    let mut key = KeyBuilder::new("account");
    let bad: BTreeMap<(i32, i32), i32> = BTreeMap::from([((1, 2), 3)]);
    assert!(matches!(
        key.field("id", &bad),
        Err(Error::InvalidKey { .. })
    ));
}
