//! A few hundred concurrent requests as different users over a small pool: each history row
//! carries exactly its own request's user, request id and rationale, and nothing of another.

mod app;
mod common;

use std::collections::HashMap;

use axum::http::StatusCode;
use serde_json::{Value, json};

const REQUESTS: usize = 300;
const USERS: usize = 30;
const POOL: u32 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_keep_their_own_context() {
    let db = common::db(POOL).await;
    let base = common::serve(app::app(db.pool.clone())).await;
    let client = common::client();

    let requests = (0..REQUESTS).map(|i| {
        let client = client.clone();
        // 20 items: several requests wait for the same row lock, in any order
        let url = format!("{base}/items/{}", i % 20 + 1);
        async move {
            let mut request = client
                .put(url)
                .header("x-test-user", format!("user-{}", i % USERS))
                .header("x-request-id", format!("req-{i}"))
                .json(&json!({"name": format!("name-{i}")}));
            // every third request gives a rationale: the others must not get one
            if i.is_multiple_of(3) {
                request = request.header("x-change-rationale", format!("because {i}"));
            }
            let response = request.send().await.expect("request");
            (i, response.status())
        }
    });
    let results = futures_util::future::join_all(requests).await;
    for (i, status) in results {
        assert_eq!(status, StatusCode::OK, "request {i}");
    }

    let history = db.history("items").await;
    assert_eq!(history.len(), REQUESTS);
    let mut seen = HashMap::new();
    for row in &history {
        let name = row["data"]["name"].as_str().expect("name");
        let i: usize = name
            .strip_prefix("name-")
            .and_then(|n| n.parse().ok())
            .expect("a name the test wrote");
        let mut want =
            json!({"request_id": format!("req-{i}"), "method": "PUT", "route": "/items/{id}"});
        if i.is_multiple_of(3) {
            want["rationale"] = Value::String(format!("because {i}"));
        }
        assert_eq!(row["extra_info"], want, "row of request {i}");
        assert_eq!(
            row["user_info"],
            json!({"user_id": format!("user-{}", i % USERS), "remote_addr": "127.0.0.1"}),
            "row of request {i}"
        );
        assert_eq!(row["key"], json!({"id": i % 20 + 1}));
        assert!(seen.insert(i, ()).is_none(), "request {i} recorded twice");
    }
    // each item's versions are 1..n without gaps or repeats
    let mut versions: HashMap<i64, Vec<i64>> = HashMap::new();
    for row in &history {
        versions
            .entry(row["key"]["id"].as_i64().expect("id"))
            .or_default()
            .push(row["version"].as_i64().expect("version"));
    }
    for (id, mut v) in versions {
        v.sort_unstable();
        assert_eq!(
            v,
            (1..=(REQUESTS / 20) as i64).collect::<Vec<_>>(),
            "item {id}"
        );
    }
}
