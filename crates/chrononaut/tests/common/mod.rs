//! Shared set-up of the integration tests: a fresh database per test, chrononaut installed.
#![allow(dead_code)]

pub mod plans;

use std::str::FromStr;
use std::sync::Mutex;

use chrononaut::{Chrononaut, TrackOptions};
use chrononaut_testdb::TestDb;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Row};

pub struct Ctx {
    pub db: TestDb,
    pub pool: PgPool,
    pub ch: Chrononaut,
    /// Dropped after `db` (fields drop in order): cluster-wide roles made by this test.
    pub roles: Roles,
}

/// A fresh database without chrononaut.
pub async fn bare() -> Ctx {
    let db = TestDb::new().await.expect("test database");
    let pool = db.pool().await.expect("pool");
    let admin = chrononaut_testdb::server_url().await.expect("server url");
    Ctx {
        db,
        pool,
        ch: Chrononaut::new(),
        roles: Roles {
            admin_url: admin,
            names: Mutex::new(Vec::new()),
        },
    }
}

/// A fresh database with chrononaut installed.
pub async fn setup() -> Ctx {
    let t = bare().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.install(&mut conn).await.expect("install");
    drop(conn);
    t
}

/// The LOGIN roles a test created; dropped (cluster-wide) when the test ends, after its
/// database is gone, even when the test panicked.
pub struct Roles {
    admin_url: String,
    names: Mutex<Vec<String>>,
}

impl Drop for Roles {
    fn drop(&mut self) {
        let names = std::mem::take(&mut *self.names.lock().unwrap_or_else(|e| e.into_inner()));
        if names.is_empty() {
            return;
        }
        let url = self.admin_url.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let Ok(mut conn) = PgConnection::connect(&url).await else {
                    return;
                };
                for name in names {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP ROLE IF EXISTS {}",
                        quote_ident(&name)
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub fn is_sqlstate(e: &sqlx::Error, code: &str) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == code)
}

impl Ctx {
    /// The heads that differ from the history's latest rows (a head missing, one too many, or a
    /// different version, time or hash), as JSON; empty when heads and history agree.
    pub async fn heads_out_of_step(&self) -> Value {
        self.json(
            "SELECT COALESCE(json_agg(json_build_object('table', table_name, 'key', key, \
                    'history', x IS NOT NULL, 'head', h IS NOT NULL)), '[]') \
             FROM (SELECT DISTINCT ON (table_name, key) table_name, key, \
                          max(version) OVER (PARTITION BY table_name, key) AS top, changed, version, hash \
                   FROM chrononaut_activity ORDER BY table_name, key, changed DESC, version DESC, id DESC) AS x \
             FULL JOIN chrononaut.heads AS h USING (table_name, key) \
             WHERE x IS NULL OR h IS NULL \
                OR (x.top, x.changed, x.version, x.hash) IS DISTINCT FROM (h.version, h.changed, h.row_version, h.hash)",
        )
        .await
    }

    /// Panics unless `verify` finds the whole history intact.
    pub async fn assert_verifies(&self) {
        let mut conn = self.pool.acquire().await.expect("connection");
        let report = self.ch.verify(&mut conn, None).await.expect("verify");
        assert!(report.is_ok(), "verify: {:?}", report.issues);
    }

    pub async fn exec(&self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Runs `sql` and returns its error (panics when it succeeds).
    pub async fn exec_err(&self, sql: &str) -> sqlx::Error {
        match sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.pool)
            .await
        {
            Ok(_) => panic!("{sql}: succeeded, an error was expected"),
            Err(e) => e,
        }
    }

    pub async fn track(&self, table: &str, opts: &TrackOptions) -> chrononaut::TrackedTable {
        let mut conn = self.pool.acquire().await.expect("connection");
        self.ch.track(&mut conn, table, opts).await.expect("track")
    }

    pub async fn try_track(
        &self,
        table: &str,
        opts: &TrackOptions,
    ) -> chrononaut::Result<chrononaut::TrackedTable> {
        let mut conn = self.pool.acquire().await.expect("connection");
        self.ch.track(&mut conn, table, opts).await
    }

