//! Runs the example service (`examples/items`) against a fresh database and walks through its
//! API over HTTP: create, update, a stale update, delete, restore, history, at.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn items_example_serves_its_api() {
    let db = chrononaut_testdb::TestDb::new()
        .await
        .expect("test database");
    // cargo test builds the examples next to the test binaries: target/<profile>/examples/
    let exe = std::env::current_exe().expect("test binary path");
    let example = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory")
        .join("examples")
        .join("items");
    assert!(example.exists(), "{} not built", example.display());
    let mut child = Command::new(&example)
        .env("DATABASE_URL", &db.url)
        .env("PORT", "0")
        .env("TRUSTED_PROXIES", "127.0.0.1")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the example");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the example starts within a minute")
        .expect("read stdout")
        .expect("a first line");
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");

    let created: Value = http
        .post(format!("{base}/items"))
        .header("authorization", "Bearer alice")
        .header("x-forwarded-for", "198.51.100.1, 203.0.113.7")
        .json(&json!({"name": "lamp", "price_cents": 1200}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("created item");
    assert_eq!(created["version"], 0);
    let id = created["id"].as_i64().expect("id");
    let item = format!("{base}/items/{id}");

    let updated = http
        .patch(&item)
        .header("authorization", "Bearer bob")
        .header("x-change-rationale", "price review")
        .json(&json!({"price_cents": 1500, "version": 0}))
        .send()
        .await
        .expect("update");
    assert_eq!(updated.status(), 200);
    let stale = http
        .patch(&item)
        .json(&json!({"price_cents": 1, "version": 0}))
        .send()
        .await
        .expect("stale update");
    assert_eq!(stale.status(), 409);
    assert_eq!(stale.json::<Value>().await.expect("json")["code"], "CN005");

    let deleted = http
        .delete(&item)
        .header("authorization", "Bearer dave")
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    let shown = http.get(&item).send().await.expect("show");
    assert_eq!(shown.status(), 404);

    let restored: Value = http
        .post(format!("{item}/restore"))
        .header("authorization", "Bearer carol")
        .json(&json!({"version": 1, "rationale": "deleted by mistake"}))
        .send()
        .await
        .expect("restore")
        .json()
        .await
        .expect("restore report");
    assert_eq!(restored["reinserted"], true);
    assert_eq!(restored["new_version"]["version"], 3);

    let history: Vec<Value> = http
        .get(format!("{item}/history"))
        .send()
        .await
        .expect("history")
        .json()
        .await
        .expect("versions");
    let summary: Vec<Value> = history
        .iter()
        .map(|v| {
            json!([
                v["version"],
                v["operation"],
                v["user_info"]["user_id"],
                v["extra_info"]["method"],
                v["extra_info"]["route"],
                v["extra_info"]["rationale"]
            ])
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            json!([0, "insert", "alice", "POST", "/items", null]),
            json!([1, "update", "bob", "PATCH", "/items/{id}", "price review"]),
            json!([2, "delete", "dave", "DELETE", "/items/{id}", null]),
            json!([
                3,
                "insert",
                "carol",
                "POST",
                "/items/{id}/restore",
                "deleted by mistake"
            ]),
        ]
    );
    // the client behind the trusted proxy, not the spoofable left-most hop
    assert_eq!(history[0]["user_info"]["remote_addr"], "203.0.113.7");
    assert_eq!(history[3]["extra_info"]["restored_from"]["version"], 1);
    assert_eq!(history[3]["data"]["price_cents"], 1500);

    let t = history[1]["changed"].as_str().expect("changed");
    let then: Value = http
        .get(format!("{item}/at"))
        .query(&[("t", t)])
        .send()
        .await
        .expect("at")
        .json()
        .await
        .expect("snapshot");
    assert_eq!(then["version"], 1);
    assert_eq!(then["data"]["price_cents"], 1500);
    let before = http
        .get(format!("{item}/at"))
        .query(&[("t", "2000-01-01T00:00:00Z")])
        .send()
        .await
        .expect("at");
    assert_eq!(before.status(), 404);

    child.kill().await.expect("stop the example");
}
