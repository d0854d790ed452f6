//! Retention (`Chrononaut::prune`, sql/prune/functions.sql): whole partitions dropped, what
//! reads after the cut need kept as checkpoints, chains verifiable after it, every prune
//! recorded, archives that check out, refusals, and a prune that fails or is killed midway
//! leaving the history as it was.

mod common;

use std::path::PathBuf;

use chrononaut::{Error, PruneOptions, TrackOptions};
use common::Ctx;
use serde_json::{Value, json};

/// A database with a partitioned activity table (monthly, a year back, see
/// common::PARTITIONED_ACTIVITY) and `items` tracked, whose history reaches back months: for
/// records 1..=4 chained rows written by hand at fixed months ago (what the triggers would have
/// written then), record 3 deleted 5 months ago, record 5 Python-written (no hash), then a
/// capture write of record 1 now.
async fn history_over_months() -> Ctx {
    let t = common::bare().await;
    t.exec(common::PARTITIONED_ACTIVITY).await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.install(&mut conn).await.expect("install");
    drop(conn);
    t.exec(
        "CREATE TABLE items (id int PRIMARY KEY, v text, version int); \
         INSERT INTO items VALUES (1, 'v2', 2), (2, 'v1', 1), (4, 'v0', 0), (5, 'py', 1);",
    )
    .await;
    t.track("items", &TrackOptions::new()).await;
    // (key, months ago, version, operation); each record's rows chained in order
    t.exec(
        "DO $$ DECLARE r record; prev bytea; h bytea; last int := 0; ts timestamptz; d jsonb; BEGIN \
         FOR r IN SELECT * FROM (VALUES (1, 8, 0, 'insert'), (1, 6, 1, 'update'), (1, 1, 2, 'update'), \
                  (2, 9, 0, 'insert'), (2, 7, 1, 'update'), \
                  (3, 9, 0, 'insert'), (3, 5, 1, 'delete'), \
                  (4, 2, 0, 'insert')) AS x(k, m, v, op) ORDER BY k, v LOOP \
           IF r.k <> last THEN prev := NULL; last := r.k; END IF; \
           ts := date_trunc('month', now()) - make_interval(months => r.m) + interval '3 days'; \
           d := jsonb_build_object('id', r.k, 'v', 'v' || r.v, 'version', r.v); \
           h := chrononaut.chain_hash(prev, 'items', jsonb_build_object('id', r.k), r.v, ts, d, \
                '{\"user_id\": \"old\"}', '{}', r.op); \
           INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, \
                extra_info, operation, prev_hash, hash) \
           VALUES ('items', ts, r.v, jsonb_build_object('id', r.k), d, '{\"user_id\": \"old\"}', '{}', r.op, prev, h); \
           prev := h; \
         END LOOP; END $$; \
         INSERT INTO chrononaut_activity (table_name, changed, version, key, data) VALUES \
           ('items', date_trunc('month', now()) - interval '10 months', 0, '{\"id\": 5}', '{\"id\": 5, \"v\": \"py0\"}'), \
           ('items', date_trunc('month', now()) - interval '4 months', 1, '{\"id\": 5}', '{\"id\": 5, \"v\": \"py\"}');",
    )
    .await;
    t.exec("UPDATE items SET v = 'now' WHERE id = 1").await;
    t.assert_verifies().await;
    t
}

/// The start of the month `months` months ago, as the database says (UTC boundaries).
async fn months_ago(t: &Ctx, months: i32) -> chrono::DateTime<chrono::Utc> {
    sqlx::query_scalar(
        "SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => $1)) AT TIME ZONE 'UTC'",
    )
    .bind(months)
    .fetch_one(&t.pool)
    .await
    .expect("time")
}

/// history_as_of at `at` as JSON (key, version, data), by key.
async fn as_of(t: &Ctx, at: &str) -> Value {
    t.json(&format!(
        "SELECT COALESCE(json_agg(json_build_array(key, version, data) ORDER BY key), '[]') \
         FROM chrononaut.history_as_of('items', {at})"
    ))
    .await
}

/// The times after the cut (4 months ago) at which reads are compared before and after.
const AFTER_CUT: [&str; 5] = [
    "date_trunc('month', now()) - interval '4 months'",
    "date_trunc('month', now()) - interval '4 months' + interval '3 days'",
    "date_trunc('month', now()) - interval '2 months' + interval '4 days'",
    "date_trunc('month', now()) - interval '1 month' + interval '5 days'",
    "now()",
];

