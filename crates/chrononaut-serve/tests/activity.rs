//! The activity page and `/api/activity` over real HTTP on 127.0.0.1, against real
//! PostgreSQL: filters, keyset paging, escaping, bad filters, the token.

mod common;

use std::collections::HashSet;

use chrononaut::{ChangeContext, TrackOptions};
use chrononaut_serve::ServeOptions;
use common::{Fixture, SCRIPT, SECRETS, client, get, get_json, start};
use serde_json::Value;

/// A user name that is markup: shown as text, never run.
const SCRIPT_USER: &str = "<script>alert('user')</script>";

async fn write(f: &Fixture, user: &str, why: String, sql: String) {
    let ctx = ChangeContext::new().user(user).rationale(why);
    let mut tx = f.ch.begin(&f.pool, &ctx).await.expect("begin");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
        .execute(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    tx.commit().await.expect("commit");
}

/// The fixture's `accounts` history (6 rows) plus `notes`: 12 inserts by three users in
/// separate transactions, 4 updates, 2 deletes (one by [`SCRIPT_USER`]): 24 rows in all.
async fn more_history(f: &Fixture) {
    f.exec("CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)")
        .await;
    let mut conn = f.pool.acquire().await.expect("conn");
    f.ch.track(&mut conn, "notes", &TrackOptions::new())
        .await
        .expect("track");
    let users = ["ann@example.com", "bob@example.com", "cy@example.com"];
    for i in 1..=12 {
        write(
            f,
            users[i % 3],
            format!("note {i}"),
            format!("INSERT INTO notes VALUES ({i}, 'body {i}')"),
        )
        .await;
    }
    for i in 1..=4 {
        write(
            f,
            users[0],
            format!("edit {i}"),
            format!("UPDATE notes SET body = 'edited {i}' WHERE id = {i}"),
        )
        .await;
    }
    write(
        f,
        users[1],
        "cleanup".into(),
        "DELETE FROM notes WHERE id = 5".into(),
    )
    .await;
    write(
        f,
        SCRIPT_USER,
        "gone".into(),
        "DELETE FROM notes WHERE id = 6".into(),
    )
    .await;
}

fn entries(v: &Value) -> &Vec<Value> {
    v["entries"].as_array().expect("entries")
}

/// Every page of `/api/activity?{filter}` at `limit` rows a page, following `next`.
async fn all_pages(f: &Fixture, filter: &str, limit: usize) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/activity?limit={limit}&{filter}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = get_json(f, &path).await;
        let rows = entries(&page).clone();
        assert!(rows.len() <= limit, "{path}: {} rows", rows.len());
        pages.push(rows);
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages.len() < 100, "paging does not end");
    }
    pages
}

fn ids(rows: &[Value]) -> Vec<i64> {
    rows.iter().map(|r| r["id"].as_i64().expect("id")).collect()
}

/// The `href` of the link with `rel="next"`, unescaped.
fn next_link(body: &str) -> Option<String> {
    body.split("rel=\"next\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .map(|s| s.replace("&amp;", "&"))
}

#[tokio::test]
async fn activity_is_the_landing_page_and_links_each_row_to_its_record() {
    let f = start(ServeOptions::default()).await;
    more_history(&f).await;
    let r = client().get(f.url("/")).send().await.expect("request");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/activity");

    let (status, body) = get(&f, "/activity").await;
    assert_eq!(status, 200, "{body}");
    // first in the navigation
    let nav = &body[body.find("<header>").expect("header")..];
    assert!(nav.find("Activity") < nav.find("Tables"), "{nav}");
    // newest first: the script user's delete, then bob's
    let gone = body.find("gone").expect("the newest row");
    let cleanup = body.find("cleanup").expect("the row before");
    assert!(gone < cleanup);
    // markup in history values and user names is text
    assert!(!body.contains(SCRIPT_USER), "unescaped user name");
    assert!(
        body.contains("&lt;script&gt;alert('user')&lt;/script&gt;"),
        "{body}"
    );
    assert!(body.contains("deposit &lt;b&gt;cash&lt;/b&gt;"));
    assert!(!body.contains(SCRIPT));
    for s in SECRETS {
        assert!(!body.contains(s));
    }
    // each row links to its record's timeline, at its version
    let href = "/record?table=notes&amp;key=%7B%22id%22%3A6%7D#v1";
    assert!(body.contains(href), "{body}");
    let (status, record) = get(&f, &href.replace("&amp;", "&")).await;
    assert_eq!(status, 200, "{record}");
    assert!(record.contains("id=\"v1\"") && record.contains("deleted"));

    // the accounts' rows with their escaped rationale, on the table's page
    let (status, body) = get(&f, "/activity?table=accounts").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("deposit &lt;b&gt;cash&lt;/b&gt;"), "{body}");
    assert!(!body.contains("<b>cash</b>"));
    assert_eq!(body.matches("<tr class=").count(), 6, "{body}");
    assert!(!body.contains("<code>notes</code>"));
}

