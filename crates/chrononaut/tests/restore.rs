//! Restoring records: an updated one, a deleted one, refusals, no-ops.

mod common;

use chrononaut::{ChangeContext, Error, Operation, RestoreTarget, TrackOptions, VersionFilter};
use serde_json::json;

#[tokio::test]
async fn restore_an_updated_record() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE account (id int PRIMARY KEY, owner text, balance int, \
         secret text NOT NULL, note text)",
    )
    .await;
    t.track(
        "account",
        &TrackOptions::new()
            .hidden(["secret"])
            .untracked(["note"])
            .strict(true),
    )
    .await;
    t.exec(
        "BEGIN; SELECT set_config('chrononaut.extra', '{\"rationale\": \"seed\"}', true); \
         INSERT INTO account (id, owner, balance, secret, note) VALUES (1, 'Doc', 100, 's0', 'n0'); \
         UPDATE account SET balance = 250, secret = 's1' WHERE id = 1; \
         UPDATE account SET owner = 'Emmett', note = 'n2' WHERE id = 1; COMMIT;",
    )
    .await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let rec =
        t.ch.record(&mut conn, "account", json!({"id": 1}))
            .await
            .expect("record");
    let ctx = ChangeContext::new()
        .user("alice")
        .rationale("undo the wrong deposit");
    let report =
        t.ch.restore(&mut conn, &rec, RestoreTarget::Version(0), &ctx)
            .await
            .expect("restore");
    assert_eq!(report.restored_from, 0);
    assert!(!report.reinserted);
    let v = report.new_version.expect("a new version");
    assert_eq!(v.version(), 3);
    assert_eq!(v.meta().operation, Some(Operation::Update));
    assert_eq!(v.meta().user_id(), Some("alice"));
    assert_eq!(v.meta().rationale(), Some("undo the wrong deposit"));
    assert_eq!(v.meta().extra_info["restored_from"]["version"], 0);
    assert_eq!(
        v.data(),
        json!({"id": 1, "owner": "Doc", "balance": 100, "version": 3})
            .as_object()
            .expect("object")
    );
    // hidden and untracked columns keep their current values
    let row = t
        .json("SELECT to_jsonb(a) FROM account a WHERE id = 1")
        .await;
    assert_eq!(
        row,
        json!({"id": 1, "owner": "Doc", "balance": 100, "secret": "s1", "note": "n2",
               "version": 3})
    );
    // history is never rewritten: 4 versions
    assert_eq!(
        rec.versions(&mut conn, &VersionFilter::new())
            .await
            .expect("versions")
            .len(),
        4
    );
    // restoring the state it already has writes nothing
    let again =
        t.ch.restore(&mut conn, &rec, RestoreTarget::Version(3), &ctx)
            .await
            .expect("restore");
    assert!(again.new_version.is_none());
    // by time
    let at = rec.version(&mut conn, 2).await.expect("v2").changed();
    let by_time =
        t.ch.restore(&mut conn, &rec, RestoreTarget::At(at), &ctx)
            .await
            .expect("restore");
    assert_eq!(by_time.restored_from, 2);
    assert_eq!(
        by_time
            .new_version
            .expect("v4")
            .get("owner")
            .expect("owner"),
        "Emmett"
    );
    // strict: a restore without change info is refused, nothing written
    let e =
        t.ch.restore(
            &mut conn,
            &rec,
            RestoreTarget::Version(0),
            &ChangeContext::new().user("x"),
        )
        .await;
    // the restore adds restored_from to extra info, which satisfies strict mode
    assert!(e.is_ok(), "{e:?}");
    let e =
        t.ch.restore(&mut conn, &rec, RestoreTarget::Version(99), &ctx)
            .await
            .expect_err("no version 99");
    assert!(matches!(e, Error::VersionNotFound { .. }), "{e}");
    let before_first = chrono::DateTime::parse_from_rfc3339("2000-01-01T00:00:00Z")
        .expect("time")
        .to_utc();
    assert!(matches!(
        t.ch.restore(&mut conn, &rec, RestoreTarget::At(before_first), &ctx)
            .await,
        Err(Error::NoHistory { .. })
    ));
}