async fn partitions(t: &Ctx) -> i64 {
    t.scalar_i64(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'chrononaut_activity'::regclass",
    )
    .await
}

#[tokio::test]
async fn prune_keeps_what_reads_after_the_cut_need() {
    let t = history_over_months().await;
    let mut before = Vec::new();
    for at in AFTER_CUT {
        before.push(as_of(&t, at).await);
    }
    let parts = partitions(&t).await;
    let rows_before = t.activity_count().await;
    let cut = months_ago(&t, 4).await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let digest = t.ch.digest(&mut conn, None).await.expect("digest");

    // a dry run changes nothing
    let dry =
        t.ch.prune(&mut conn, cut, &PruneOptions::new().dry_run(true))
            .await
            .expect("dry run");
    assert_eq!(dry.cut, Some(cut));
    assert_eq!(
        dry.partitions.len(),
        8,
        "12..5 months ago: {:?}",
        dry.partitions
    );
    assert_eq!(dry.rows, 7);
    assert_eq!(dry.checkpoints, 4, "records 1, 2, 3, 5");
    assert_eq!(partitions(&t).await, parts);
    assert_eq!(t.activity_count().await, rows_before);

    let report =
        t.ch.prune(
            &mut conn,
            cut + chrono::Duration::days(3),
            &PruneOptions::new(),
        )
        .await
        .expect("prune");
    assert_eq!(report.cut, Some(cut), "whole partitions only");
    assert_eq!((report.rows, report.checkpoints), (7, 4));
    assert_eq!(partitions(&t).await, parts - 8);
    assert_eq!(t.activity_count().await, rows_before - 7 + 4);
    // reads at or after the cut answer as before
    for (at, want) in AFTER_CUT.iter().zip(&before) {
        assert_eq!(&as_of(&t, at).await, want, "as of {at}");
    }
    // a record's versions from the cut on: the checkpoint (version 1, as it was), then on
    let versions = t
        .json(
            "SELECT json_agg(json_build_array(version, operation, changed = $$CUT$$::timestamptz) \
             ORDER BY changed, version) FROM chrononaut_activity WHERE key = '{\"id\": 1}'"
                .replace("$$CUT$$", &format!("'{}'", cut.to_rfc3339()))
                .as_str(),
        )
        .await;
    assert_eq!(
        versions,
        json!([
            [1, "update", true],
            [2, "update", false],
            [3, "update", false]
        ])
    );
    // the prune is recorded, and verify reports it, not tampering
    let report_v = t.ch.verify(&mut conn, None).await.expect("verify");
    assert!(report_v.is_ok(), "{:?}", report_v.issues);
    assert_eq!(report_v.prunes.len(), 1);
    assert_eq!(report_v.prunes[0].cut, cut);
    assert_eq!(report_v.prunes[0].rows, 7);
    // a digest taken before no longer matches, and says why
    let old =
        t.ch.verify_digest(&mut conn, &digest)
            .await
            .expect("verify digest");
    assert!(!old.is_ok());
    assert!(
        old.issues
            .iter()
            .all(|i| i.message.contains("was pruned since the digest was taken")),
        "{:?}",
        old.issues
    );
    // the capture continues every chain from where the prune left it
    t.exec(
        "UPDATE items SET v = 'after' WHERE id IN (1, 2); INSERT INTO items VALUES (3, 'back', NULL); \
         UPDATE items SET v = 'py2' WHERE id = 5;",
    )
    .await;
    t.assert_verifies().await;
    assert_eq!(
        t.scalar_i64(
            "SELECT max(version)::int8 FROM chrononaut_activity WHERE key = '{\"id\": 3}'"
        )
        .await,
        2,
        "a record deleted before the cut continues its versions when inserted again"
    );
    // nothing more to prune before the same time
    let again =
        t.ch.prune(&mut conn, cut, &PruneOptions::new())
            .await
            .expect("second prune");
    assert_eq!((again.cut, again.rows), (None, 0));
}

