//! Plan shapes of the capture functions: no capture statement may read more history than that
//! of the records it writes, whatever the statistics were when its plan was made.
//!
//! PL/pgSQL plans each statement of a function once per session and keeps the plan while the
//! tables grow. A plan made while the history was empty (a hashed sub-plan over the table's
//! history, a scan by `table_name` alone) stays in use for the life of a pooled connection or a
//! data load in one transaction, and makes every write cost O(the table's history). This test
//! tracks a fresh table, writes through one session while its history grows from nothing, and
//! checks the plan of every statement the capture functions ran (auto_explain, nested
//! statements, reported to this client as NOTICEs). The same session runs single-row and bulk
//! statements, so a plan made for one row and kept for 100 (a nested loop pairing the
//! transition tables, O(rows²)) fails it too.

mod common;

use chrononaut::TrackOptions;
use common::plans::{AUTO_EXPLAIN, history_scans, notices};
use sqlx::Connection;

/// What is wrong with one auto_explain plan, if it reads the activity table other than by key.
fn bad_history_read(plan: &str) -> Option<String> {
    for line in plan.lines() {
        let l = line.trim_start().trim_start_matches("->  ");
        if l.contains("hashed SubPlan") {
            return Some(format!("a hashed sub-plan: {l}"));
        }
        // a probe planned as "scan another index, then sort" reads more than the key's newest
        // entry; and JIT compiling a statement that runs per write costs milliseconds
        if l.starts_with("Sort ") || l.starts_with("Incremental Sort ") {
            return Some(format!("a sort: {l}"));
        }
        if l.starts_with("JIT:") {
            return Some("a JIT-compiled capture statement".to_owned());
        }
    }
    for scan in history_scans(plan) {
        if scan.is_seq_scan() {
            return Some(format!("a sequential scan of history: {}", scan.node));
        }
        if !scan.index_cond_has("key =") {
            return Some(format!(
                "history read without an index condition on key: {} / {:?}",
                scan.node, scan.conds
            ));
        }
    }
    None
}

/// What is wrong with one auto_explain plan, if it pairs two transition tables by a nested
/// loop: O(rows²) per statement, which a plan made for single-row statements and kept for the
/// session does to every later bulk statement.
fn quadratic_pairing(plan: &str) -> Option<String> {
    let lines: Vec<&str> = plan.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    for (i, line) in lines.iter().enumerate() {
        let l = line.trim_start().trim_start_matches("->  ");
        if !l.starts_with("Nested Loop") {
            continue;
        }
        let own = indent(line);
        let below: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|c| indent(c) > own)
            .copied()
            .collect();
        let child_indent = below
            .iter()
            .filter(|c| c.trim_start().starts_with("->"))
            .map(|c| indent(c))
            .min();
        let children: Vec<&str> = below
            .iter()
            .filter(|c| c.trim_start().starts_with("->") && Some(indent(c)) == child_indent)
            .map(|c| c.trim_start().trim_start_matches("->  "))
            .collect();
        if children.len() == 2
            && children
                .iter()
                .all(|c| c.starts_with("Named Tuplestore Scan"))
        {
            return Some(format!("a nested loop over two transition tables: {l}"));
        }
    }
    None
}

