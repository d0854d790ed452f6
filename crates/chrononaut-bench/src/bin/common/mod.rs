//! Helpers shared by the benchmark binaries (`reads`, `verify`).
#![allow(dead_code)]

/// Result of a benchmark step.
pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The integer after `name` on the command line (`--rows 1000`), or `default`.
pub fn arg(name: &str, default: i64) -> i64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Server-side execution time of `sql` (`EXPLAIN ANALYZE`), median of `runs`, in ms.
pub async fn execution_ms(conn: &mut sqlx::PgConnection, sql: &str, runs: usize) -> Res<f64> {
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        let plan: serde_json::Value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "EXPLAIN (ANALYZE, FORMAT JSON) {sql}"
        )))
        .fetch_one(&mut *conn)
        .await?;
        times.push(plan[0]["Execution Time"].as_f64().unwrap_or(f64::NAN));
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(times[times.len() / 2])
}