/// A fresh directory under the target dir's tmp (removed first).
fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chrononaut-prune-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn an_archive_holds_what_was_removed_and_checks_out() {
    let t = history_over_months().await;
    let dir = fresh_dir("archive");
    let cut = months_ago(&t, 4).await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let report =
        t.ch.prune(&mut conn, cut, &PruneOptions::new().archive(&dir))
            .await
            .expect("prune");
    let files: Vec<String> = report
        .partitions
        .iter()
        .filter_map(|p| p.file.clone())
        .collect();
    assert_eq!(files.len(), 8);
    let verified =
        t.ch.verify_archive(Some(&mut conn), &dir)
            .await
            .expect("verify archive");
    assert!(verified.is_ok(), "{:?}", verified.problems);
    assert_eq!(verified.manifest.rows, 7);
    // the lines are the rows: read one back
    let mut all = String::new();
    for f in &files {
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(dir.join(f)).expect("file")),
            &mut text,
        )
        .expect("gunzip");
        all.push_str(&text);
    }
    let rows: Vec<Value> = all
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(rows.len(), 7);
    assert!(
        rows.iter()
            .any(|r| r["key"] == json!({"id": 3}) && r["operation"] == "delete")
    );
    assert!(rows.iter().all(|r| r["table_name"] == "items"));
    // an archive changed afterwards does not check out: one line edited, one file removed
    let with_rows: Vec<String> = report
        .partitions
        .iter()
        .filter(|p| p.rows > 0)
        .filter_map(|p| p.file.clone())
        .collect();
    let first = dir.join(&with_rows[0]);
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&first).expect("file")),
        &mut text,
    )
    .expect("gunzip");
    let edited = text.replacen("\"v", "\"forged-v", 1);
    assert_ne!(edited, text);
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&first).expect("rewrite"),
        flate2::Compression::default(),
    );
    std::io::Write::write_all(&mut gz, edited.as_bytes()).expect("write");
    gz.finish().expect("finish");
    std::fs::remove_file(dir.join(&with_rows[1])).expect("remove");
    let broken =
        t.ch.verify_archive(None, &dir)
            .await
            .expect("verify archive");
    assert!(
        broken
            .problems
            .iter()
            .any(|p| p.contains(&with_rows[0]) && p.contains("sha256")),
        "{:?}",
        broken.problems
    );
    assert!(
        broken.problems.iter().any(|p| p.contains(&with_rows[1])),
        "{:?}",
        broken.problems
    );
    // a second prune will not write into an existing archive
    let e =
        t.ch.prune(&mut conn, cut, &PruneOptions::new().archive(&dir))
            .await
            .expect_err("an existing archive");
    assert!(matches!(e, Error::Archive(_)), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_archive_that_cannot_be_written_prunes_nothing() {
    let t = history_over_months().await;
    let dir = fresh_dir("unwritable");
    std::fs::create_dir_all(&dir).expect("dir");
    let cut = months_ago(&t, 4).await;
    // the third partition's file cannot be created (a directory is in its place): two files
    // are written before the prune fails
    let mut conn = t.pool.acquire().await.expect("connection");
    let plan =
        t.ch.prune(&mut conn, cut, &PruneOptions::new().dry_run(true))
            .await
            .expect("dry run");
    let third = format!(
        "history-{}.jsonl.gz",
        plan.partitions[2].lower.format("%Y%m%dT%H%M%SZ")
    );
    std::fs::create_dir_all(dir.join(&third)).expect("blocker");
    let (parts, rows) = (partitions(&t).await, t.activity_count().await);
    let dump = t.activity_dump().await;
    let e =
        t.ch.prune(&mut conn, cut, &PruneOptions::new().archive(&dir))
            .await
            .expect_err("the archive fails");
    assert!(matches!(e, Error::Archive(_)), "{e}");
    assert_eq!(
        (partitions(&t).await, t.activity_count().await),
        (parts, rows)
    );
    assert_eq!(t.activity_dump().await, dump);
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut.prunes").await,
        0
    );
    assert!(!dir.join("manifest.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_prune_killed_midway_leaves_the_history_as_it_was() {
    let t = history_over_months().await;
    let cut = months_ago(&t, 4).await;
    let (parts, dump) = (partitions(&t).await, t.activity_dump().await);
    // a writer holds an old partition (an uncommitted history row written into it): the prune
    // waits for it, holding what it has done so far, and is killed there
    let mut writer = t.plain_connection().await;
    sqlx::raw_sql(
        "BEGIN; INSERT INTO chrononaut_activity (table_name, changed, version, key, data) \
         VALUES ('other', date_trunc('month', now()) - interval '6 months', 0, '{\"id\": 1}', '{}')",
    )
    .execute(&mut writer)
    .await
    .expect("writer");
    let url = t.db.url.clone();
    let pruning = tokio::spawn(async move {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .expect("connect");
        chrononaut::Chrononaut::new()
            .prune(&mut conn, cut, &PruneOptions::new())
            .await
    });
    let mut killed = false;
    for _ in 0..200 {
        let n = t
            .scalar_i64(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock' \
                   AND query LIKE '%prune_plan%'",
            )
            .await;
        if n > 0 {
            killed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(killed, "the prune never waited for the writer");
    let outcome = pruning.await.expect("task");
    assert!(outcome.is_err(), "the killed prune reports an error");
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut writer)
        .await
        .expect("rollback");
    assert_eq!(partitions(&t).await, parts);
    assert_eq!(t.activity_dump().await, dump);
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut.prunes").await,
        0
    );
    t.assert_verifies().await;
}

#[tokio::test]
async fn prune_refusals() {
    // only chrononaut_admin members prune
    let t = history_over_months().await;
    let cut = months_ago(&t, 4).await;
    let app = t.create_role("app", "").await;
    let admin = t.create_role("adm", "IN ROLE chrononaut_admin").await;
    for role in [&app, &admin] {
        t.exec(&format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON items TO {}",
            common::quote_ident(role)
        ))
        .await;
    }
    let pool = t.pool_as(&app).await;
    let mut conn = pool.acquire().await.expect("connection");
    let e =
        t.ch.prune(&mut conn, cut, &PruneOptions::new())
            .await
            .expect_err("an application role");
    assert!(matches!(e, Error::PermissionDenied(_)), "{e}");
    drop(conn);
    pool.close().await;
    let pool = t.pool_as(&admin).await;
    let mut conn = pool.acquire().await.expect("connection");
    let report =
        t.ch.prune(&mut conn, cut, &PruneOptions::new())
            .await
            .expect("a chrononaut_admin member prunes");
    assert_eq!(report.rows, 7);
    let pruned_by: String = sqlx::query_scalar("SELECT pruned_by FROM chrononaut.prunes")
        .fetch_one(&mut *conn)
        .await
        .expect("record");
    assert_eq!(pruned_by, admin);
    drop(conn);
    pool.close().await;

    // rows older than the cut in the DEFAULT partition: refused, nothing removed
    let t = history_over_months().await;
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data) \
         VALUES ('items', now() - interval '20 years', 0, '{\"id\": 9}', '{}')",
    )
    .await;
    let parts = partitions(&t).await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let e =
        t.ch.prune(&mut conn, months_ago(&t, 4).await, &PruneOptions::new())
            .await
            .expect_err("stray rows in DEFAULT");
    assert!(matches!(e, Error::PruneRefused(_)), "{e}");
    assert!(e.to_string().contains("DEFAULT"), "{e}");
    assert_eq!(partitions(&t).await, parts);

    // an unpartitioned history cannot be pruned
    let t = common::setup().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let e =
        t.ch.prune(&mut conn, chrono::Utc::now(), &PruneOptions::new())
            .await
            .expect_err("unpartitioned");
    assert!(matches!(e, Error::PruneRefused(_)), "{e}");
    assert!(e.to_string().contains("not partitioned"), "{e}");
}