#[tokio::test]
async fn activity_filters_by_table_operation_time_user_and_key() {
    let f = start(ServeOptions::default()).await;
    more_history(&f).await;
    let everything = get_json(&f, "/api/activity?limit=500").await;
    let all = entries(&everything);
    assert_eq!(all.len(), 24);
    assert_eq!(everything["next"], Value::Null);
    // the entries have the shape of `log TABLE --json` (a version), hidden values left out
    let first = &all[0];
    for field in [
        "id",
        "table",
        "key",
        "version",
        "changed",
        "operation",
        "user_info",
        "extra_info",
        "data",
    ] {
        assert!(first.get(field).is_some(), "{field}: {first}");
    }
    assert_eq!(first["table"], "notes");
    assert_eq!(first["operation"], "delete");
    assert_eq!(first["user_info"]["user_id"], SCRIPT_USER);
    assert!(!everything.to_string().contains(SECRETS[0]));

    let deletes = get_json(&f, "/api/activity?op=delete").await;
    assert_eq!(ids(entries(&deletes)).len(), 2);
    assert!(entries(&deletes).iter().all(|e| e["operation"] == "delete"));
    let changes = get_json(&f, "/api/activity?op=update,delete&table=notes").await;
    assert_eq!(entries(&changes).len(), 6);

    let bob = get_json(&f, "/api/activity?user=bob%40example.com").await;
    // bob: his 4 note inserts, a delete and the accounts deposit
    assert_eq!(entries(&bob).len(), 6, "{bob}");
    assert!(
        entries(&bob)
            .iter()
            .all(|e| e["user_info"]["user_id"] == "bob@example.com")
    );
    assert!(entries(&bob).iter().any(|e| e["table"] == "accounts"));
    let bob_notes = get_json(
        &f,
        "/api/activity?user=bob%40example.com&table=notes&op=insert",
    )
    .await;
    assert_eq!(entries(&bob_notes).len(), 4);
    let script = get_json(
        &f,
        &format!("/api/activity?user={}", urlencode(SCRIPT_USER)),
    )
    .await;
    assert_eq!(entries(&script).len(), 1);

    let record = get_json(&f, "/api/activity?table=accounts&key=id%3D1").await;
    let versions: Vec<i64> = entries(&record)
        .iter()
        .map(|e| e["version"].as_i64().expect("version"))
        .collect();
    assert_eq!(versions, [3, 2, 1, 0]);
    let json_key = get_json(
        &f,
        "/api/activity?table=accounts&op=update&key=%7B%22id%22%3A%221%22%7D",
    )
    .await;
    assert_eq!(entries(&json_key).len(), 3);
    let edited = get_json(&f, "/api/activity?table=notes&key=id%3D3").await;
    assert_eq!(entries(&edited).len(), 2);

    // a time range: between the 5th and the 10th newest row, both included
    let t = |i: usize| all[i]["changed"].as_str().expect("time").to_owned();
    let range = get_json(
        &f,
        &format!(
            "/api/activity?after={}&before={}",
            urlencode(&t(9)),
            urlencode(&t(4))
        ),
    )
    .await;
    assert_eq!(ids(entries(&range)), ids(&all[4..10]));
    let after = get_json(&f, &format!("/api/activity?after={}", urlencode(&t(2)))).await;
    assert_eq!(ids(entries(&after)), ids(&all[..3]));

    // the page shows the filters in force and only matching rows
    let (status, body) = get(&f, "/activity?table=notes&op=delete&user=bob%40example.com").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.matches("<tr class=\"delete\"").count(), 1, "{body}");
    assert!(body.contains("cleanup") && !body.contains("gone"));
    assert!(body.contains("value=\"bob@example.com\""));
    assert!(
        body.contains("<option value=\"delete\" selected>"),
        "{body}"
    );
    let (_, none) = get(&f, "/activity?table=accounts&op=delete").await;
    assert!(none.contains("No changes match."));
}

