//! Issue 14 item 7 from the command line: `chrononaut log` shows the database login role that
//! made each version, beside the user the client claimed.

mod common;
#[path = "../../chrononaut/tests/common/mod.rs"]
mod lib_common;

use common::*;
use lib_common::quote_ident;
use serde_json::Value;
use sqlx::{Connection, PgConnection};

#[tokio::test]
async fn log_shows_the_login_role_of_every_version() {
    let t = lib_common::setup().await;
    let url = t.db.url.as_str();
    sql(&t.db, "CREATE TABLE acc (id int PRIMARY KEY, v int)").await;
    ok(url, &["track", "acc"]);
    let app = t.create_role("app", "").await;
    t.exec(&format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON acc TO {}",
        quote_ident(&app)
    ))
    .await;
    let superuser: String = sqlx::query_scalar("SELECT session_user::text")
        .fetch_one(&t.pool)
        .await
        .expect("session user");

    // the application claims to be someone else; then the superuser writes without a context
    let mut conn = PgConnection::connect_with(&t.options_as(&app))
        .await
        .expect("connect as app");
    sqlx::raw_sql(
        "BEGIN;
         SELECT set_config('chrononaut.user_id', 'alice', true),
                set_config('chrononaut.remote_addr', '192.0.2.1', true);
         INSERT INTO acc VALUES (1, 1);
         UPDATE acc SET v = 2 WHERE id = 1;
         COMMIT;",
    )
    .execute(&mut conn)
    .await
    .expect("the app's writes");
    t.exec("UPDATE acc SET v = 3 WHERE id = 1").await;
    let roles = [app.as_str(), app.as_str(), superuser.as_str()];

    let log = ok_json(url, &["log", "acc", "id=1"]);
    let entries = log.as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 3, "{log}");
    for (entry, role) in entries.iter().zip(roles) {
        assert_eq!(entry["db_user"], Value::from(role), "log --json: {entry}");
    }
    assert_eq!(entries[0]["user_id"], "alice", "the claimed user stays");

    // text: each version's line names its role
    let text = ok(url, &["log", "acc", "id=1"]);
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(lines.len(), 3, "{text}");
    for (line, role) in lines.iter().zip(roles) {
        assert!(
            line.contains(role),
            "log: {role} missing from {line:?}\n{text}"
        );
    }
    // the table's recent activity too, newest first
    let text = ok(url, &["log", "acc"]);
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(lines.len(), 3, "{text}");
    for (line, role) in lines.iter().zip(roles.iter().rev()) {
        assert!(
            line.contains(role),
            "table log: {role} missing from {line:?}\n{text}"
        );
    }
    let table_log = ok_json(url, &["log", "acc"]);
    for (entry, role) in table_log
        .as_array()
        .into_iter()
        .flatten()
        .zip(roles.iter().rev())
    {
        assert!(
            entry.to_string().contains(&format!("\"{role}\"")),
            "table log --json: {role} missing from {entry}"
        );
    }
}

/// `url` with its user replaced by `user` (password `pw`, as the test roles have).
fn url_as(url: &str, user: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host = match rest[..host_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    format!("{}{user}:pw@{host}", &url[..start])
}

/// Issue 14 item 2 from the command line: an application role with no privilege on `payroll`
/// reads none of its history with `log`, `show`, `at` or `locks`, and all of a table it may
/// SELECT.
#[tokio::test]
async fn the_cli_shows_only_history_the_role_may_read() {
    let t = lib_common::setup().await;
    let url = t.db.url.as_str();
    sql(
        &t.db,
        "CREATE TABLE acc (id int PRIMARY KEY, owner text); \
         CREATE TABLE payroll (id int PRIMARY KEY, name text, salary int);",
    )
    .await;
    ok(url, &["track", "acc"]);
    ok(url, &["track", "payroll"]);
    sql(
        &t.db,
        "INSERT INTO acc VALUES (1, 'ann'); UPDATE acc SET owner = 'cy' WHERE id = 1; \
         INSERT INTO payroll VALUES (1, 'zed', 9000); UPDATE payroll SET salary = 9500 WHERE id = 1;",
    )
    .await;
    ok(
        url,
        &["lock", "payroll", "id=1", "--reason", "salary review"],
    );
    ok(url, &["lock", "acc", "id=1", "--reason", "acc audit"]);
    let app = t.create_role("app", "").await;
    t.exec(&format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON acc TO {q}; GRANT SELECT ON chrononaut_activity TO {q}",
        q = quote_ident(&app)
    ))
    .await;
    let app_url = url_as(url, &app);
    // values and the lock's reason (column names are the catalog's, readable by anyone)
    let secret = |text: &str| {
        text.contains("9500")
            || text.contains("9000")
            || text.contains("zed")
            || text.contains("review")
    };
    // the superuser sees payroll, through the same commands
    assert!(secret(&ok(url, &["log", "payroll", "id=1"])));
    assert!(secret(&ok(url, &["locks"])));
    for args in [
        &["log", "payroll", "id=1"][..],
        &["log", "payroll"],
        &["show", "payroll", "id=1"],
        &["at", "payroll", "--at", "2999-01-01"],
        &["at", "payroll", "--at", "2999-01-01", "--format", "json"],
        &["locks"],
        &["locks", "payroll"],
        &["unlock", "payroll", "id=1"],
    ] {
        let out = chrononaut(&app_url, args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!secret(&text), "chrononaut {args:?} as app: {text}");
    }
    // acc: everything
    let log = ok_json(&app_url, &["log", "acc", "id=1"]);
    assert_eq!(log.as_array().map(Vec::len), Some(3), "{log}");
    let shown = ok(&app_url, &["show", "acc", "id=1"]);
    assert!(shown.contains("cy"), "{shown}");
    let locks = ok(&app_url, &["locks"]);
    assert!(locks.contains("acc audit"), "{locks}");
}