#[tokio::test]
async fn writers_keep_writing_while_a_prune_runs() {
    let t = history_over_months().await;
    let cut = months_ago(&t, 4).await;
    let pool = t.pool.clone();
    let writer = tokio::spawn(async move {
        for i in 0..200 {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "UPDATE items SET v = 'w{i}' WHERE id = {}",
                1 + i % 2
            )))
            .execute(&pool)
            .await
            .expect("write");
        }
    });
    let mut conn = t.pool.acquire().await.expect("connection");
    let report =
        t.ch.prune(&mut conn, cut, &PruneOptions::new())
            .await
            .expect("prune");
    writer.await.expect("writer");
    assert_eq!(report.rows, 7);
    t.assert_verifies().await;
    // every write of the writer is in the history: versions without gaps after the cut
    let gaps = t
        .json(
            "SELECT COALESCE(json_agg(key), '[]') FROM (SELECT key, array_agg(version ORDER BY changed, version) AS vs, \
                    min(version) AS lo, count(*) AS n FROM chrononaut_activity GROUP BY key) AS x \
             WHERE vs <> ARRAY(SELECT generate_series(lo, lo + n::int - 1))",
        )
        .await;
    assert_eq!(gaps, json!([]));
}

/// The way a team gets there: `init --partition monthly` (current and ahead partitions only),
/// old history landing in DEFAULT, refused until maintenance moves it into its months, then
/// pruned; weekly partitions are pruned by whole weeks.
#[tokio::test]
async fn prune_after_init_partition_and_maintenance() {
    use chrononaut::{InstallOptions, Partitioning};
    for (partitioning, unit) in [
        (Partitioning::Monthly, "month"),
        (Partitioning::Weekly, "week"),
    ] {
        let t = common::bare().await;
        let mut conn = t.pool.acquire().await.expect("connection");
        t.ch.install_with(&mut conn, &InstallOptions::new().partition(partitioning))
            .await
            .expect("install");
        t.exec("CREATE TABLE items (id int PRIMARY KEY, v text)")
            .await;
        t.ch.track(&mut conn, "items", &TrackOptions::new())
            .await
            .expect("track");
        t.exec(&format!(
            "INSERT INTO chrononaut_activity (table_name, changed, version, key, data) \
             SELECT 'items', date_trunc('{unit}', now()) - make_interval(days => 7 * g) - interval '1 hour', \
                    20 - g, '{{\"id\": 1}}', jsonb_build_object('id', 1, 'v', g) \
             FROM generate_series(1, 20) AS g"
        ))
        .await;
        let before: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(sqlx::AssertSqlSafe(
            format!("SELECT date_trunc('{unit}', now()) - interval '70 days'"),
        ))
        .fetch_one(&mut *conn)
        .await
        .expect("time");
        let e =
            t.ch.prune(&mut conn, before, &PruneOptions::new())
                .await
                .expect_err("old rows are still in DEFAULT");
        assert!(matches!(e, Error::PruneRefused(_)), "{e}");
        t.ch.maintain_partitions(&mut conn).await.expect("maintain");
        let as_of_now = as_of(&t, "now()").await;
        let report =
            t.ch.prune(&mut conn, before, &PruneOptions::new())
                .await
                .expect("prune");
        assert!(
            report.rows > 0 && report.cut.is_some_and(|c| c <= before),
            "{report:?}"
        );
        assert_eq!(report.checkpoints, 1);
        assert_eq!(as_of(&t, "now()").await, as_of_now);
        t.assert_verifies().await;
    }
}

