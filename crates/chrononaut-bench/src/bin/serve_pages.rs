//! Page-speed benchmark of `chrononaut serve` (issue 10 item 5): pages over real HTTP on
//! 127.0.0.1 at ~1M history rows.
//!
//! Builds, in a fresh database: 20 tracked tables `t0`..`t19` and a tracked `pages` table of
//! 1000 rows (baselined) whose record `id=1` has 100 versions, then filler history of the 20
//! tables up to `--history` rows in all (default 1M), inserted directly with generate_series
//! in the Python library's format (the eight columns, plus `operation`: 1 in 50 a delete;
//! `user_id` one of 50 users, by a hash of the row number), then VACUUM ANALYZE. Starts the server in process
//! (`chrononaut_serve::router`, as `chrononaut serve` runs it) on 127.0.0.1 and times each
//! page `--runs` times (default 30, after 3 warm-up requests): the server-side time of the
//! request (the `Server-Timing` header: reads and rendering) and the client's round trip,
//! medians, with the machine's load average.
//!
//! ```sh
//! cargo run --release -p chrononaut-bench --bin serve_pages -- [--history 1000000] [--runs 30]
//! ```

mod common;
use common::{Res, arg};

use std::time::{Duration, Instant};

use chrononaut::{ChangeContext, Chrononaut, TrackOptions};
use chrononaut_serve::{ServeOptions, connect, router, serve};
use chrononaut_testdb::TestDb;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The `app;dur=MS` of a response's Server-Timing header.
fn server_ms(r: &reqwest::Response) -> Option<f64> {
    r.headers()
        .get("server-timing")?
        .to_str()
        .ok()?
        .split("dur=")
        .nth(1)?
        .parse()
        .ok()
}

struct Timed {
    server: f64,
    client: f64,
    rows: usize,
    bytes: usize,
}

/// GETs `path` `runs` times (after 3 warm-ups); medians of the server's and the client's time.
async fn time_page(http: &reqwest::Client, base: &str, path: &str, runs: usize) -> Res<Timed> {
    let mut server = Vec::new();
    let mut client = Vec::new();
    let mut body = String::new();
    for i in 0..runs + 3 {
        let started = Instant::now();
        let r = http.get(format!("{base}{path}")).send().await?;
        let status = r.status();
        let s = server_ms(&r).ok_or("no Server-Timing header")?;
        body = r.text().await?;
        let elapsed = started.elapsed().as_secs_f64() * 1e3;
        if !status.is_success() {
            return Err(format!("{path}: {status}: {body}").into());
        }
        if i >= 3 {
            server.push(s);
            client.push(elapsed);
        }
    }
    Ok(Timed {
        server: median(server),
        client: median(client),
        rows: body.matches("<tr class=").count() + body.matches("class=\"version ").count(),
        bytes: body.len(),
    })
}

/// The `cursor=` of the page's "older" link.
fn older(body: &str) -> Option<String> {
    body.split("rel=\"next\" href=\"")
        .nth(1)?
        .split('"')
        .next()?
        .replace("&amp;", "&")
        .split("cursor=")
        .nth(1)
        .map(|c| c.split('&').next().unwrap_or(c).to_owned())
}

