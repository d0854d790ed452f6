//! track / untrack / status: refusals leave no trace, options can change, history stays.

mod common;

use chrononaut::{Error, TrackOptions};
use serde_json::json;

#[tokio::test]
async fn refusals_change_nothing() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE nopk (id int, v text);
         CREATE TABLE items (id int PRIMARY KEY, a text, b text);
         CREATE VIEW items_view AS SELECT * FROM items;",
    )
    .await;
    let cases: Vec<(&str, TrackOptions)> = vec![
        ("missing_table", TrackOptions::new()),
        ("nopk", TrackOptions::new()),
        ("items", TrackOptions::new().hidden(["nope"])),
        ("items", TrackOptions::new().untracked(["a", "nope"])),
        ("items", TrackOptions::new().hidden(["a"]).untracked(["a"])),
        ("items", TrackOptions::new().untracked(["id"])),
        ("items", TrackOptions::new().hidden(["version"])),
        ("chrononaut_activity", TrackOptions::new()),
        ("public.chrononaut_activity", TrackOptions::new()),
        ("chrononaut.tracked", TrackOptions::new()),
        ("items_view", TrackOptions::new()),
        ("a.\"b", TrackOptions::new()),
    ];
    for (table, opts) in &cases {
        let r = t.try_track(table, opts).await;
        let ok = match (&r, *table) {
            (Err(Error::UnknownTable(_)), "missing_table" | "items_view" | "a.\"b") => true,
            (Err(Error::NoPrimaryKey(_)), "nopk") => true,
            (Err(Error::UnknownColumn { column, .. }), "items") => {
                column == "nope" || column == "version"
            }
            (Err(Error::InvalidOptions(_)), "items") => true,
            (Err(Error::CannotTrackOwnTable(_)), _) => table.contains("chrononaut"),
            _ => false,
        };
        assert!(ok, "{table} {opts:?}: {r:?}");
    }
    for table in ["nopk", "items", "chrononaut_activity"] {
        assert!(
            t.triggers(table)
                .await
                .iter()
                .all(|n| n == "chrononaut_append_only"),
            "{table}"
        );
        assert!(
            !t.columns(table).await.iter().any(|c| c == "operation")
                || table == "chrononaut_activity"
        );
    }
    assert_eq!(t.columns("nopk").await, vec!["id", "v"]);
    assert_eq!(t.columns("items").await, vec!["id", "a", "b"]);
    assert_eq!(
        t.columns("chrononaut_activity").await,
        vec![
            "id",
            "table_name",
            "changed",
            "version",
            "key",
            "data",
            "user_info",
            "extra_info",
            "operation",
            "prev_hash",
            "hash"
        ]
    );
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut.tracked")
            .await,
        0
    );
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM pg_proc WHERE proname LIKE 'capture\\_%'")
            .await,
        0
    );
    // not installed at all
    let bare = common::bare().await;
    bare.exec("CREATE TABLE x (id int PRIMARY KEY)").await;
    assert!(matches!(
        bare.try_track("x", &TrackOptions::new()).await,
        Err(Error::NotInstalled)
    ));
    assert_eq!(bare.columns("x").await, vec!["id"]);
}