    /// History rows of a table_name, oldest first, as JSON objects with the columns tests check.
    /// Every row's `user_info.db_user` must name an existing role (its exact value is checked by
    /// tests/trust.rs); it is left out of the objects, which keep `user_id` and `remote_addr`.
    pub async fn history(&self, table_name: &str) -> Vec<Value> {
        let missing: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM chrononaut_activity a WHERE a.table_name = $1 \
             AND a.operation IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM pg_roles r WHERE r.rolname = a.user_info ->> 'db_user')",
        )
        .bind(table_name)
        .fetch_one(&self.pool)
        .await
        .expect("db_user check");
        assert_eq!(
            missing, 0,
            "history rows of {table_name} without a db_user role"
        );
        let rows = sqlx::query(
            "SELECT jsonb_build_object('version', version, 'key', key, 'data', data, \
             'user_info', user_info - 'db_user', 'extra_info', extra_info, 'operation', operation) AS h \
             FROM chrononaut_activity WHERE table_name = $1 ORDER BY changed, version, id",
        )
        .bind(table_name)
        .fetch_all(&self.pool)
        .await
        .expect("history");
        rows.iter().map(|r| r.get::<Value, _>("h")).collect()
    }

    /// The login role of the test's connections (what history records as `db_user`).
    pub async fn session_user(&self) -> String {
        sqlx::query_scalar("SELECT session_user::text")
            .fetch_one(&self.pool)
            .await
            .expect("session user")
    }

    /// Every column of every activity row, in id order (to compare before/after).
    pub async fn activity_dump(&self) -> Vec<Value> {
        sqlx::query_scalar("SELECT to_jsonb(a) FROM chrononaut_activity a ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .expect("activity dump")
    }

    pub async fn activity_count(&self) -> i64 {
        self.scalar_i64("SELECT count(*) FROM chrononaut_activity")
            .await
    }

    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub async fn json(&self, sql: &str) -> Value {
        sqlx::query_scalar::<_, Value>(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Checks that every row of `table` has a `version` equal to the latest history version
    /// of its key (`key_expr`: the history key built from alias `t`, e.g.
    /// `jsonb_build_object('id', t.id)`), and returns the number of rows checked.
    pub async fn assert_row_versions(&self, table: &str, history_name: &str, key_expr: &str) {
        let sql = format!(
            "SELECT jsonb_agg(jsonb_build_object('key', {key_expr}, 'row', t.version, \
             'history', (SELECT max(a.version) FROM chrononaut_activity a \
                         WHERE a.table_name = $1 AND a.key = {key_expr}))) \
             FROM {table} t"
        );
        let rows: Option<Value> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()))
            .bind(history_name)
            .fetch_one(&self.pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        for r in rows
            .as_ref()
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            assert_eq!(
                r["row"], r["history"],
                "row version differs from its latest history version: {r}"
            );
        }
    }

    /// Triggers on `table` (names, sorted).
    pub async fn triggers(&self, table: &str) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT tgname::text FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal \
             ORDER BY 1",
        )
        .bind(table)
        .fetch_all(&self.pool)
        .await
        .expect("triggers")
    }

    /// Columns of `table` (names, in order).
    pub async fn columns(&self, table: &str) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = $1::regclass \
             AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        )
        .bind(table)
        .fetch_all(&self.pool)
        .await
        .expect("columns")
    }

    /// Creates a LOGIN role whose name contains the test database's name (roles are
    /// cluster-wide), dropped when the test ends. Returns its name.
    pub async fn create_role(&self, suffix: &str, extra: &str) -> String {
        let name = format!("{}_{suffix}", self.db.name);
        self.exec(&format!(
            "CREATE ROLE {} LOGIN PASSWORD 'pw' {extra}",
            quote_ident(&name)
        ))
        .await;
        self.roles
            .names
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(name.clone());
        name
    }

    /// Connection options for the test database as `user`.
    pub fn options_as(&self, user: &str) -> PgConnectOptions {
        PgConnectOptions::from_str(&self.db.url)
            .expect("test url")
            .username(user)
            .password("pw")
    }

    /// A small pool on the test database as `user`.
    pub async fn pool_as(&self, user: &str) -> PgPool {
        PgPoolOptions::new()
            .max_connections(2)
            .connect_with(self.options_as(user))
            .await
            .expect("connect as role")
    }

    /// A fresh plain connection (no chrononaut involved) as the test's superuser.
    pub async fn plain_connection(&self) -> PgConnection {
        PgConnection::connect(&self.db.url).await.expect("connect")
    }

    /// Drops the roles created so far (they are dropped at the end anyway): revokes what
    /// they hold in this database first.
    pub async fn drop_roles(&self) {
        let names: Vec<String> =
            std::mem::take(&mut *self.roles.names.lock().unwrap_or_else(|e| e.into_inner()));
        let mut conn = self.plain_connection().await;
        for name in names {
            let q = quote_ident(&name);
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{}'; \
                 DROP OWNED BY {q}; DROP ROLE {q};",
                name.replace('\'', "''")
            )))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("drop role {name}: {e}"));
        }
    }
}

/// Maps a sqlx result to chrononaut's error.
pub fn ch_err<T: std::fmt::Debug>(r: Result<T, sqlx::Error>) -> chrononaut::Error {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => chrononaut::Error::from(e),
    }
}

/// A `chrononaut_activity` partitioned by month on `changed` (made by hand, as a team would
/// before `install` adopts it): the Python columns, `PRIMARY KEY (id, changed)`, one partition
/// per month from a year back to three months ahead (UTC boundaries) and a DEFAULT partition.
pub const PARTITIONED_ACTIVITY: &str = "\
    CREATE TABLE chrononaut_activity (\
        id bigserial, table_name text NOT NULL, changed timestamptz NOT NULL, \
        version integer NOT NULL DEFAULT 0, key jsonb NOT NULL DEFAULT '{}', \
        data jsonb NOT NULL DEFAULT '{}', user_info jsonb NOT NULL DEFAULT '{}', \
        extra_info jsonb NOT NULL DEFAULT '{}', PRIMARY KEY (id, changed)\
    ) PARTITION BY RANGE (changed); \
    DO $$ DECLARE m timestamp := date_trunc('month', now() AT TIME ZONE 'UTC') - interval '12 months'; \
    BEGIN FOR i IN 0..15 LOOP \
        EXECUTE format('CREATE TABLE %I PARTITION OF chrononaut_activity FOR VALUES FROM (%L) TO (%L)', \
            'chrononaut_activity_' || to_char(m, 'YYYYMM'), (m AT TIME ZONE 'UTC')::text, \
            ((m + interval '1 month') AT TIME ZONE 'UTC')::text); \
        m := m + interval '1 month'; \
    END LOOP; END $$; \
    CREATE TABLE chrononaut_activity_default PARTITION OF chrononaut_activity DEFAULT;";