#[tokio::main]
async fn main() -> Res<()> {
    let history = arg("--history", 1_000_000);
    let runs = usize::try_from(arg("--runs", 30)).unwrap_or(30).max(1);
    let db = TestDb::new().await?;
    let mut conn = PgConnection::connect(&db.url).await?;
    let ch = Chrononaut::new();
    ch.install(&mut conn).await?;
    let t0 = Instant::now();

    for i in 0..20 {
        sqlx::raw_sql(AssertSqlSafe(format!(
            "CREATE TABLE t{i} (id int PRIMARY KEY, name text, note text)"
        )))
        .execute(&mut conn)
        .await?;
        ch.track(&mut conn, &format!("t{i}"), &TrackOptions::new())
            .await?;
    }
    sqlx::raw_sql(
        "CREATE TABLE pages (id int PRIMARY KEY, name text, qty int, note text); \
         INSERT INTO pages SELECT g, 'name ' || g, g, repeat('x', 100) FROM generate_series(1, 1000) g",
    )
    .execute(&mut conn)
    .await?;
    ch.track(&mut conn, "pages", &TrackOptions::new()).await?;
    let pool = db.pool().await?;
    // filler first (older), then the record's 100 versions (the newest history)
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM chrononaut_activity")
        .fetch_one(&mut conn)
        .await?;
    let filler = (history - have - 100).max(0);
    sqlx::raw_sql(AssertSqlSafe(format!(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info, operation) \
         SELECT 't' || (g % 20), now() - interval '1 hour' - make_interval(secs => ({filler} - g) * 0.05), \
                g / 20 % 7, jsonb_build_object('id', g / 140), \
                jsonb_build_object('id', g / 140, 'name', 'n' || g, 'note', repeat('y', 100), 'version', g / 20 % 7), \
                jsonb_build_object('user_id', 'user' || (abs(hashint4(g)) % 50) || '@example.com', 'remote_addr', '192.0.2.' || (g % 200)), \
                jsonb_build_object('rationale', 'change ' || g), \
                CASE WHEN abs(hashint4(g + 1)) % 50 = 0 THEN 'delete' WHEN g / 20 % 7 = 0 THEN 'insert' ELSE 'update' END \
         FROM generate_series(1, {filler}) g"
    )))
    .execute(&mut conn)
    .await?;
    for i in 0..100 {
        let ctx = ChangeContext::new()
            .user(format!("editor{}@example.com", i % 3))
            .remote_addr("192.0.2.10")
            .rationale(format!("edit {i}"));
        let mut tx = ch.begin(&pool, &ctx).await?;
        sqlx::query("UPDATE pages SET qty = $1, name = $2 WHERE id = 1")
            .bind(1000 + i)
            .bind(format!("name {i}"))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    sqlx::raw_sql("VACUUM ANALYZE chrononaut_activity")
        .execute(&mut conn)
        .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM chrononaut_activity")
        .fetch_one(&mut conn)
        .await?;
    let versions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM chrononaut_activity WHERE table_name = 'pages' AND key = '{\"id\": 1}'",
    )
    .fetch_one(&mut conn)
    .await?;
    println!(
        "set-up: {total} history rows over 21 tables, a record of {versions} versions, {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let options = ServeOptions::default();
    let server_pool = connect(&db.url, &options).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(serve(listener, router(server_pool, options)));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;

    let first = http
        .get(format!("{base}/activity"))
        .send()
        .await?
        .text()
        .await?;
    let cursor = older(&first).ok_or("no older link on the activity page")?;
    let t5 = http
        .get(format!("{base}/activity?table=t5"))
        .send()
        .await?
        .text()
        .await?;
    let cursor_t5 = older(&t5).ok_or("no older link on t5's activity")?;

    let pages: Vec<(&str, String)> = vec![
        (
            "record timeline, 100 versions (`/record?table=pages&key=id=1`)",
            "/record?table=pages&key=id%3D1".into(),
        ),
        ("activity, every table (`/activity`)", "/activity".into()),
        (
            "activity page 2 by cursor (`/activity?cursor=...`)",
            format!("/activity?cursor={cursor}"),
        ),
        (
            "activity of one table (`?table=t5`)",
            "/activity?table=t5".into(),
        ),
        (
            "activity of one table, page 2 (`?table=t5&cursor=...`)",
            format!("/activity?table=t5&cursor={cursor_t5}"),
        ),
        (
            "filtered: table + operation, a delete in 50 rows (`?table=t5&op=delete`)",
            "/activity?table=t5&op=delete".into(),
        ),
        (
            "filtered: table + operation, updates (`?table=t5&op=update`)",
            "/activity?table=t5&op=update".into(),
        ),
        (
            "filtered: user, 1 in 50 rows, every table (`?user=user7@example.com`)",
            "/activity?user=user7%40example.com".into(),
        ),
        (
            "filtered: user + table (`?table=t5&user=user5@example.com`)",
            "/activity?table=t5&user=user5%40example.com".into(),
        ),
        (
            "filtered: one record (`?table=pages&key=id=1`)",
            "/activity?table=pages&key=id%3D1".into(),
        ),
        (
            "filtered: time range, every table (`?after=...&before=...`, 1 h ago)",
            format!(
                "/activity?after={}&before={}",
                (chrono_now(&mut conn, "2 hours").await?),
                (chrono_now(&mut conn, "90 minutes").await?)
            ),
        ),
    ];
    println!("load average before: {}", load());
    println!("| page | server (Server-Timing, median) | round trip (median) | rows | bytes |");
    println!("|---|---|---|---|---|");
    for (name, path) in &pages {
        let t = time_page(&http, &base, path, runs).await?;
        println!(
            "| {name} | {:.2} ms | {:.2} ms | {} | {} |",
            t.server, t.client, t.rows, t.bytes
        );
    }
    println!("load average after: {} ({runs} runs each)", load());
    drop(conn);
    Ok(())
}

/// `now() - interval`, URL-encoded RFC 3339.
async fn chrono_now(conn: &mut PgConnection, ago: &str) -> Res<String> {
    let t: String = sqlx::query_scalar(
        "SELECT to_char((now() - $1::interval) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
    )
    .bind(ago)
    .fetch_one(conn)
    .await?;
    Ok(t.replace(':', "%3A"))
}
