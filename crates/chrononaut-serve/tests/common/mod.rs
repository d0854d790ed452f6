//! Shared set-up: a fresh database with a tracked table and some history, and the server on
//! 127.0.0.1 (a random port) over it.
#![allow(dead_code)]

use chrononaut::{ChangeContext, Chrononaut, TrackOptions};
use chrononaut_serve::{ServeOptions, connect, router, serve};
use chrononaut_testdb::TestDb;
use serde_json::json;
use sqlx::PgPool;

/// The owner name of account 1: a script a page must show as text.
pub const SCRIPT: &str = "<script>alert(1)</script>";
/// The hidden column's values: never on a page.
pub const SECRETS: [&str; 2] = ["hunter2-initial", "hunter2-changed"];

pub struct Fixture {
    pub db: TestDb,
    /// A pool of the superuser (not the server's).
    pub pool: PgPool,
    pub ch: Chrononaut,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl Fixture {
    pub async fn exec(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

async fn write(ch: &Chrononaut, pool: &PgPool, ctx: ChangeContext, sql: &str) {
    let mut tx = ch.begin(pool, &ctx).await.expect("begin");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    tx.commit().await.expect("commit");
}

/// `accounts` (hidden `secret`), account 1 with four versions (insert, an update, a
/// hidden-only update, an update of two columns) and a lock; accounts 2 and 3 with one
/// version each.
pub async fn history(ch: &Chrononaut, pool: &PgPool) {
    sqlx::raw_sql(
        "CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL,
                                balance numeric(10,2) NOT NULL, secret text)",
    )
    .execute(pool)
    .await
    .expect("schema");
    let mut conn = pool.acquire().await.expect("conn");
    ch.install(&mut conn).await.expect("install");
    ch.track(
        &mut conn,
        "accounts",
        &TrackOptions::new().hidden(["secret"]),
    )
    .await
    .expect("track");
    let ctx = |user: &str, why: &str| {
        ChangeContext::new()
            .user(user)
            .remote_addr("192.0.2.10")
            .rationale(why)
    };
    write(
        ch,
        pool,
        ctx("alice@example.com", "account opened"),
        &format!(
            "INSERT INTO accounts VALUES (1, '{SCRIPT}', 100.00, '{}'), (2, 'bob', 5.00, NULL), (3, 'carol', 7.25, NULL)",
            SECRETS[0]
        ),
    )
    .await;
    write(
        ch,
        pool,
        ctx("bob@example.com", "deposit <b>cash</b>"),
        "UPDATE accounts SET balance = 250.50 WHERE id = 1",
    )
    .await;
    write(
        ch,
        pool,
        ctx("alice@example.com", "password reset"),
        &format!("UPDATE accounts SET secret = '{}' WHERE id = 1", SECRETS[1]),
    )
    .await;
    write(
        ch,
        pool,
        ctx("carol@example.com", "owner renamed"),
        "UPDATE accounts SET owner = 'Dana', balance = 300.00 WHERE id = 1",
    )
    .await;
    ch.lock(&mut conn, "accounts", json!({"id": 1}), "audit hold")
        .await
        .expect("lock");
}

/// A fresh database with [`history`], and the server with `options` on a random port.
pub async fn start(options: ServeOptions) -> Fixture {
    let db = TestDb::new().await.expect("test database");
    let pool = db.pool().await.expect("pool");
    let ch = Chrononaut::new();
    history(&ch, &pool).await;
    let base = spawn(&db.url, options).await;
    Fixture { db, pool, ch, base }
}

/// Starts the server over `url` on 127.0.0.1:0; returns its base URL.
pub async fn spawn(url: &str, options: ServeOptions) -> String {
    let server_pool = connect(url, &options).await.expect("server pool");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(serve(listener, router(server_pool, options)));
    format!("http://{addr}")
}

/// A client that follows no redirects (the tests look at them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// GET `path`: status and body.
pub async fn get(f: &Fixture, path: &str) -> (u16, String) {
    let r = client().get(f.url(path)).send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

/// GET `path` that must answer 200 with JSON.
pub async fn get_json(f: &Fixture, path: &str) -> serde_json::Value {
    let r = client().get(f.url(path)).send().await.expect("request");
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.expect("json")
}
