//! Shared set-up of the integration tests: a fresh database per test, chrononaut installed.
#![allow(dead_code)]

use chrononaut::Chrononaut;
use chrononaut_testdb::TestDb;
use serde_json::Value;
use sqlx::{PgPool, Row};

pub struct Ctx {
    pub db: TestDb,
    pub pool: PgPool,
    pub ch: Chrononaut,
}

/// A fresh database with chrononaut installed.
pub async fn setup() -> Ctx {
    let db = TestDb::new().await.expect("test database");
    let pool = db.pool().await.expect("pool");
    let ch = Chrononaut::new();
    let mut conn = pool.acquire().await.expect("connection");
    ch.install(&mut conn).await.expect("install");
    Ctx { db, pool, ch }
}

impl Ctx {
    pub async fn exec(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    pub async fn track(
        &self,
        table: &str,
        opts: &chrononaut::TrackOptions,
    ) -> chrononaut::TrackedTable {
        let mut conn = self.pool.acquire().await.expect("connection");
        self.ch.track(&mut conn, table, opts).await.expect("track")
    }

    /// History rows of a table_name, oldest first, as JSON objects with the columns tests check.
    pub async fn history(&self, table_name: &str) -> Vec<Value> {
        let rows = sqlx::query(
            "SELECT jsonb_build_object('version', version, 'key', key, 'data', data, \
             'user_info', user_info, 'extra_info', extra_info, 'operation', operation) AS h \
             FROM chrononaut_activity WHERE table_name = $1 ORDER BY changed, version, id",
        )
        .bind(table_name)
        .fetch_all(&self.pool)
        .await
        .expect("history");
        rows.iter().map(|r| r.get::<Value, _>("h")).collect()
    }

    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}