#[tokio::test]
async fn restore_a_deleted_record() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE item (org text, num int, name text, secret text, \
         tag text NOT NULL DEFAULT 'none', PRIMARY KEY (org, num))",
    )
    .await;
    t.track("item", &TrackOptions::new().hidden(["secret", "tag"]))
        .await;
    t.exec("INSERT INTO item VALUES ('acme', 7, 'bolt', 's', 'x')")
        .await;
    t.exec("UPDATE item SET name = 'nut' WHERE num = 7").await;
    t.exec("DELETE FROM item WHERE num = 7").await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let rec =
        t.ch.record(&mut conn, "item", json!({"org": "acme", "num": 7}))
            .await
            .expect("record");
    let latest = rec.latest(&mut conn).await.expect("latest").expect("some");
    assert!(latest.is_deleted());
    let report =
        t.ch.restore(
            &mut conn,
            &rec,
            RestoreTarget::Version(0),
            &ChangeContext::new().rationale("deleted by mistake"),
        )
        .await
        .expect("restore");
    assert!(report.reinserted);
    let v = report.new_version.expect("new version");
    assert_eq!(v.version(), 3);
    assert_eq!(v.meta().operation, Some(Operation::Insert));
    assert_eq!(v.meta().rationale(), Some("deleted by mistake"));
    // hidden columns could not be known: NULL and the default
    assert_eq!(
        t.json("SELECT to_jsonb(i) FROM item i").await,
        json!({"org": "acme", "num": 7, "name": "bolt", "secret": null, "tag": "none", "version": 3})
    );
    t.assert_row_versions(
        "item",
        "item",
        "jsonb_build_object('org', t.org, 'num', t.num)",
    )
    .await;
}

#[tokio::test]
async fn restore_refused_when_hidden_values_are_unknowable() {
    let t = common::setup().await;
    t.exec("CREATE TABLE login (id int PRIMARY KEY, name text, pw text NOT NULL)")
        .await;
    t.track("login", &TrackOptions::new().hidden(["pw"])).await;
    t.exec("INSERT INTO login VALUES (1, 'doc', 'hash'); DELETE FROM login")
        .await;
    let before = t.activity_count().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let rec =
        t.ch.record(&mut conn, "login", json!({"id": 1}))
            .await
            .expect("record");
    let e =
        t.ch.restore(
            &mut conn,
            &rec,
            RestoreTarget::Version(0),
            &ChangeContext::new().rationale("r"),
        )
        .await
        .expect_err("refused");
    assert!(matches!(e, Error::CannotRestore(_)), "{e}");
    assert!(e.to_string().contains("pw"), "{e}");
    assert_eq!(t.activity_count().await, before);
    assert_eq!(t.scalar_i64("SELECT count(*) FROM login").await, 0);
}

/// Generated and identity columns are left to the database when a deleted record comes back.
#[tokio::test]
async fn restore_with_generated_and_identity_columns() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE part (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text, \
         len int GENERATED ALWAYS AS (length(name)) STORED)",
    )
    .await;
    t.track("part", &TrackOptions::new()).await;
    t.exec("INSERT INTO part (name) VALUES ('bolt'); DELETE FROM part")
        .await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let rec =
        t.ch.record(&mut conn, "part", json!({"id": 1}))
            .await
            .expect("record");
    let report =
        t.ch.restore(
            &mut conn,
            &rec,
            RestoreTarget::Version(0),
            &ChangeContext::new(),
        )
        .await
        .expect("restore");
    assert!(report.reinserted);
    assert_eq!(
        t.json("SELECT jsonb_build_object('id', id, 'name', name, 'len', len) FROM part")
            .await,
        json!({"id": 1, "name": "bolt", "len": 4})
    );
    assert_eq!(report.new_version.expect("new").version(), 2);
}

/// A restore writes back the numbers as stored, not as f64s.
#[tokio::test]
async fn restore_keeps_numeric_digits() {
    let t = common::setup().await;
    t.exec("CREATE TABLE ledger (id int PRIMARY KEY, amount numeric, fee numeric(12,2))")
        .await;
    t.track("ledger", &TrackOptions::new()).await;
    t.exec(
        "INSERT INTO ledger VALUES (1, 12345678901234567890.123456789, 0.10); \
         UPDATE ledger SET amount = 1, fee = 2 WHERE id = 1",
    )
    .await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let rec =
        t.ch.record(&mut conn, "ledger", json!({"id": 1}))
            .await
            .expect("record");
    let ctx = ChangeContext::new().rationale("undo");
    t.ch.restore(&mut conn, &rec, RestoreTarget::Version(0), &ctx)
        .await
        .expect("restore");
    assert_eq!(
        t.json("SELECT to_jsonb(array[amount::text, fee::text]) FROM ledger WHERE id = 1")
            .await,
        json!(["12345678901234567890.123456789", "0.10"])
    );
}