/// Tracks a fresh table, writes through one session while its history grows from nothing
/// (inserts, updates, a bulk update, deletes, re-inserts, a key change, an upsert), and returns
/// the plans of the capture statements that session ran.
async fn capture_plans_of_a_growing_history(t: &common::Ctx) -> Vec<String> {
    let store = notices();
    let seen = store.lock().unwrap_or_else(|e| e.into_inner()).len();
    t.exec("CREATE TABLE items (id bigint PRIMARY KEY, v text, secret text)")
        .await;
    t.track("items", &TrackOptions::new().hidden(["secret"]))
        .await;
    // Statistics that say the history is small (as right after tracking a table in a young
    // database): what tempts a planner into sequential scans, sorts of another index, hashes.
    t.exec("CREATE TABLE other (id int PRIMARY KEY, v text)")
        .await;
    t.track("other", &TrackOptions::new()).await;
    t.exec(
        "INSERT INTO other SELECT g, 'x' FROM generate_series(1, 40) AS g; \
         UPDATE other SET v = 'y' WHERE id <= 20; ANALYZE chrononaut_activity;",
    )
    .await;
    let mut conn = sqlx::PgConnection::connect(&t.db.url)
        .await
        .expect("connection");
    sqlx::raw_sql(AUTO_EXPLAIN)
        .execute(&mut conn)
        .await
        .expect("auto_explain (the test suite runs as a superuser)");
    // The history grows from nothing while the same session keeps writing: every capture
    // statement is planned while the history is empty (or nearly) and reused afterwards.
    let mut next = 1i64;
    for round in 0..4 {
        let first = next;
        for _ in 0..150 {
            sqlx::query("INSERT INTO items (id, v, secret) VALUES ($1, 'a', 's')")
                .bind(next)
                .execute(&mut conn)
                .await
                .expect("insert");
            next += 1;
        }
        for id in first..first + 50 {
            sqlx::query("UPDATE items SET v = v || 'b' WHERE id = $1")
                .bind(id)
                .execute(&mut conn)
                .await
                .expect("update");
        }
        sqlx::query("UPDATE items SET v = v || 'c' WHERE id BETWEEN $1 AND $2")
            .bind(first)
            .bind(first + 99)
            .execute(&mut conn)
            .await
            .expect("bulk update");
        for id in first..first + 20 {
            sqlx::query("DELETE FROM items WHERE id = $1")
                .bind(id)
                .execute(&mut conn)
                .await
                .expect("delete");
            // a re-insert continues the key's versions (the history probe and the fix-up)
            sqlx::query("INSERT INTO items (id, v) VALUES ($1, 'again')")
                .bind(id)
                .execute(&mut conn)
                .await
                .expect("re-insert");
        }
        // a primary-key change ends the old key's record
        sqlx::query("UPDATE items SET id = id + 1000000 WHERE id = $1")
            .bind(first + 140)
            .execute(&mut conn)
            .await
            .expect("key change");
        // an upsert that updates
        sqlx::query(
            "INSERT INTO items (id, v) VALUES ($1, 'up') ON CONFLICT (id) DO UPDATE SET v = 'up'",
        )
        .bind(first + 141)
        .execute(&mut conn)
        .await
        .expect("upsert");
        // (counted on another connection: its plan is no capture statement)
        let history: i64 = sqlx::query_scalar("SELECT count(*) FROM chrononaut_activity")
            .fetch_one(&t.pool)
            .await
            .expect("count");
        assert!(history > (round + 1) * 250, "history grows: {history}");
    }
    drop(conn);

    let plans: Vec<String> = store
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .skip(seen)
        .filter(|m| m.contains("chrononaut_activity") || m.contains("chrononaut.heads"))
        .cloned()
        .collect();
    // every kind of capture statement was seen
    for needle in ["'insert'", "'update'", "'delete'", "SET version"] {
        assert!(
            plans.iter().any(|p| p.contains(needle)),
            "no plan of a capture statement with {needle} was reported ({} plans)",
            plans.len()
        );
    }
    plans
}

/// The first plan `bad` finds something wrong with, with the reason, and how many it found.
fn first_bad(plans: &[String], bad: impl Fn(&str) -> Option<String>) -> Option<(usize, String)> {
    let found: Vec<String> = plans
        .iter()
        .filter_map(|p| bad(p).map(|why| format!("{why}\n{p}")))
        .collect();
    found.first().map(|first| (found.len(), first.clone()))
}

/// What is wrong with one capture plan on a partitioned activity table: any read of the
/// history at all (the record's previous row comes from chrononaut.heads there; a probe of the
/// history would open every partition), or a read of heads other than by key.
fn bad_heads_plan(plan: &str) -> Option<String> {
    if let Some(why) = bad_history_read(plan).or_else(|| quadratic_pairing(plan)) {
        return Some(why);
    }
    if let Some(scan) = history_scans(plan).first() {
        return Some(format!("a read of the partitioned history: {}", scan.node));
    }
    for (i, line) in plan.lines().enumerate() {
        let l = line.trim_start().trim_start_matches("->  ");
        if l.contains(" Scan") && l.contains(" on heads") {
            let indent = line.len() - line.trim_start().len();
            let by_key = plan
                .lines()
                .skip(i + 1)
                .take_while(|c| c.len() - c.trim_start().len() > indent && !c.contains("->"))
                .any(|c| c.contains("Index Cond") && c.contains("key ="));
            if !by_key {
                return Some(format!("a read of heads without a key condition: {l}"));
            }
        }
    }
    None
}

// One test (one auto_explain session per test binary: the notices are the process's) for the
// two kinds of activity table, one after the other.
#[tokio::test]
async fn capture_reads_only_the_history_of_the_written_records() {
    // unpartitioned: per-key probes of the history index
    let t = common::setup().await;
    let plans = capture_plans_of_a_growing_history(&t).await;
    let bad = first_bad(&plans, |p| {
        bad_history_read(p).or_else(|| quadratic_pairing(p))
    });
    if let Some((n, first)) = bad {
        panic!(
            "{n} of {} capture plans read history other than by key or pair rows in O(n²); the first:\n{first}",
            plans.len()
        );
    }
    drop(t);

    // partitioned by `changed`: no capture statement reads the history; heads by key only
    let t = common::bare().await;
    t.exec(common::PARTITIONED_ACTIVITY).await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.install(&mut conn).await.expect("install");
    drop(conn);
    let plans = capture_plans_of_a_growing_history(&t).await;
    assert!(
        plans.iter().any(|p| p.contains(" on heads")),
        "the capture plans read no heads ({} plans)",
        plans.len()
    );
    if let Some((n, first)) = first_bad(&plans, bad_heads_plan) {
        panic!(
            "{n} of {} capture plans on a partitioned history read it, or heads other than by key; the first:\n{first}",
            plans.len()
        );
    }
}
