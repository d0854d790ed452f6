//! The layer through a real HTTP server and client, against a real PostgreSQL: what each
//! history row records, commit and rollback, strict mode, proxies, request ids, bad headers.

mod app;
mod common;

use std::time::Duration;

use axum::http::StatusCode;
use chrononaut_axum::{ChrononautLayer, ProxyHeader, Tx};
use serde_json::{Value, json};

async fn put_name(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &[u8])],
    body: Value,
) -> reqwest::Response {
    let mut request = client.put(url).json(&body);
    for (name, value) in headers {
        let value = reqwest::header::HeaderValue::from_bytes(value).expect("header value");
        request = request.header(*name, value);
    }
    request.send().await.expect("request")
}

/// A fresh database, the test app served over it with a pool of `connections`, a client.
async fn started(connections: u32) -> (common::Db, String, reqwest::Client) {
    let db = common::db(connections).await;
    let base = common::serve(app::app(db.pool.clone())).await;
    (db, base, common::client())
}

#[tokio::test]
async fn every_context_field_is_recorded() {
    let (db, base, client) = started(4).await;

    let response = put_name(
        &client,
        &format!("{base}/items/1"),
        &[
            ("x-test-user", b"alice@example.com"),
            ("x-request-id", b"req-ctx-1"),
            ("x-change-rationale", b"  customer asked  "),
        ],
        json!({"name": "renamed"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    // a request id the client sent is not echoed
    assert!(response.headers().get("x-request-id").is_none());

    let history = db.history("items").await;
    assert_eq!(history.len(), 1, "{history:#?}");
    let row = &history[0];
    assert_eq!(row["version"], 1);
    assert_eq!(row["operation"], "update");
    assert_eq!(row["data"]["name"], "renamed");
    assert_eq!(
        row["user_info"],
        json!({"user_id": "alice@example.com", "remote_addr": "127.0.0.1"})
    );
    assert_eq!(
        row["extra_info"],
        json!({"request_id": "req-ctx-1", "method": "PUT", "route": "/items/{id}",
               "rationale": "customer asked"})
    );
}

#[tokio::test]
async fn generated_request_id_handler_rationale_and_no_user() {
    let (db, base, client) = started(4).await;

    let response = put_name(
        &client,
        &format!("{base}/items/2"),
        &[("x-change-rationale", b"from the header")],
        json!({"name": "n", "rationale": "from the handler"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let sent_back = response
        .headers()
        .get("x-request-id")
        .expect("generated request id in the response")
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(uuid::Uuid::parse_str(&sent_back).is_ok(), "{sent_back}");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["request_id"], sent_back.as_str());

    let history = db.history("items").await;
    assert_eq!(history.len(), 1);
    assert_eq!(
        history[0]["user_info"],
        json!({"user_id": null, "remote_addr": "127.0.0.1"})
    );
    assert_eq!(history[0]["extra_info"]["request_id"], sent_back.as_str());
    assert_eq!(history[0]["extra_info"]["rationale"], "from the handler");
}

#[tokio::test]
async fn error_status_rolls_back_and_success_commits() {
    let (db, base, client) = started(4).await;
    let url = format!("{base}/items/3");

    for status in [409u16, 422, 500, 503] {
        let response = put_name(
            &client,
            &url,
            &[],
            json!({"name": "lost", "status": status}),
        )
        .await;
        assert_eq!(response.status().as_u16(), status);
    }
    assert_eq!(db.item_name(3).await, "item 3");
    assert!(db.history("items").await.is_empty());

    // the default rule keeps writes answered with a redirect or a 201
    for (status, name) in [(303u16, "redirected"), (201, "created")] {
        let response = put_name(&client, &url, &[], json!({"name": name, "status": status})).await;
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(db.item_name(3).await, name);
    }
    assert_eq!(db.history("items").await.len(), 2);

    // a configured rule: only 2xx commits
    let strict_rule = app::routes(db.pool.clone())
        .layer(app::layer(db.pool.clone()).commit_when(|s| s.is_success()));
    let base2 = common::serve(strict_rule).await;
    let url2 = format!("{base2}/items/3");
    let response = put_name(&client, &url2, &[], json!({"name": "gone", "status": 303})).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(db.item_name(3).await, "created");
    assert_eq!(db.history("items").await.len(), 2);
}

#[tokio::test]
async fn a_failed_commit_is_a_500_and_nothing_is_written() {
    let (db, base, client) = started(4).await;

    // n = 2 is taken by row 2: the deferred unique check fails at COMMIT, after the handler
    // already answered 200
    let response = client
        .put(format!("{base}/deferred/1/2"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = response.json().await.expect("json body");
    assert_eq!(
        body,
        json!({"error": "could not commit the changes of this request", "code": "23505"})
    );
    let n: i32 = sqlx::query_scalar("SELECT n FROM deferred WHERE id = 1")
        .fetch_one(&db.pool)
        .await
        .expect("row");
    assert_eq!(n, 1);
    assert!(db.history("deferred").await.is_empty());

    // a custom response keeps a 5xx status even if it asks for less
    let custom =
        app::routes(db.pool.clone()).layer(app::layer(db.pool.clone()).on_commit_error(|err| {
            use axum::response::IntoResponse;
            (StatusCode::OK, format!("not saved: {err}")).into_response()
        }));
    let base2 = common::serve(custom).await;
    let response = client
        .put(format!("{base2}/deferred/1/2"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        response
            .text()
            .await
            .expect("text")
            .starts_with("not saved: ")
    );

    // a distinct value commits
    let response = client
        .put(format!("{base}/deferred/1/7"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(db.history("deferred").await.len(), 1);
}

#[tokio::test]
async fn strict_mode_refusal_is_a_422_with_the_cn001_message() {
    let (db, base, client) = started(4).await;
    let url = format!("{base}/strict/1");

    // request id, method and route are recorded but do not satisfy strict mode
    let response = client
        .put(&url)
        .header("x-test-user", "bob")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "CN001");
    let message = body["error"].as_str().expect("message");
    assert!(
        message.contains("strict mode") && message.contains("strict_items"),
        "{message}"
    );
    assert!(db.history("strict_items").await.is_empty());

    let response = client
        .put(&url)
        .header("x-test-user", "bob")
        .header("x-change-rationale", "ticket 42")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let history = db.history("strict_items").await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["extra_info"]["rationale"], "ticket 42");
    assert_eq!(history[0]["user_info"]["user_id"], "bob");
}

/// The address recorded for one request with these forwarding headers.
async fn recorded_addr(db: &common::Db, base: &str, headers: &[(&str, &[u8])]) -> Value {
    let before = db.history("items").await.len();
    let response = put_name(
        &common::client(),
        &format!("{base}/items/4"),
        headers,
        json!({"name": format!("n{before}")}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let history = db.history("items").await;
    assert_eq!(history.len(), before + 1);
    history[before]["user_info"]["remote_addr"].clone()
}

#[tokio::test]
async fn forwarding_headers_are_read_only_from_trusted_proxies() {
    let db = common::db(4).await;
    let xff: &[(&str, &[u8])] = &[("x-forwarded-for", b"1.1.1.1, 203.0.113.9")];
    let fwd: &[(&str, &[u8])] = &[("forwarded", b"for=1.1.1.1, for=\"[2001:db8::7]:99\"")];

    // no trusted proxy: the peer, whatever the headers say
    let untrusted = common::serve(app::app(db.pool.clone())).await;
    assert_eq!(recorded_addr(&db, &untrusted, xff).await, "127.0.0.1");
    assert_eq!(recorded_addr(&db, &untrusted, fwd).await, "127.0.0.1");

    // trusted proxies that do not include the peer: the peer
    let other = app::routes(db.pool.clone())
        .layer(app::layer(db.pool.clone()).trusted_proxies(["10.0.0.0/8".parse().unwrap()]));
    let other = common::serve(other).await;
    assert_eq!(recorded_addr(&db, &other, xff).await, "127.0.0.1");

    // the peer is trusted: the right-most untrusted hop, never the spoofable left-most
    let trusted = app::routes(db.pool.clone())
        .layer(app::layer(db.pool.clone()).trusted_proxies(["127.0.0.0/8".parse().unwrap()]));
    let trusted = common::serve(trusted).await;
    assert_eq!(recorded_addr(&db, &trusted, xff).await, "203.0.113.9");
    let chain: &[(&str, &[u8])] = &[("x-forwarded-for", b"1.1.1.1, 203.0.113.9, 127.0.0.5")];
    assert_eq!(recorded_addr(&db, &trusted, chain).await, "203.0.113.9");
    // no header: the peer; Forwarded is not read when the proxies write X-Forwarded-For
    assert_eq!(recorded_addr(&db, &trusted, &[]).await, "127.0.0.1");
    assert_eq!(recorded_addr(&db, &trusted, fwd).await, "127.0.0.1");

    let forwarded = app::routes(db.pool.clone()).layer(
        app::layer(db.pool.clone())
            .trusted_proxies(["127.0.0.1/32".parse().unwrap()])
            .proxy_header(ProxyHeader::Forwarded),
    );
    let forwarded = common::serve(forwarded).await;
    assert_eq!(recorded_addr(&db, &forwarded, fwd).await, "2001:db8::7");
    assert_eq!(recorded_addr(&db, &forwarded, xff).await, "127.0.0.1");
}

#[tokio::test]
async fn malformed_headers_are_handled_without_a_panic() {
    let db = common::db(4).await;
    let trusted = app::routes(db.pool.clone())
        .layer(app::layer(db.pool.clone()).trusted_proxies(["127.0.0.0/8".parse().unwrap()]));
    let base = common::serve(trusted).await;
    let client = common::client();
    let url = format!("{base}/items/5");

    // request ids that are too long, not UTF-8, or of other characters: a fresh one
    let long_id = [b'a'; 129];
    for (i, bad) in [&long_id[..], b"caf\xc3\xa9", b"\xff\xfe", b"a b", b"x;y"]
        .into_iter()
        .enumerate()
    {
        let name = format!("id {i}");
        let response = put_name(
            &client,
            &url,
            &[("x-request-id", bad)],
            json!({"name": name}),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        let generated = response
            .headers()
            .get("x-request-id")
            .expect("generated id");
        assert!(uuid::Uuid::parse_str(generated.to_str().unwrap()).is_ok());
    }
    let ok_id = [b'a'; 128];
    let response = put_name(
        &client,
        &url,
        &[("x-request-id", &ok_id)],
        json!({"name": "ok"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let history = db.history("items").await;
    assert_eq!(history.len(), 6);
    assert_eq!(history[5]["extra_info"]["request_id"], "a".repeat(128));

    // rationales that are too long, not UTF-8 or repeated: a 400, nothing written
    let long_rationale = vec![b'r'; chrononaut_axum::RATIONALE_HEADER_MAX_BYTES + 1];
    for (headers, needle) in [
        (
            vec![("x-change-rationale", &long_rationale[..])],
            "2049 bytes",
        ),
        (vec![("x-change-rationale", &b"\xff\xfe"[..])], "not UTF-8"),
        (
            vec![
                ("x-change-rationale", &b"one"[..]),
                ("x-change-rationale", b"two"),
            ],
            "more than once",
        ),
    ] {
        let response = put_name(&client, &url, &headers, json!({"name": "refused"})).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.expect("json");
        assert!(body["error"].as_str().unwrap().contains(needle), "{body}");
    }
    assert_ne!(db.item_name(5).await, "refused");
    assert_eq!(db.history("items").await.len(), 6);
    // a UTF-8 rationale at the limit is taken whole
    let mut at_limit = "é"
        .repeat(chrononaut_axum::RATIONALE_HEADER_MAX_BYTES / 2)
        .into_bytes();
    at_limit.truncate(chrononaut_axum::RATIONALE_HEADER_MAX_BYTES);
    let response = put_name(
        &client,
        &url,
        &[("x-change-rationale", &at_limit)],
        json!({"name": "long why"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let history = db.history("items").await;
    assert_eq!(
        history[6]["extra_info"]["rationale"],
        "é".repeat(chrononaut_axum::RATIONALE_HEADER_MAX_BYTES / 2)
    );

    // forwarding headers: unreadable, huge, many hops
    let mut many = String::from("203.0.113.1");
    for i in 0..2000 {
        many.push_str(&format!(", 127.0.{}.{}", i / 250, i % 250 + 1));
    }
    let huge = format!("198.51.100.1, {}", "x".repeat(60_000));
    for (value, want) in [
        (b"\xff\xfe, 203.0.113.1".to_vec(), "127.0.0.1"),
        (many.into_bytes(), "127.0.7.219"),
        (huge.into_bytes(), "127.0.0.1"),
        (b", , ,".to_vec(), "127.0.0.1"),
        (b"203.0.113.1:80".to_vec(), "203.0.113.1"),
    ] {
        let before = db.history("items").await.len();
        let response = put_name(
            &client,
            &url,
            &[("x-forwarded-for", &value)],
            json!({"name": format!("xff {before}")}),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        let history = db.history("items").await;
        assert_eq!(history[before]["user_info"]["remote_addr"], want);
    }

    // a user resolver that returns an over-long id: a 500, never a shortened id
    let long_user = app::routes(db.pool.clone())
        .layer(ChrononautLayer::new(db.pool.clone()).user(|_| Some("u".repeat(257))));
    let long_user = common::serve(long_user).await;
    let response = put_name(
        &client,
        &format!("{long_user}/items/5"),
        &[],
        json!({"name": "long user"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_ne!(db.item_name(5).await, "long user");

    // the server still answers
    let pong = client
        .get(format!("{base}/ping"))
        .send()
        .await
        .expect("ping");
    assert_eq!(pong.text().await.unwrap(), "pong");
}

/// Request ids from tower-http's SetRequestIdLayer (any header name) come first.
#[tokio::test]
async fn tower_http_request_id_is_honoured() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tower_http::request_id::{MakeRequestId, RequestId, SetRequestIdLayer};

    #[derive(Clone, Default)]
    struct Counter(Arc<AtomicU64>);
    impl MakeRequestId for Counter {
        fn make_request_id<B>(&mut self, _: &http::Request<B>) -> Option<RequestId> {
            let n = self.0.fetch_add(1, Ordering::Relaxed);
            http::HeaderValue::from_str(&format!("trace-{n}"))
                .ok()
                .map(RequestId::new)
        }
    }

    let db = common::db(4).await;
    let app = app::app(db.pool.clone()).layer(SetRequestIdLayer::new(
        http::HeaderName::from_static("x-trace-id"),
        Counter::default(),
    ));
    let base = common::serve(app).await;
    let client = common::client();
    let url = format!("{base}/items/6");
    // x-request-id loses to the layer's id
    let response = put_name(
        &client,
        &url,
        &[("x-request-id", b"mine")],
        json!({"name": "a"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    // a client-sent x-trace-id is kept by tower-http, and so used
    let response = put_name(
        &client,
        &url,
        &[("x-trace-id", b"theirs")],
        json!({"name": "b"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let history = db.history("items").await;
    assert_eq!(history[0]["extra_info"]["request_id"], "trace-0");
    assert_eq!(history[1]["extra_info"]["request_id"], "theirs");
}

/// The user comes from an extension that an auth layer puts in, even inside the
/// chrononaut layer: it is resolved when the handler takes its Tx.
#[tokio::test]
async fn user_from_an_auth_layers_extension() {
    #[derive(Clone)]
    struct CurrentUser(String);

    async fn auth(
        mut request: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> axum::response::Response {
        let user = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|name| CurrentUser(name.to_owned()));
        if let Some(user) = user {
            request.extensions_mut().insert(user);
        }
        next.run(request).await
    }

    let db = common::db(4).await;
    let app = app::routes(db.pool.clone())
        .layer(axum::middleware::from_fn(auth))
        .layer(
            ChrononautLayer::new(db.pool.clone())
                .user_from_extension(|u: &CurrentUser| format!("user:{}", u.0)),
        );
    let base = common::serve(app).await;
    let client = common::client();
    let url = format!("{base}/items/7");
    let response = put_name(
        &client,
        &url,
        &[("authorization", b"Bearer carol")],
        json!({"name": "c"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = put_name(&client, &url, &[], json!({"name": "anonymous"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let history = db.history("items").await;
    assert_eq!(history[0]["user_info"]["user_id"], "user:carol");
    assert_eq!(history[1]["user_info"]["user_id"], Value::Null);
}

/// Nothing touches the pool until a handler runs a statement through its Tx.
#[tokio::test]
async fn no_database_work_without_a_statement() {
    let db = common::db(4).await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_millis(500))
        .connect(&db.db.url)
        .await
        .expect("pool");
    let base = common::serve(app::app(pool.clone())).await;
    let client = common::client();
    let held = pool.acquire().await.expect("the pool's only connection");

    let pong = client
        .get(format!("{base}/ping"))
        .send()
        .await
        .expect("ping");
    assert_eq!(pong.status(), StatusCode::OK);
    let idle = client
        .get(format!("{base}/idle"))
        .send()
        .await
        .expect("idle");
    assert_eq!(idle.status(), StatusCode::OK);
    // a write needs the connection: the pool times out, a 503
    let response = put_name(
        &client,
        &format!("{base}/items/8"),
        &[],
        json!({"name": "w"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    drop(held);
    let response = put_name(
        &client,
        &format!("{base}/items/8"),
        &[],
        json!({"name": "w"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// One pooled connection serves a request with a context and then a write without one:
/// the second write carries nothing of the first request.
#[tokio::test]
async fn no_context_leaks_to_the_next_request() {
    let (db, base, client) = started(1).await;
    let response = put_name(
        &client,
        &format!("{base}/items/9"),
        &[
            ("x-test-user", b"dave"),
            ("x-request-id", b"req-leak"),
            ("x-change-rationale", b"why"),
        ],
        json!({"name": "with context"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = client
        .put(format!("{base}/items/9/raw"))
        .send()
        .await
        .expect("raw");
    assert_eq!(response.status(), StatusCode::OK);
    let history = db.history("items").await;
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["user_info"]["user_id"], "dave");
    assert_eq!(
        history[1]["user_info"],
        json!({"user_id": null, "remote_addr": null})
    );
    assert_eq!(history[1]["extra_info"], json!({}));
}

#[tokio::test]
async fn misuse_is_a_500_not_a_lost_or_stray_write() {
    let (db, base, client) = started(4).await;

    // a Tx sent to a task that outlives the handler: 500, its write rolled back
    let response = client
        .post(format!("{base}/items/10/spawned"))
        .send()
        .await
        .expect("spawned");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(db.item_name(10).await, "item 10");
    assert!(db.history("items").await.is_empty());

    // a failed statement swallowed by the handler: COMMIT would roll back silently, so the
    // success becomes a 500
    let response = client
        .post(format!("{base}/items/10/swallow"))
        .send()
        .await
        .expect("swallow");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "22012", "{body}");
    assert_eq!(db.item_name(10).await, "item 10");

    // two Tx in one handler
    let response = client.get(format!("{base}/two")).send().await.expect("two");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);

    // a Tx without the layer
    let bare = common::serve(app::routes(db.pool.clone())).await;
    let response = put_name(
        &client,
        &format!("{bare}/items/10"),
        &[],
        json!({"name": "x"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(db.item_name(10).await, "item 10");
}

/// A rationale given after the first write applies to the writes that follow.
#[tokio::test]
async fn late_rationale_applies_to_later_writes() {
    let (db, base, _) = started(4).await;
    let response = common::client()
        .post(format!("{base}/late-rationale"))
        .header("x-test-user", "erin")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let history = db.history("items").await;
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["key"], json!({"id": 12}));
    assert_eq!(history[0]["extra_info"].get("rationale"), None);
    assert_eq!(history[1]["extra_info"]["rationale"], "given late");
    // the re-applied context keeps the rest of the request's context
    assert_eq!(history[1]["user_info"]["user_id"], "erin");
    assert_eq!(
        history[0]["extra_info"]["request_id"],
        history[1]["extra_info"]["request_id"]
    );
}

/// The Tx extractor works with any state type and in a plain tower stack.
#[tokio::test]
async fn tx_is_usable_with_app_state() {
    #[derive(Clone)]
    struct AppState {
        suffix: &'static str,
    }
    async fn handler(
        axum::extract::State(state): axum::extract::State<AppState>,
        mut tx: Tx,
    ) -> Result<String, chrononaut_axum::HttpError> {
        let name: String =
            sqlx::query_scalar("UPDATE items SET name = name || $1 WHERE id = 11 RETURNING name")
                .bind(state.suffix)
                .fetch_one(&mut *tx)
                .await?;
        Ok(name)
    }
    let db = common::db(4).await;
    let app = axum::Router::new()
        .route("/s", axum::routing::post(handler))
        .with_state(AppState { suffix: "+" })
        .layer(app::layer(db.pool.clone()));
    let base = common::serve(app).await;
    let response = common::client()
        .post(format!("{base}/s"))
        .send()
        .await
        .expect("s");
    assert_eq!(response.text().await.unwrap(), "item 11+");
    assert_eq!(db.history("items").await[0]["extra_info"]["route"], "/s");
}