/// Retention policies (`TrackOptions::keep`): a prune by policy cuts at now minus the longest
/// one, is refused while a tracked table keeps its history forever, and the policy survives a
/// re-track with the same options and shows in `status`.
#[tokio::test]
async fn prune_by_policy_follows_the_longest_retention() {
    let t = history_over_months().await;
    t.exec("CREATE TABLE other (id int PRIMARY KEY)").await;
    t.track("other", &TrackOptions::new()).await;
    t.track("items", &TrackOptions::new().keep(100)).await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let e =
        t.ch.prune_by_policy(&mut conn, &PruneOptions::new())
            .await
            .expect_err("other keeps its history forever");
    assert!(matches!(e, Error::InvalidOptions(_)), "{e}");
    assert!(e.to_string().contains("public.other"), "{e}");
    t.track("other", &TrackOptions::new().keep(30)).await;
    let status = t.ch.status(&mut conn).await.expect("status");
    let keeps: Vec<(String, Option<u32>)> = status
        .iter()
        .map(|s| (s.table.clone(), s.options.keep_days))
        .collect();
    assert_eq!(
        keeps,
        [
            ("public.items".to_owned(), Some(100)),
            ("public.other".to_owned(), Some(30))
        ]
    );
    let cut = t.ch.retention_cut(&mut conn).await.expect("cut");
    let now: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&mut *conn)
        .await
        .expect("now");
    assert!(
        (now - cut - chrono::Duration::days(100))
            .num_seconds()
            .abs()
            < 60,
        "{cut} is 100 days before {now}"
    );
    let report =
        t.ch.prune_by_policy(&mut conn, &PruneOptions::new())
            .await
            .expect("prune by policy");
    let last = report.cut.expect("a cut");
    assert!(
        last <= cut && cut - last < chrono::Duration::days(32),
        "{last} vs {cut}"
    );
    t.assert_verifies().await;
}

// Found by review, each failing before its fix.