#[tokio::test]
async fn activity_pages_by_cursor_without_duplicates_or_gaps() {
    let f = start(ServeOptions {
        page_size: 5,
        ..ServeOptions::default()
    })
    .await;
    more_history(&f).await;
    let whole = get_json(&f, "/api/activity?limit=50").await;
    let rows = entries(&whole).clone();
    let whole = ids(&rows);
    assert_eq!(whole.len(), 24);
    // limit 2 splits the three inserts of one statement (one `changed`): ties by id
    for limit in [1, 2, 5, 7, 24] {
        let pages = all_pages(&f, "", limit).await;
        let got: Vec<i64> = pages.iter().flat_map(|p| ids(p)).collect();
        assert_eq!(got, whole, "limit {limit}");
        assert_eq!(pages.len(), whole.len().div_ceil(limit), "limit {limit}");
    }
    // a filter carries over to the next pages
    let inserts = all_pages(&f, "op=insert", 4).await.concat();
    assert_eq!(inserts.len(), 15);
    assert!(inserts.iter().all(|e| e["operation"] == "insert"));
    let notes = all_pages(&f, "table=notes", 3).await.concat();
    let expected: Vec<Value> = rows
        .iter()
        .filter(|e| e["table"] == "notes")
        .cloned()
        .collect();
    assert_eq!(expected.len(), 18);
    assert_eq!(ids(&notes), ids(&expected));

    // the pages, by their "older" links, 5 rows each
    let mut seen = Vec::new();
    let mut path = "/activity".to_owned();
    let mut pages = 0;
    loop {
        let (status, body) = get(&f, &path).await;
        assert_eq!(status, 200, "{body}");
        let rows = body.matches("<tr class=").count();
        assert!((1..=5).contains(&rows), "{rows} rows: {body}");
        // each row's version link: table, key and version, unique per history row
        seen.extend(
            body.split("href=\"/record?")
                .skip(1)
                .filter_map(|s| s.split('"').next())
                .filter(|href| href.contains("#v"))
                .map(str::to_owned),
        );
        pages += 1;
        if pages > 1 {
            assert!(body.contains(">newest</a>"));
        }
        match next_link(&body) {
            Some(next) => {
                assert!(next.contains("cursor="), "{next}");
                path = next;
            }
            None => break,
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(seen.len(), 24);
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 24, "a row twice: {seen:?}");
    // an "older" link keeps the filters
    let (_, body) = get(&f, "/activity?table=notes&op=insert").await;
    let next = next_link(&body).expect("older");
    assert!(
        next.contains("table=notes") && next.contains("op=insert"),
        "{next}"
    );
    let (_, page2) = get(&f, &next).await;
    assert_eq!(page2.matches("<tr class=\"insert\"").count(), 5, "{page2}");
    assert_eq!(page2.matches("<tr class=").count(), 5);
}

#[tokio::test]
async fn bad_activity_filters_are_readable_400s() {
    let f = start(ServeOptions::default()).await;
    for (query, says) in [
        ("table=nope", "nope"),
        ("after=yesterday", "after"),
        ("before=2024-13-01", "before"),
        ("cursor=abc", "cursor"),
        ("cursor=1_x", "cursor"),
        ("key=id%3D1", "needs a table"),
        ("table=accounts&key=nonsense", "key"),
        ("table=accounts&key=nope%3D1", "nope"),
        ("table=accounts&key=id%3Dabc", "id"),
        ("op=drop", "drop"),
    ] {
        let (status, body) = get(&f, &format!("/activity?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body.contains("400 Bad Request") && body.contains(says),
            "{query}: {body}"
        );
        assert!(
            !body.contains("panicked") && !body.contains("sqlx"),
            "{body}"
        );
        let r = client()
            .get(f.url(&format!("/api/activity?{query}")))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 400, "{query}");
        let error: Value = r.json().await.expect("json");
        let message = error["error"].as_str().expect("error message");
        assert!(message.contains(says), "{query}: {message}");
    }
    // markup in a bad value is text on the error page
    let (status, body) = get(&f, &format!("/activity?table={}", urlencode(SCRIPT))).await;
    assert_eq!(status, 400);
    assert!(!body.contains(SCRIPT), "{body}");
}

#[tokio::test]
async fn activity_needs_the_token_when_one_is_set() {
    let token = "activity-token-0123456789";
    let f = start(ServeOptions {
        token: Some(token.to_owned()),
        ..ServeOptions::default()
    })
    .await;
    for path in ["/activity", "/api/activity", "/activity?table=accounts"] {
        let r = client().get(f.url(path)).send().await.expect("request");
        assert_eq!(r.status(), 401, "{path}");
        let body = r.text().await.expect("body");
        assert!(
            !body.contains("accounts") && !body.contains("alice"),
            "{body}"
        );
        let r = client()
            .get(f.url(path))
            .bearer_auth("wrong-token-wrong-token")
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 401, "{path}");
        let r = client()
            .get(f.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.text().await.expect("body").contains("alice@example.com"));
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
