//! Capture rules (DESIGN.md contracts 1-3) with exact history rows.

mod common;

use chrononaut::{ChangeContext, TrackOptions};
use serde_json::json;

#[tokio::test]
async fn insert_update_delete_exact_rows() {
    let t = common::setup().await;
    t.exec(
        "CREATE TABLE items (id int PRIMARY KEY, name text, secret text, seen int, price numeric);",
    )
    .await;
    t.track(
        "items",
        &TrackOptions::new().hidden(["secret"]).untracked(["seen"]),
    )
    .await;

    let ctx = ChangeContext::new()
        .user("alice")
        .remote_addr("10.0.0.1")
        .rationale("new stock");
    let mut tx = t.ch.begin(&t.pool, &ctx).await.unwrap();
    sqlx::query(
        "INSERT INTO items (id, name, secret, seen, price) VALUES (1, 'pen', 's1', 3, 1.50)",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // untracked only: no version
    t.exec("UPDATE items SET seen = 4 WHERE id = 1").await;
    // nothing changes: no version
    t.exec("UPDATE items SET name = name WHERE id = 1").await;
    // hidden only: a version noting the hidden column
    t.exec("UPDATE items SET secret = 's2' WHERE id = 1").await;
    t.exec("UPDATE items SET name = 'ink pen', seen = 9 WHERE id = 1")
        .await;
    t.exec("DELETE FROM items WHERE id = 1").await;

    let h = t.history("items").await;
    let none = json!({"user_id": null, "remote_addr": null});
    assert_eq!(
        h,
        vec![
            json!({"version": 0, "key": {"id": 1}, "operation": "insert",
                   "data": {"id": 1, "name": "pen", "price": 1.50, "version": 0},
                   "user_info": {"user_id": "alice", "remote_addr": "10.0.0.1"},
                   "extra_info": {"rationale": "new stock", "hidden_cols_changed": ["secret"]}}),
            json!({"version": 1, "key": {"id": 1}, "operation": "update",
                   "data": {"id": 1, "name": "pen", "price": 1.50, "version": 1},
                   "user_info": none, "extra_info": {"hidden_cols_changed": ["secret"]}}),
            json!({"version": 2, "key": {"id": 1}, "operation": "update",
                   "data": {"id": 1, "name": "ink pen", "price": 1.50, "version": 2},
                   "user_info": none, "extra_info": {}}),
            json!({"version": 3, "key": {"id": 1}, "operation": "delete",
                   "data": {"id": 1, "name": "ink pen", "price": 1.50, "version": 3},
                   "user_info": none, "extra_info": {}}),
        ]
    );
}
