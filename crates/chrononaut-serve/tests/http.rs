//! The pages and the API over real HTTP on 127.0.0.1, against real PostgreSQL.

mod common;

use std::time::Duration;

use chrononaut_serve::ServeOptions;
use common::{SCRIPT, SECRETS, client, get, get_json, start};
use serde_json::json;

fn assert_no_secret(body: &str) {
    for s in SECRETS {
        assert!(!body.contains(s), "a hidden value is on the page: {s}");
    }
}

#[tokio::test]
async fn record_timeline_shows_versions_diffs_locks_and_escapes() {
    let f = start(ServeOptions::default()).await;
    let (status, body) = get(&f, "/record?table=accounts&key=id%3D1").await;
    assert_eq!(status, 200, "{body}");
    // the script is text, never markup
    assert!(!body.contains(SCRIPT), "unescaped script in the page");
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{body}"
    );
    assert!(!body.contains("<b>cash</b>"));
    assert!(body.contains("deposit &lt;b&gt;cash&lt;/b&gt;"));
    assert_no_secret(&body);
    // every version, newest first, then the lock event first of all (it came last)
    let v = |n: i32| {
        body.find(&format!("id=\"v{n}\""))
            .unwrap_or_else(|| panic!("v{n}"))
    };
    let lock = body.find("audit hold").expect("the lock event");
    assert!(lock < v(3) && v(3) < v(2) && v(2) < v(1) && v(1) < v(0));
    // version 1: only balance, as stored (100.00, not 100.0)
    let v1 = &body[v(1)..v(0)];
    assert!(
        v1.contains("balance") && v1.contains("100.00") && v1.contains("250.50"),
        "{v1}"
    );
    assert!(
        !v1.contains(">owner<"),
        "an unchanged column is listed: {v1}"
    );
    // version 2 changed only the hidden column
    let v2 = &body[v(2)..v(1)];
    assert!(
        v2.contains("secret") && v2.contains("changed, value hidden"),
        "{v2}"
    );
    assert!(v2.contains("password reset"));
    // version 3: two columns
    let v3 = &body[v(3)..v(2)];
    assert!(v3.contains("Dana") && v3.contains("300.00") && v3.contains("carol@example.com"));
    // who, from where, which role
    assert!(body.contains("alice@example.com") && body.contains("192.0.2.10"));
    assert!(body.contains("role postgres"));
    // read-only: no restore form
    assert!(!body.contains("action=\"/restore\""));
    assert!(body.contains("show as of this version"));
}

#[tokio::test]
async fn pages_answer_and_escape() {
    let f = start(ServeOptions {
        page_size: 2,
        ..ServeOptions::default()
    })
    .await;
    let (status, body) = get(&f, "/tables").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("accounts") && body.contains("secret"));
    assert!(body.contains("audit hold"), "the lock in force: {body}");
    assert!(
        body.contains("<td>6</td>"),
        "history rows (3 inserts, 3 updates): {body}"
    );

    let (status, body) = get(&f, "/version?table=accounts&key=id%3D1&version=0").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("&lt;script&gt;") && !body.contains(SCRIPT));
    assert!(body.contains("hidden (never recorded)"));
    assert_no_secret(&body);

    // the table now, two rows a page
    let (status, body) = get(&f, "/table?table=accounts").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body.matches("<tr>").count(),
        3,
        "header and two rows: {body}"
    );
    assert!(body.contains("next page"));
    assert_no_secret(&body);
    let next = body
        .split("rel=\"next\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("next link")
        .replace("&amp;", "&");
    let (status, page2) = get(&f, &next).await;
    assert_eq!(status, 200, "{page2}");
    assert_eq!(page2.matches("<tr>").count(), 2, "the third row: {page2}");
    assert!(!page2.contains("next page"));
    // the table before anything: no rows
    let (status, body) = get(&f, "/table?table=accounts&at=2000-01-01T00:00").await;
    assert_eq!(status, 200);
    assert!(body.contains("No rows at this time."));
    // as of before version 3 the owner was still the script (shown as text); rows in key
    // order, so id 1 is on the first page
    let api = get_json(&f, "/api/record?table=accounts&key=id%3D1").await;
    let v2_time = api[2]["changed"].as_str().expect("time").to_owned();
    let (_, body) = get(
        &f,
        &format!("/table?table=accounts&start=0&at={}", urlencode(&v2_time)),
    )
    .await;
    assert!(
        body.contains("&lt;script&gt;") && !body.contains("Dana"),
        "{body}"
    );

    let (status, body) = get(&f, "/integrity?table=accounts").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ok: no tampering found"), "{body}");
}