/// A record untouched across two prunes: the second carries the first's checkpoint again,
/// keeping its own original time.
#[tokio::test]
async fn two_prunes_keep_chains_verifiable() {
    let t = history_over_months().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.prune(&mut conn, months_ago(&t, 4).await, &PruneOptions::new())
        .await
        .expect("prune 1");
    t.assert_verifies().await;
    let now = as_of(&t, "now()").await;
    t.ch.prune(&mut conn, months_ago(&t, 2).await, &PruneOptions::new())
        .await
        .expect("prune 2");
    t.assert_verifies().await;
    assert_eq!(as_of(&t, "now()").await, now);
    let report = t.ch.verify(&mut conn, None).await.expect("verify");
    assert_eq!(report.prunes.len(), 2);
}

/// The checkpoint form is read only on a record's first row at a recorded prune's cut: a
/// mid-chain row whose `changed` was moved and marked as a checkpoint is an edit; a client's own
/// extra info named like it is hashed as it stands (and breaks nothing, not even with a value
/// that is not a time).
#[tokio::test]
async fn only_real_checkpoints_are_read_as_checkpoints() {
    let t = history_over_months().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.prune(&mut conn, months_ago(&t, 4).await, &PruneOptions::new())
        .await
        .expect("prune");
    t.assert_verifies().await;
    let app = t.create_role("app", "").await;
    t.exec(&format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON items TO {0}; GRANT SELECT ON chrononaut_activity TO {0}",
        common::quote_ident(&app)
    ))
    .await;
    let pool = t.pool_as(&app).await;
    sqlx::raw_sql(
        "BEGIN; SELECT set_config('chrononaut.extra', '{\"chrononaut_checkpoint\": {\"changed\": \"2020-01-01\", \"prune\": 1}}', true); \
         INSERT INTO items VALUES (7, 'a', NULL); COMMIT; \
         BEGIN; SELECT set_config('chrononaut.extra', '{\"chrononaut_checkpoint\": {\"changed\": \"not a time\"}}', true); \
         INSERT INTO items VALUES (8, 'b', NULL); UPDATE items SET v = 'c' WHERE id = 7; COMMIT;",
    )
    .execute(&pool)
    .await
    .expect("the application's writes");
    t.assert_verifies().await;
    let mut app_conn = pool.acquire().await.expect("connection");
    let report =
        t.ch.verify(&mut app_conn, None)
            .await
            .expect("verify as the app");
    assert!(report.is_ok(), "{:?}", report.issues);
    drop(app_conn);
    pool.close().await;
    // the owner moves a mid-chain row's time and marks it as a checkpoint: an edit
    t.exec(
        "ALTER TABLE chrononaut_activity DISABLE TRIGGER USER; \
         UPDATE chrononaut_activity SET changed = changed + interval '10 days', \
                extra_info = extra_info || jsonb_build_object('chrononaut_checkpoint', \
                    jsonb_build_object('changed', changed, 'prune', 1)) \
         WHERE key = '{\"id\": 1}' AND version = 2; \
         ALTER TABLE chrononaut_activity ENABLE TRIGGER USER;",
    )
    .await;
    let report = t.ch.verify(&mut conn, None).await.expect("verify");
    assert!(
        report.issues.iter().any(|i| i.version == Some(2)
            && i.key == Some(json!({"id": 1}))
            && i.kind == chrononaut::IssueKind::Edited),
        "{:?}",
        report.issues
    );
}

