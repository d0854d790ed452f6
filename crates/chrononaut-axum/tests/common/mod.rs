//! Shared set-up: a fresh database with chrononaut and tracked tables, and a real HTTP
//! server on 127.0.0.1 (a random port) serving the test's router.
#![allow(dead_code)]

use std::net::SocketAddr;

use axum::Router;
use chrononaut::{Chrononaut, TrackOptions};
use chrononaut_testdb::TestDb;
use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

pub struct Db {
    pub db: TestDb,
    pub pool: PgPool,
}

/// `items` (tracked), `strict_items` (tracked, strict), `deferred` (tracked; `n` unique,
/// checked at commit).
const SCHEMA: &str = "
CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price bigint NOT NULL DEFAULT 0);
CREATE TABLE strict_items (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE deferred (id bigint PRIMARY KEY, n int NOT NULL,
                       CONSTRAINT deferred_n UNIQUE (n) DEFERRABLE INITIALLY DEFERRED);
INSERT INTO items (id, name) SELECT g, 'item ' || g FROM generate_series(1, 20) g;
INSERT INTO strict_items VALUES (1, 'strict');
INSERT INTO deferred VALUES (1, 1), (2, 2);
";

/// A fresh database whose pool holds at most `max_connections`.
pub async fn db(max_connections: u32) -> Db {
    let db = TestDb::new().await.expect("test database");
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(std::time::Duration::from_secs(30))
        .connect(&db.url)
        .await
        .expect("pool");
    let ch = Chrononaut::new();
    let mut conn = pool.acquire().await.expect("connection");
    ch.install(&mut conn).await.expect("install");
    sqlx::raw_sql(SCHEMA)
        .execute(&mut *conn)
        .await
        .expect("schema");
    // no baseline: the history of each test starts empty
    ch.track(&mut conn, "items", &TrackOptions::new())
        .await
        .expect("track items");
    ch.track(&mut conn, "strict_items", &TrackOptions::new().strict(true))
        .await
        .expect("track strict_items");
    ch.track(&mut conn, "deferred", &TrackOptions::new())
        .await
        .expect("track deferred");
    drop(conn);
    Db { db, pool }
}

impl Db {
    /// History rows of a table, oldest first: version, key, data, user_info, extra_info.
    /// The history of `table`, oldest first. Every row's `user_info.db_user` must be the login
    /// role the service connects as; it is left out of the rows, which keep what the layer sets.
    pub async fn history(&self, table: &str) -> Vec<Value> {
        let others: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM chrononaut_activity \
             WHERE table_name = $1 AND user_info ->> 'db_user' IS DISTINCT FROM session_user::text",
        )
        .bind(table)
        .fetch_one(&self.pool)
        .await
        .expect("db_user check");
        assert_eq!(others, 0, "history rows of {table} with another db_user");
        sqlx::query_scalar(
            "SELECT jsonb_build_object('version', version, 'key', key, 'data', data, \
             'user_info', user_info - 'db_user', 'extra_info', extra_info, 'operation', operation) \
             FROM chrononaut_activity WHERE table_name = $1 ORDER BY changed, version, id",
        )
        .bind(table)
        .fetch_all(&self.pool)
        .await
        .expect("history")
    }

    pub async fn item_name(&self, id: i64) -> String {
        sqlx::query_scalar("SELECT name FROM items WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .expect("item")
    }
}

/// Serves `app` on 127.0.0.1 (random port) with `ConnectInfo`; returns its base URL. The
/// server runs until the test's runtime ends.
pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve");
    });
    format!("http://{addr}")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("http client")
}