#[tokio::test]
async fn retrack_untrack_and_status() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE acc (id int PRIMARY KEY, a text, b text, c text);
         CREATE TABLE other (id int PRIMARY KEY);",
    )
    .await;
    t.track("acc", &TrackOptions::new().hidden(["b"])).await;
    t.track("other", &TrackOptions::new().strict(false)).await;
    t.exec("INSERT INTO acc VALUES (1, 'a', 'b', 'c'); INSERT INTO other VALUES (1);")
        .await;
    // new options: c untracked, b no longer hidden, record changes on
    let re = t
        .track(
            "acc",
            &TrackOptions::new().untracked(["c"]).record_changes(true),
        )
        .await;
    assert_eq!(re.options.hidden, Vec::<String>::new());
    assert_eq!(re.options.untracked, vec!["c"]);
    assert_eq!(
        t.triggers("acc").await,
        vec![
            "chrononaut_capture_delete",
            "chrononaut_capture_insert",
            "chrononaut_capture_truncate",
            "chrononaut_capture_update",
            "zz_chrononaut_change_info",
            "zz_chrononaut_version"
        ]
    );
    t.exec("UPDATE acc SET c = 'c2'").await; // untracked now: no version
    t.exec("UPDATE acc SET b = 'b2'").await; // tracked now: in data
    let mut conn = t.pool.acquire().await.unwrap();
    let status = t.ch.status(&mut conn).await.unwrap();
    assert_eq!(
        serde_json::to_value(&status).unwrap(),
        json!([
            {"table": "public.acc", "history_name": "acc", "history_rows": 2, "strict_effective": false,
             "stale": false,
             "options": {"hidden": [], "untracked": ["c"], "record_changes": true, "strict": null, "no_chain": false, "keep_days": null}},
            {"table": "public.other", "history_name": "other", "history_rows": 1, "strict_effective": false,
             "stale": false,
             "options": {"hidden": [], "untracked": [], "record_changes": false, "strict": false, "no_chain": false, "keep_days": null}},
        ])
    );
    let last = t
        .json("SELECT data FROM chrononaut_activity WHERE table_name = 'acc' AND version = 1")
        .await;
    assert_eq!(last, json!({"id": 1, "a": "a", "b": "b2", "version": 1}));

    // untrack: triggers and functions gone, history and columns stay
    t.ch.untrack(&mut conn, "acc").await.unwrap();
    assert_eq!(t.triggers("acc").await, Vec::<String>::new());
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM pg_proc WHERE proname LIKE 'capture\\_' || 'acc'::regclass::oid || '\\_%'")
            .await,
        0
    );
    t.exec("UPDATE acc SET a = 'untracked write'").await;
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut_activity WHERE table_name = 'acc'")
            .await,
        2
    );
    assert_eq!(
        t.columns("acc").await,
        vec!["id", "a", "b", "c", "version", "change_info", "changed"]
    );
    let status = t.ch.status(&mut conn).await.unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].table, "public.other");
    assert!(matches!(
        t.ch.untrack(&mut conn, "acc").await,
        Err(Error::NotTracked(_))
    ));
    // tracking again continues the versions from the row
    t.ch.track(&mut conn, "acc", &TrackOptions::new())
        .await
        .unwrap();
    t.exec("UPDATE acc SET a = 'again'").await;
    assert_eq!(
        t.json("SELECT jsonb_build_array(version, operation) FROM chrononaut_activity WHERE table_name = 'acc' ORDER BY id DESC LIMIT 1")
            .await,
        json!([2, "update"])
    );
}

/// A column added after tracking makes the table stale in `status` until `track` runs again;
/// then changes of the new column make versions.
#[tokio::test]
async fn added_column_is_reported_stale_until_retracked() {
    let t = common::setup().await;
    t.exec("CREATE TABLE grow (id int PRIMARY KEY, a text)")
        .await;
    t.track("grow", &TrackOptions::new()).await;
    t.exec("INSERT INTO grow VALUES (1, 'a'); ALTER TABLE grow ADD COLUMN b text")
        .await;
    let mut conn = t.pool.acquire().await.unwrap();
    let status = t.ch.status(&mut conn).await.unwrap();
    assert!(status[0].stale);
    t.track("grow", &TrackOptions::new()).await;
    let status = t.ch.status(&mut conn).await.unwrap();
    assert!(!status[0].stale);
    t.exec("UPDATE grow SET b = 'b' WHERE id = 1").await;
    let h = t.history("grow").await;
    assert_eq!(h.len(), 2);
    assert_eq!(
        h[1]["data"],
        json!({"id": 1, "a": "a", "b": "b", "version": 1})
    );
}