/// Refused before anything is dropped: a time in the future (a typo would drop the present's
/// partition), a partition without a lower bound (FROM MINVALUE, made by hand); a row at
/// -infinity left in DEFAULT blocks nothing.
#[tokio::test]
async fn prune_refuses_future_times_and_unbounded_partitions() {
    let t = history_over_months().await;
    let (parts, dump) = (partitions(&t).await, t.activity_dump().await);
    let mut conn = t.pool.acquire().await.expect("connection");
    for dry in [true, false] {
        let e =
            t.ch.prune(
                &mut conn,
                chrono::Utc::now() + chrono::Duration::days(75),
                &PruneOptions::new().dry_run(dry),
            )
            .await
            .expect_err("a future time");
        assert!(matches!(e, Error::PruneRefused(_)), "{e}");
        assert!(e.to_string().contains("in the past"), "{e}");
    }
    assert_eq!(
        (partitions(&t).await, t.activity_dump().await),
        (parts, dump)
    );
    // a partition FROM (MINVALUE): refused with a clear error, also by a dry run
    t.exec(
        "CREATE TABLE chrononaut_activity_old PARTITION OF chrononaut_activity \
         FOR VALUES FROM (MINVALUE) TO ('2000-01-01 00:00:00+00')",
    )
    .await;
    for dry in [true, false] {
        let e =
            t.ch.prune(
                &mut conn,
                months_ago(&t, 8).await,
                &PruneOptions::new().dry_run(dry),
            )
            .await
            .expect_err("a MINVALUE partition");
        assert!(matches!(e, Error::PruneRefused(_)), "{e}");
        assert!(e.to_string().contains("MINVALUE"), "{e}");
    }
    t.exec("DROP TABLE chrononaut_activity_old").await;
    // a -infinity row in DEFAULT stays there and blocks no prune
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data) \
         VALUES ('items', '-infinity', 0, '{\"id\": 9}', '{}')",
    )
    .await;
    let report =
        t.ch.prune(&mut conn, months_ago(&t, 9).await, &PruneOptions::new())
            .await
            .expect("prune with a -infinity row in DEFAULT");
    assert_eq!(report.checkpoints, 1, "record 5 only: {report:?}");
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut_activity WHERE changed = '-infinity'")
            .await,
        1
    );
    t.assert_verifies().await;
}

/// After a prune: heads equal a rebuild from what is left; a lock event that the schema-2
/// upgrade moved out of a version chain, from before the cut, is no longer walked.
#[tokio::test]
async fn heads_and_moved_lock_events_after_a_prune() {
    let t = history_over_months().await;
    t.exec(
        "DO $$ DECLARE v0 record; ts timestamptz := date_trunc('month', now()) - interval '8 months'; BEGIN \
           SELECT * INTO v0 FROM chrononaut_activity WHERE key = '{\"id\": 2}' AND version = 0; \
           INSERT INTO chrononaut.lock_events (table_name, key, version, changed, operation, user_info, \
                extra_info, data, prev_hash, hash, activity_id) \
           VALUES ('items', v0.key, 0, ts, 'lock', '{}', '{}', '{}', v0.hash, \
                   chrononaut.chain_hash(v0.hash, 'items', v0.key, 0, ts, '{}', '{}', '{}', 'lock'), v0.id + 1000); \
         END $$;",
    )
    .await;
    t.assert_verifies().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.prune(&mut conn, months_ago(&t, 4).await, &PruneOptions::new())
        .await
        .expect("prune");
    t.assert_verifies().await;
    assert_eq!(t.heads_out_of_step().await, json!([]));
}

/// Prune and archive with an activity schema whose name needs quoting; archive files only
/// their owner may read.
#[tokio::test]
async fn prune_in_a_quoted_schema_with_a_private_archive() {
    let schema = "Audit \"it's\"";
    let q = common::quote_ident(schema);
    let t = common::bare().await;
    t.exec(&format!(
        "CREATE SCHEMA {q}; SET search_path = {q}; {} RESET search_path;",
        common::PARTITIONED_ACTIVITY
    ))
    .await;
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.install_with(
        &mut conn,
        &chrononaut::InstallOptions::new().activity_schema(schema),
    )
    .await
    .expect("install");
    t.exec("CREATE TABLE items (id int PRIMARY KEY, v text)")
        .await;
    t.ch.track(&mut conn, "items", &TrackOptions::new())
        .await
        .expect("track");
    t.exec(&format!(
        "INSERT INTO {q}.chrononaut_activity (table_name, changed, version, key, data) \
         VALUES ('items', now() - interval '10 months', 0, '{{\"id\": 1}}', '{{}}')"
    ))
    .await;
    let dir = fresh_dir("quoted");
    let r =
        t.ch.prune(
            &mut conn,
            months_ago(&t, 6).await,
            &PruneOptions::new().archive(&dir),
        )
        .await
        .expect("prune");
    assert_eq!((r.rows, r.checkpoints), (1, 1));
    let v =
        t.ch.verify_archive(Some(&mut conn), &dir)
            .await
            .expect("archive");
    assert!(v.is_ok(), "{:?}", v.problems);
    let v = t.ch.verify(&mut conn, None).await.expect("verify");
    assert!(v.is_ok(), "{:?}", v.issues);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
        };
        assert_eq!(mode(&dir), 0o700);
        for entry in std::fs::read_dir(&dir).expect("dir") {
            assert_eq!(mode(&entry.expect("entry").path()), 0o600);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