fn urlencode(s: &str) -> String {
    form_urlencoded_like(s)
}

fn form_urlencoded_like(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn integrity_links_broken_places_to_the_record() {
    let f = start(ServeOptions::default()).await;
    f.exec(
        "ALTER TABLE chrononaut_activity DISABLE TRIGGER chrononaut_append_only;
         UPDATE chrononaut_activity SET data = jsonb_set(data, '{balance}', '1000000')
          WHERE key = '{\"id\": 1}' AND version = 1;
         ALTER TABLE chrononaut_activity ENABLE TRIGGER chrononaut_append_only;",
    )
    .await;
    let (status, body) = get(&f, "/integrity?table=accounts").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("broken place(s)"), "{body}");
    assert!(
        body.contains("href=\"/record?table=accounts&amp;key=%7B%22id%22%3A1%7D\""),
        "{body}"
    );
    let report = get_json(&f, "/api/verify?table=accounts").await;
    assert!(!report["issues"].as_array().expect("issues").is_empty());
    assert_eq!(report["issues"][0]["version"], 1);
}

#[tokio::test]
async fn errors_are_pages_with_the_right_status() {
    let f = start(ServeOptions::default()).await;
    for (path, status, text) in [
        ("/record?table=nope&key=id%3D1", 404, "nope"),
        (
            "/record?table=accounts&key=nonsense",
            400,
            "expected column=value",
        ),
        ("/record?table=accounts", 400, "give the key"),
        ("/record?table=accounts&key=id%3Dabc", 400, "abc"),
        (
            "/record?table=accounts&key=id%3D99",
            200,
            "No history for this record.",
        ),
        ("/version?table=accounts&key=id%3D1&version=42", 404, "42"),
        ("/table?table=accounts&at=yesterday", 400, "is not a time"),
        ("/nowhere", 404, "there is no such page"),
    ] {
        let (got, body) = get(&f, path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains(text), "{path}: {body}");
        assert!(body.starts_with("<!DOCTYPE html>"), "{path}: {body}");
        assert!(
            !body.contains("panicked") && !body.contains("sqlx"),
            "{body}"
        );
    }
    // a name with markup is escaped in the error too
    let (got, body) = get(&f, "/record?table=%3Cscript%3E&key=id%3D1").await;
    assert_eq!(got, 404, "{body}");
    assert!(!body.contains("<script>"), "{body}");
    // the API answers JSON errors
    let r = client()
        .get(f.url("/api/record?table=nope&key=id%3D1"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 404);
    let e: serde_json::Value = r.json().await.expect("json");
    assert!(e["error"].as_str().expect("error").contains("nope"), "{e}");
}

#[tokio::test]
async fn api_gives_the_cli_shapes() {
    let f = start(ServeOptions::default()).await;
    let log = get_json(&f, "/api/record?table=accounts&key=id%3D1").await;
    let log = log.as_array().expect("array");
    assert_eq!(log.len(), 5, "four versions and the lock: {log:?}");
    assert_eq!(log[0]["version"], 0);
    assert_eq!(log[0]["operation"], "insert");
    assert_eq!(log[0]["user_id"], "alice@example.com");
    assert_eq!(log[1]["changed_columns"], json!(["balance"]));
    assert_eq!(log[1]["rationale"], "deposit <b>cash</b>");
    assert_eq!(log[2]["changed_columns"], json!([]));
    assert_eq!(log[2]["hidden_changed"], json!(["secret"]));
    assert_eq!(log[3]["changed_columns"], json!(["balance", "owner"]));
    assert_eq!(log[4]["operation"], "lock");
    assert_eq!(log[4]["reason"], "audit hold");
    let limited = get_json(&f, "/api/record?table=accounts&key=id%3D1&limit=2").await;
    assert_eq!(limited.as_array().expect("array").len(), 2);
    assert_eq!(limited[0]["version"], 3);

    let tables = get_json(&f, "/api/tables").await;
    assert_eq!(tables[0]["table"], "public.accounts");
    assert_eq!(tables[0]["history_rows"], 6);
    let locks = get_json(&f, "/api/locks").await;
    assert_eq!(locks[0]["reason"], "audit hold");
    assert_eq!(locks[0]["key"], json!({"id": 1}));

    let v = get_json(&f, "/api/version?table=accounts&key=id%3D1&version=1").await;
    assert_eq!(v["version"], 1);
    assert_eq!(v["data"]["owner"], SCRIPT);
    // as stored: 250.50, not the f64 250.5
    let text = client()
        .get(f.url("/api/version?table=accounts&key=id%3D1&version=1"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert!(text.contains("250.50"), "{text}");
    assert!(!text.contains(SECRETS[0]));

    let r = client()
        .get(f.url("/api/at?table=accounts&limit=2"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let next = r
        .headers()
        .get("x-next-start")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("a next page");
    let rows: serde_json::Value = r.json().await.expect("json");
    assert_eq!(rows.as_array().expect("rows").len(), 2);
    assert!(rows[0].get("secret").is_none());
    let rest = get_json(&f, &format!("/api/at?table=accounts&limit=2&start={next}")).await;
    assert_eq!(rest.as_array().expect("rows").len(), 1);
    // numbers as stored (numeric(10,2)), not through an f64: in the API and on the page
    let (status, all) = get(&f, "/api/at?table=accounts").await;
    assert_eq!(status, 200, "{all}");
    assert!(
        all.contains("\"balance\":300.00") && all.contains("\"balance\":5.00"),
        "{all}"
    );
    let (status, page) = get(&f, "/table?table=accounts").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("<td>300.00</td>") && page.contains("<td>5.00</td>"),
        "{page}"
    );

    let report = get_json(&f, "/api/verify?table=accounts").await;
    assert_eq!(report["issues"], json!([]));
    assert_eq!(report["tables"][0]["rows"], 6);
}

#[tokio::test]
async fn read_only_unless_restore_is_allowed() {
    let f = start(ServeOptions::default()).await;
    let r = client()
        .post(f.url("/restore"))
        .form(&[
            ("table", "accounts"),
            ("key", "{\"id\":1}"),
            ("version", "0"),
            ("rationale", "x"),
            ("secret", "x"),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 403);
    assert!(r.text().await.expect("body").contains("--allow-restore"));
    let r = client()
        .post(f.url("/api/restore"))
        .json(&json!({"table": "accounts", "key": {"id": 1}, "version": 0, "rationale": "x"}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 403);
    // and the server's connections could not write even if a page tried
    let options = ServeOptions::default();
    let pool = chrononaut_serve::connect(&f.db.url, &options)
        .await
        .expect("pool");
    let e = sqlx::query("UPDATE accounts SET balance = 0")
        .execute(&pool)
        .await
        .expect_err("read-only");
    assert!(e.to_string().contains("read-only"), "{e}");
}

#[tokio::test]
async fn restore_needs_a_rationale_and_the_page_secret() {
    let f = start(ServeOptions {
        allow_restore: true,
        ..ServeOptions::default()
    })
    .await;
    let (_, body) = get(&f, "/record?table=accounts&key=id%3D1").await;
    assert!(body.contains("action=\"/restore\""), "{body}");
    assert_eq!(
        body.matches("restore version").count(),
        3,
        "not on the latest"
    );
    let secret = body
        .split("name=\"secret\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the form secret")
        .to_owned();
    let post = |form: Vec<(&'static str, String)>| {
        let url = f.url("/restore");
        async move {
            client()
                .post(url)
                .form(&form)
                .send()
                .await
                .expect("request")
        }
    };
    let base = |rationale: &str, secret: &str| {
        vec![
            ("table", "accounts".to_owned()),
            ("key", "{\"id\":1}".to_owned()),
            ("version", "1".to_owned()),
            ("rationale", rationale.to_owned()),
            ("user", "auditor".to_owned()),
            ("secret", secret.to_owned()),
        ]
    };
    let r = post(base("  ", &secret)).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.expect("body").contains("needs a rationale"));
    let r = post(base("undo", "forged")).await;
    assert_eq!(r.status(), 403);
    // the record is locked (by the fixture): refused, readably
    let r = post(base("undo the rename", &secret)).await;
    assert_eq!(r.status(), 423);
    assert!(r.text().await.expect("body").contains("locked"));
    let mut conn = f.pool.acquire().await.expect("conn");
    f.ch.unlock(&mut conn, "accounts", json!({"id": 1}))
        .await
        .expect("unlock");
    let r = post(base("undo the rename", &secret)).await;
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(location.contains("restored=1"), "{location}");
    let log = get_json(&f, "/api/record?table=accounts&key=id%3D1").await;
    let last = log.as_array().and_then(|l| l.last()).expect("entry");
    assert_eq!(last["version"], 4);
    assert_eq!(last["rationale"], "undo the rename");
    assert_eq!(last["user_id"], "auditor");
    assert_eq!(last["remote_addr"], "127.0.0.1");
    assert_eq!(last["extra_info"]["via"], "chrononaut serve");
    let (status, body) = get(&f, &location).await;
    assert_eq!(status, 200);
    assert!(body.contains("restored: the record has the state of version 1 again"));
    let r = client()
        .post(f.url("/api/restore"))
        .json(&json!({"table": "accounts", "key": "id=1", "version": 0, "rationale": "api"}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let report: serde_json::Value = r.json().await.expect("json");
    assert_eq!(report["restored_from"], 0);
    assert_eq!(report["new_version"]["version"], 5);
}

#[tokio::test]
async fn token_by_bearer_or_cookie_and_a_bare_401() {
    let token = "t0ken-for-the-test-0123456789";
    let f = start(ServeOptions {
        token: Some(token.to_owned()),
        ..ServeOptions::default()
    })
    .await;
    for path in [
        "/tables",
        "/api/tables",
        "/record?table=accounts&key=id%3D1",
        "/nowhere",
    ] {
        let r = client().get(f.url(path)).send().await.expect("request");
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(r.text().await.expect("body"), "401 Unauthorized\n");
        let r = client()
            .get(f.url(path))
            .bearer_auth("wrong-token-wrong-token")
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(r.text().await.expect("body"), "401 Unauthorized\n");
    }
    let r = client()
        .get(f.url("/api/tables"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    // ?token= sets the cookie and sends the browser on without the token in the address
    let r = client()
        .get(f.url(&format!("/tables?x=1&token={token}")))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/tables?x=1");
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("pair").to_owned();
    let r = client()
        .get(f.url("/tables"))
        .header("cookie", pair)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let r = client()
        .get(f.url("/tables?token=wrong"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn without_a_token_only_loopback_names_are_answered() {
    let f = start(ServeOptions::default()).await;
    let r = client()
        .get(f.url("/tables"))
        .header("host", "evil.example:8080")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 403);
    let port = f.base.rsplit(':').next().expect("port");
    let r = client()
        .get(f.url("/tables"))
        .header("host", format!("localhost:{port}"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_statement_timeout_guards_every_query() {
    let f = start(ServeOptions {
        statement_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    })
    .await;
    // another session holds the history table: the page's read waits, and is cancelled
    let mut tx = f.pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE chrononaut_activity IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .expect("lock");
    let started = std::time::Instant::now();
    let (status, body) = get(&f, "/record?table=accounts&key=id%3D1").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("did not answer in time"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let (status, _) = get(&f, "/api/tables").await;
    assert_eq!(status, 503);
    tx.rollback().await.expect("rollback");
    let (status, _) = get(&f, "/record?table=accounts&key=id%3D1").await;
    assert_eq!(status, 200);
}
