//! A range-partitioned activity table (issue 11 item 1): `InstallOptions::partition`,
//! partitions kept ahead at UTC boundaries, the DEFAULT partition and its maintenance, Python
//! readers and writers, reads across partitions, privileges and concurrent writers.

mod common;

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use chrononaut::{Error, InstallOptions, Partitioning, TrackOptions, VersionFilter};
use futures::StreamExt;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

/// A fresh database with chrononaut installed, its activity table partitioned `p`.
async fn partitioned(p: Partitioning) -> common::Ctx {
    let t = common::bare().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let report =
        t.ch.install_with(&mut conn, &InstallOptions::new().partition(p))
            .await
            .expect("install");
    assert_eq!(report.partitioning, Some(p));
    drop(conn);
    t
}

async fn status(t: &common::Ctx) -> chrononaut::PartitionStatus {
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.partitions(&mut conn).await.expect("partitions")
}

async fn maintain(t: &common::Ctx) -> chrononaut::MaintainReport {
    let mut conn = t.pool.acquire().await.expect("connection");
    t.ch.maintain_partitions(&mut conn).await.expect("maintain")
}

/// The partition (its bare name) that holds the activity row `id`.
async fn partition_of(t: &common::Ctx, id: i64) -> String {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM chrononaut_activity a JOIN pg_class c ON c.oid = a.tableoid \
         WHERE a.id = $1",
    )
    .bind(id)
    .fetch_one(&t.pool)
    .await
    .expect("partition of row")
}

/// Writes a history row the way the Python library does (its eight columns, RETURNING id),
/// with `changed` given as wall-clock text of the session's TimeZone `zone`.
async fn python_insert(
    conn: &mut PgConnection,
    zone: &str,
    table_name: &str,
    at: DateTime<Utc>,
    version: i32,
    key: Value,
    data: Value,
) -> i64 {
    sqlx::query("SELECT set_config('TimeZone', $1, false)")
        .bind(zone)
        .execute(&mut *conn)
        .await
        .expect("set TimeZone");
    // the local wall-clock time, as a client in that zone would write it
    let local: String =
        sqlx::query_scalar("SELECT to_char($1::timestamptz, 'YYYY-MM-DD HH24:MI:SS.US')")
            .bind(at)
            .fetch_one(&mut *conn)
            .await
            .expect("local time");
    sqlx::query_scalar(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info) \
         VALUES ($1, $2::timestamp::timestamptz, $3, $4, $5, '{}', '{}') RETURNING chrononaut_activity.id",
    )
    .bind(table_name)
    .bind(&local)
    .bind(version)
    .bind(key)
    .bind(data)
    .fetch_one(&mut *conn)
    .await
    .expect("python-shaped insert")
}

fn utc_midnight(t: DateTime<Utc>) -> bool {
    t.hour() == 0 && t.minute() == 0 && t.second() == 0 && t.nanosecond() == 0
}

#[tokio::test]
async fn a_partitioned_install_keeps_the_layout_and_partitions_ahead() {
    let t = partitioned(Partitioning::Monthly).await;
    let s = status(&t).await;
    assert!(s.partitioned);
    assert_eq!(s.partitioning, Some(Partitioning::Monthly));
    assert_eq!(s.ahead, 3);
    let ranges: Vec<_> = s.partitions.iter().filter(|p| !p.is_default).collect();
    assert_eq!(ranges.len(), 4, "{s:?}");
    assert!(s.partitions.last().is_some_and(|p| p.is_default), "{s:?}");
    let now = Utc::now();
    let first = ranges[0].start.expect("start");
    assert!(first <= now && now < ranges[0].end.expect("end"), "{s:?}");
    for (a, b) in ranges.iter().zip(ranges.iter().skip(1)) {
        assert_eq!(a.end, b.start, "contiguous: {s:?}");
    }
    for p in &ranges {
        let start = p.start.expect("start");
        assert!(start.day() == 1 && utc_midnight(start), "{p:?}");
    }
    assert_eq!(s.covered_until, ranges[3].end);
    assert_eq!(s.default_rows, 0);

    // the same columns, types, defaults, indexes, trigger and policies as unpartitioned
    let plain = common::setup().await;
    let layout = "SELECT jsonb_build_object(\
        'columns', (SELECT jsonb_agg(jsonb_build_array(a.attname, format_type(a.atttypid, a.atttypmod), \
                     a.attnotnull, pg_get_expr(d.adbin, d.adrelid)) ORDER BY a.attnum) \
                   FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                   WHERE a.attrelid = 'chrononaut_activity'::regclass AND a.attnum > 0 AND NOT a.attisdropped), \
        'indexes', (SELECT jsonb_agg(c.relname ORDER BY c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                   WHERE i.indrelid = 'chrononaut_activity'::regclass AND NOT i.indisprimary), \
        'triggers', (SELECT jsonb_agg(tgname ORDER BY tgname) FROM pg_trigger \
                   WHERE tgrelid = 'chrononaut_activity'::regclass AND NOT tgisinternal \
                     AND tgname NOT LIKE 'chrononaut\\_heads\\_%'), \
        'policies', (SELECT jsonb_agg(polname ORDER BY polname) FROM pg_policy \
                   WHERE polrelid = 'chrononaut_activity'::regclass), \
        'acl', (SELECT relacl::text FROM pg_class WHERE oid = 'chrononaut_activity'::regclass))";
    assert_eq!(t.json(layout).await, plain.json(layout).await);
    // (the record heads' triggers exist on a partitioned activity table only, sql/heads)
    assert_eq!(
        t.json(
            "SELECT jsonb_agg(tgname ORDER BY tgname) FROM pg_trigger \
             WHERE tgrelid = 'chrononaut_activity'::regclass AND tgname LIKE 'chrononaut\\_heads\\_%'"
        )
        .await,
        json!(["chrononaut_heads_delete", "chrononaut_heads_insert", "chrononaut_heads_truncate"])
    );
    assert_eq!(
        t.json(
            "SELECT jsonb_agg(a.attname ORDER BY k.n) FROM pg_constraint c, \
             unnest(c.conkey) WITH ORDINALITY AS k(attnum, n) \
             JOIN pg_attribute a ON a.attrelid = 'chrononaut_activity'::regclass AND a.attnum = k.attnum \
             WHERE c.conrelid = 'chrononaut_activity'::regclass AND c.contype = 'p'"
        )
        .await,
        json!(["id", "changed"])
    );
    assert_eq!(
        t.json("SELECT to_jsonb(relkind::text) FROM pg_class WHERE oid = 'chrononaut_activity'::regclass")
            .await,
        json!("p")
    );
    // partitions carry no grants: nobody but the owner reaches them except through the parent
    assert_eq!(
        t.scalar_i64(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'chrononaut_activity'::regclass AND c.relacl IS NOT NULL"
        )
        .await,
        0
    );

    // a write at the last millisecond of a UTC month and one at the next month's first
    // instant, from a session in another TimeZone, land in their months' partitions
    let boundary = ranges[0].end.expect("end");
    let mut conn = t.plain_connection().await;
    let before = python_insert(
        &mut conn,
        "Asia/Kolkata",
        "edge",
        boundary - Duration::milliseconds(1),
        1,
        json!({"id": 1}),
        json!({}),
    )
    .await;
    let at = python_insert(
        &mut conn,
        "Asia/Kolkata",
        "edge",
        boundary,
        2,
        json!({"id": 1}),
        json!({}),
    )
    .await;
    assert_eq!(
        partition_of(&t, before).await,
        format!(
            "chrononaut_activity_p{}",
            ranges[0].start.expect("s").format("%Y%m%d")
        )
    );
    assert_eq!(
        partition_of(&t, at).await,
        format!("chrononaut_activity_p{}", boundary.format("%Y%m%d"))
    );

    // installing again: idempotent, the partitioning kept; another granularity is refused
    let mut conn = t.pool.acquire().await.expect("connection");
    let again =
        t.ch.install_with(
            &mut conn,
            &InstallOptions::new().partition(Partitioning::Monthly),
        )
        .await
        .expect("install again");
    assert_eq!(again.partitioning, Some(Partitioning::Monthly));
    assert!(again.partitions_created.is_empty(), "{again:?}");
    let plain_again = t.ch.install(&mut conn).await.expect("plain install");
    assert_eq!(plain_again.partitioning, Some(Partitioning::Monthly));
    let refused =
        t.ch.install_with(
            &mut conn,
            &InstallOptions::new().partition(Partitioning::Weekly),
        )
        .await;
    assert!(
        matches!(refused, Err(Error::InvalidOptions(_))),
        "{refused:?}"
    );
    drop(conn);
    assert_eq!(status(&t).await.partitions.len(), 5);

    // the DDL for migration tools says the same
    let ddl =
        t.ch.install_sql(&InstallOptions::new().partition(Partitioning::Weekly))
            .expect("ddl");
    assert!(ddl.contains("PARTITION BY RANGE (changed)"), "{ddl}");
    assert!(ddl.contains("chrononaut.maintain_partitions()"), "{ddl}");
}

#[tokio::test]
async fn bounds_are_utc_whatever_the_session_time_zone() {
    // installed (and so maintained) from a session 14 hours ahead of UTC, where the local date
    // is often not the UTC date
    let t = common::bare().await;
    let mut conn = t.plain_connection().await;
    sqlx::query("SET TimeZone = 'Pacific/Kiritimati'")
        .execute(&mut conn)
        .await
        .expect("set TimeZone");
    t.ch.install_with(
        &mut conn,
        &InstallOptions::new()
            .partition(Partitioning::Daily)
            .partitions_ahead(2),
    )
    .await
    .expect("install");
    let s = status(&t).await;
    let ranges: Vec<_> = s.partitions.iter().filter(|p| !p.is_default).collect();
    assert_eq!(ranges.len(), 3, "{s:?}");
    let today = Utc::now().date_naive();
    assert_eq!(
        ranges[0].start,
        Some(Utc.from_utc_datetime(&today.and_hms_opt(0, 0, 0).expect("midnight")))
    );
    for p in &ranges {
        assert!(utc_midnight(p.start.expect("start")), "{p:?}");
        assert_eq!(
            p.end.expect("end") - p.start.expect("start"),
            Duration::days(1)
        );
    }
    // 23:59:59.999 and 00:00 UTC, written as wall-clock time of a zone at -03:30
    let midnight = ranges[1].start.expect("start");
    let mut writer = t.plain_connection().await;
    let last = python_insert(
        &mut writer,
        "America/St_Johns",
        "edge",
        midnight - Duration::milliseconds(1),
        1,
        json!({"id": 1}),
        json!({}),
    )
    .await;
    let first = python_insert(
        &mut writer,
        "America/St_Johns",
        "edge",
        midnight,
        2,
        json!({"id": 1}),
        json!({}),
    )
    .await;
    assert_eq!(
        partition_of(&t, last).await,
        format!("chrononaut_activity_p{}", today.format("%Y%m%d"))
    );
    assert_eq!(
        partition_of(&t, first).await,
        format!("chrononaut_activity_p{}", midnight.format("%Y%m%d"))
    );
    // the row reads back as the same instant
    let back: DateTime<Utc> =
        sqlx::query_scalar("SELECT changed FROM chrononaut_activity WHERE id = $1")
            .bind(last)
            .fetch_one(&t.pool)
            .await
            .expect("changed");
    assert_eq!(back, midnight - Duration::milliseconds(1));
    // weekly partitions start on Mondays, 00:00 UTC
    let w = partitioned(Partitioning::Weekly).await;
    let s = status(&w).await;
    assert_eq!(s.ahead, 4);
    for p in s.partitions.iter().filter(|p| !p.is_default) {
        let start = p.start.expect("start");
        assert!(
            start.weekday() == chrono::Weekday::Mon && utc_midnight(start),
            "{p:?}"
        );
    }
}

#[tokio::test]
async fn the_default_partition_catches_far_writes_and_maintenance_moves_them() {
    let t = partitioned(Partitioning::Monthly).await;
    let mut conn = t.plain_connection().await;
    let future = Utc.with_ymd_and_hms(2199, 5, 3, 10, 0, 0).unwrap();
    let past =
        Utc.with_ymd_and_hms(1999, 12, 31, 23, 59, 59).unwrap() + Duration::milliseconds(999);
    let ids = [
        python_insert(
            &mut conn,
            "UTC",
            "legacy",
            future,
            1,
            json!({"id": 1}),
            json!({"v": "future"}),
        )
        .await,
        python_insert(
            &mut conn,
            "UTC",
            "legacy",
            past,
            1,
            json!({"id": 2}),
            json!({"v": "past"}),
        )
        .await,
        python_insert(
            &mut conn,
            "UTC",
            "legacy",
            past,
            2,
            json!({"id": 2}),
            json!({"v": "past 2"}),
        )
        .await,
    ];
    sqlx::query(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data) \
         VALUES ('legacy', 'infinity', 1, '{\"id\": 3}', '{}')",
    )
    .execute(&mut conn)
    .await
    .expect("infinite time");
    for id in ids {
        assert_eq!(partition_of(&t, id).await, "chrononaut_activity_default");
    }
    let s = status(&t).await;
    assert_eq!(s.default_rows, 4);
    let before = t.activity_dump().await;
    let digest_before = {
        let mut c = t.pool.acquire().await.expect("connection");
        t.ch.digest(&mut c, None).await.expect("digest").tables
    };

    let report = maintain(&t).await;
    let created: Vec<(String, i64)> = report
        .created
        .iter()
        .map(|c| (c.name.clone(), c.moved_rows))
        .collect();
    assert_eq!(
        created,
        vec![
            ("public.chrononaut_activity_p19991201".to_owned(), 2),
            ("public.chrononaut_activity_p21990501".to_owned(), 1),
        ]
    );
    assert_eq!(report.moved_rows, 3);
    assert_eq!(
        partition_of(&t, ids[0]).await,
        "chrononaut_activity_p21990501"
    );
    assert_eq!(
        partition_of(&t, ids[1]).await,
        "chrononaut_activity_p19991201"
    );
    // every row, every column, the same ids; the infinite one stays in DEFAULT
    assert_eq!(t.activity_dump().await, before);
    let s = status(&t).await;
    assert_eq!(s.default_rows, 1);
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut_activity_default WHERE changed = 'infinity'")
            .await,
        1
    );
    let mut c = t.pool.acquire().await.expect("connection");
    assert_eq!(
        t.ch.digest(&mut c, None).await.expect("digest").tables,
        digest_before
    );
    assert!(t.ch.verify(&mut c, None).await.expect("verify").is_ok());
    // a partition filled from DEFAULT looks like one created empty: the same columns, indexes
    // and (cloned) triggers, no grants
    let shape = |name: &str| {
        format!(
            "SELECT jsonb_build_object(\
               'columns', (SELECT jsonb_agg(jsonb_build_array(attname, format_type(atttypid, atttypmod), attnotnull) \
                           ORDER BY attnum) FROM pg_attribute WHERE attrelid = '{name}'::regclass AND attnum > 0 \
                           AND NOT attisdropped), \
               'indexes', (SELECT jsonb_agg(pg_get_indexdef(indexrelid) ORDER BY indexrelid::regclass::text) \
                           FROM pg_index WHERE indrelid = '{name}'::regclass), \
               'triggers', (SELECT jsonb_agg(tgname ORDER BY tgname) FROM pg_trigger WHERE tgrelid = '{name}'::regclass), \
               'acl', (SELECT relacl IS NULL FROM pg_class WHERE oid = '{name}'::regclass), \
               'rls', (SELECT relrowsecurity FROM pg_class WHERE oid = '{name}'::regclass))"
        )
    };
    let moved_shape = t.json(&shape("chrononaut_activity_p21990501")).await;
    let created_shape = t
        .json(&shape(&format!(
            "chrononaut_activity_p{}",
            Utc::now().format("%Y%m01")
        )))
        .await;
    let normalise = |v: Value, name: &str| -> Value {
        serde_json::from_str(&v.to_string().replace(name, "P")).expect("json")
    };
    assert_eq!(
        normalise(moved_shape, "chrononaut_activity_p21990501"),
        normalise(
            created_shape,
            &format!("chrononaut_activity_p{}", Utc::now().format("%Y%m01"))
        )
    );
    // the record heads (sql/heads) are what a rebuild from the history makes
    let heads = "SELECT COALESCE(jsonb_agg(to_jsonb(h) ORDER BY table_name, key), '[]') FROM chrononaut.heads h";
    let kept = t.json(heads).await;
    assert_eq!(kept.as_array().map(Vec::len), Some(3), "{kept}");
    t.exec("SELECT chrononaut.rebuild_heads()").await;
    assert_eq!(t.json(heads).await, kept);
    // nothing more to do; the DEFAULT partition is attached again
    assert!(
        t.ch.maintain_partitions(&mut c)
            .await
            .expect("again")
            .created
            .is_empty()
    );
    assert_eq!(
        t.json(
            "SELECT to_jsonb(pg_get_expr(c.relpartbound, c.oid)) FROM pg_class c \
             WHERE c.relname = 'chrononaut_activity_default'"
        )
        .await,
        json!("DEFAULT")
    );
    // maintenance is a SQL function too (pg_cron)
    t.exec("SELECT chrononaut.maintain_partitions()").await;
}

#[tokio::test]
async fn python_writes_and_reads_across_partitions() {
    let t = partitioned(Partitioning::Monthly).await;
    t.exec("CREATE TABLE acc (id int PRIMARY KEY, v text); INSERT INTO acc VALUES (1, 'now 0');")
        .await;
    t.track("acc", &TrackOptions::new()).await;
    t.exec("UPDATE acc SET v = 'now 1' WHERE id = 1").await;
    // a record the Python library versioned in 2024 and 2025, since deleted from the table
    let mut conn = t.plain_connection().await;
    let v1 = Utc.with_ymd_and_hms(2024, 3, 10, 12, 0, 0).unwrap();
    let v2 = Utc.with_ymd_and_hms(2025, 7, 1, 0, 0, 0).unwrap();
    python_insert(
        &mut conn,
        "Europe/Berlin",
        "acc",
        v1,
        1,
        json!({"id": 2}),
        json!({"id": 2, "v": "old 1"}),
    )
    .await;
    python_insert(
        &mut conn,
        "Europe/Berlin",
        "acc",
        v2,
        2,
        json!({"id": 2}),
        json!({"id": 2, "v": "old 2"}),
    )
    .await;
    assert_eq!(status(&t).await.default_rows, 2);
    // readable before maintenance (from DEFAULT) and after (from their own partitions)
    for round in 0..2 {
        if round == 1 {
            assert_eq!(maintain(&t).await.moved_rows, 2);
        }
        let mut c = t.pool.acquire().await.expect("connection");
        let rec =
            t.ch.record(&mut c, "acc", json!({"id": 2}))
                .await
                .expect("record");
        let versions = rec
            .versions(&mut c, &VersionFilter::new())
            .await
            .expect("versions");
        assert_eq!(
            versions.iter().map(|s| s.version()).collect::<Vec<_>>(),
            vec![1, 2]
        );
        let at = rec
            .version_at(&mut c, Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap())
            .await
            .expect("version_at")
            .expect("a version");
        assert_eq!(at.get("v").expect("v"), &json!("old 1"));
        let mut rows = Vec::new();
        {
            let asof =
                t.ch.as_of(&mut c, "acc", v2 + Duration::days(1))
                    .await
                    .expect("as_of");
            let mut stream = asof.rows();
            while let Some(row) = stream.next().await {
                let row = row.expect("row");
                rows.push((row.key.clone(), row.data.get("v").cloned()));
            }
        }
        assert_eq!(rows, vec![(json!({"id": 2}), Some(json!("old 2")))]);
        let log = t.ch.table_log(&mut c, "acc", 10, None).await.expect("log");
        assert_eq!(
            log.iter()
                .map(|s| (s.meta().key.clone(), s.version()))
                .collect::<Vec<_>>(),
            vec![
                (json!({"id": 1}), 1),
                (json!({"id": 2}), 2),
                (json!({"id": 2}), 1)
            ]
        );
        assert!(t.ch.verify(&mut c, None).await.expect("verify").is_ok());
    }
    // the Python library's reads: plain SELECTs by key and table_name
    let rows: Vec<(i32, Value)> = sqlx::query_as(
        "SELECT version, data FROM chrononaut_activity WHERE key = $1 AND table_name = $2 \
         ORDER BY changed, version",
    )
    .bind(json!({"id": 2}))
    .bind("acc")
    .fetch_all(&mut conn)
    .await
    .expect("python read");
    assert_eq!(rows.len(), 2);
    let latest: i32 = sqlx::query_scalar(
        "SELECT max(version) FROM chrononaut_activity WHERE key = '{\"id\": 1}' AND table_name = 'acc'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("python max");
    assert_eq!(latest, 1);
    // history stays append-only through the parent
    let e = t
        .exec_err("UPDATE chrononaut_activity SET version = 9")
        .await;
    assert!(
        common::is_sqlstate(&e, chrononaut::SQLSTATE_APPEND_ONLY),
        "{e}"
    );
}

#[tokio::test]
async fn only_the_owner_creates_or_maintains_partitions() {
    let t = partitioned(Partitioning::Monthly).await;
    let admin = t.create_role("padmin", "IN ROLE chrononaut_admin").await;
    let app = t.create_role("papp", "").await;
    t.exec(&format!(
        "GRANT CREATE ON SCHEMA public TO {a}, {b}; GRANT SELECT ON chrononaut_activity TO {b}",
        a = common::quote_ident(&admin),
        b = common::quote_ident(&app)
    ))
    .await;
    // far-future history waits in DEFAULT for the owner
    let mut owner = t.plain_connection().await;
    python_insert(
        &mut owner,
        "UTC",
        "x",
        Utc.with_ymd_and_hms(2150, 1, 1, 0, 0, 0).unwrap(),
        1,
        json!({"id": 1}),
        json!({}),
    )
    .await;
    for role in [&admin, &app] {
        let pool = t.pool_as(role).await;
        let mut conn = pool.acquire().await.expect("connection");
        let e = t.ch.maintain_partitions(&mut conn).await;
        assert!(
            matches!(e, Err(Error::PermissionDenied(_))),
            "{role}: {e:?}"
        );
        let e = sqlx::query("SELECT chrononaut.maintain_partitions()")
            .execute(&mut *conn)
            .await
            .expect_err("maintain in SQL");
        assert!(common::is_sqlstate(&e, "42501"), "{e}");
        let e = sqlx::query(
            "CREATE TABLE public.mine PARTITION OF chrononaut_activity \
             FOR VALUES FROM ('2150-02-01 00:00+00') TO ('2150-03-01 00:00+00')",
        )
        .execute(&mut *conn)
        .await
        .expect_err("a partition of one's own");
        assert!(common::is_sqlstate(&e, "42501"), "{e}");
        let e = sqlx::query("SELECT count(*) FROM chrononaut_activity_default")
            .execute(&mut *conn)
            .await
            .expect_err("a partition read directly");
        assert!(common::is_sqlstate(&e, "42501"), "{e}");
        // reading the partitioning is fine
        let s = t.ch.partitions(&mut conn).await.expect("partitions");
        assert!(s.partitioned);
        // tracking would maintain, but only for a role that may: nothing fails, nothing moves
        drop(conn);
        pool.close().await;
    }
    assert_eq!(status(&t).await.default_rows, 1);
    assert_eq!(maintain(&t).await.moved_rows, 1);
}

#[tokio::test]
async fn two_writers_while_maintenance_runs() {
    let t = partitioned(Partitioning::Monthly).await;
    t.exec(
        "CREATE TABLE w (id int PRIMARY KEY, n int NOT NULL); \
         INSERT INTO w SELECT g, 0 FROM generate_series(1, 2) g;",
    )
    .await;
    t.track("w", &TrackOptions::new()).await;
    const UPDATES: i32 = 150;
    let mut writers = Vec::new();
    for id in 1..=2 {
        let url = t.db.url.clone();
        writers.push(tokio::spawn(async move {
            let mut conn = PgConnection::connect(&url).await.expect("writer");
            for _ in 0..UPDATES {
                sqlx::query("UPDATE w SET n = n + 1 WHERE id = $1")
                    .bind(id)
                    .execute(&mut conn)
                    .await
                    .expect("update while maintaining");
            }
        }));
    }
    // meanwhile: history lands in DEFAULT and maintenance moves it, again and again
    let mut owner = t.plain_connection().await;
    let mut moved = 0;
    for i in 0..8 {
        let at = Utc.with_ymd_and_hms(2300 + i, 1, 15, 0, 0, 0).unwrap();
        python_insert(&mut owner, "UTC", "far", at, 1, json!({"id": i}), json!({})).await;
        moved += maintain(&t).await.moved_rows;
    }
    for w in writers {
        w.await.expect("writer task");
    }
    assert_eq!(moved, 8);
    assert_eq!(status(&t).await.default_rows, 0);
    for id in 1..=2 {
        let versions: Vec<i32> = sqlx::query_scalar(
            "SELECT version FROM chrononaut_activity WHERE table_name = 'w' AND key = $1 ORDER BY changed, id",
        )
        .bind(json!({"id": id}))
        .fetch_all(&t.pool)
        .await
        .expect("versions");
        assert_eq!(versions, (1..=UPDATES).collect::<Vec<_>>());
    }
    t.assert_row_versions("w", "w", "jsonb_build_object('id', t.id)")
        .await;
    let mut c = t.pool.acquire().await.expect("connection");
    let report = t.ch.verify(&mut c, None).await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
}

#[tokio::test]
async fn converting_an_unpartitioned_table_keeps_every_row() {
    let t = common::setup().await;
    // history of every kind: chained rows of a tracked table, Python-written rows without
    // hash in earlier months, a row with an infinite time; a grant given by an operator
    t.exec(
        "CREATE TABLE acc (id int PRIMARY KEY, v text); INSERT INTO acc VALUES (1, 'a'), (2, 'b');",
    )
    .await;
    t.track("acc", &TrackOptions::new()).await;
    for i in 0..5 {
        t.exec(&format!("UPDATE acc SET v = 'v{i}' WHERE id = 1"))
            .await;
    }
    t.exec("DELETE FROM acc WHERE id = 2").await;
    let mut conn = t.plain_connection().await;
    let old = Utc.with_ymd_and_hms(2023, 5, 31, 23, 59, 59).unwrap() + Duration::milliseconds(999);
    python_insert(
        &mut conn,
        "Asia/Tokyo",
        "legacy",
        old,
        1,
        json!({"id": 7}),
        json!({"v": 1}),
    )
    .await;
    python_insert(
        &mut conn,
        "Asia/Tokyo",
        "legacy",
        old + Duration::milliseconds(1),
        2,
        json!({"id": 7}),
        json!({"v": 2}),
    )
    .await;
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data) \
         VALUES ('legacy', '-infinity', 0, '{\"id\": 8}', '{}')",
    )
    .await;
    let reader = t.create_role("preader", "").await;
    t.exec(&format!(
        "GRANT SELECT ON acc TO {r}; GRANT SELECT ON chrononaut_activity TO {r}",
        r = common::quote_ident(&reader)
    ))
    .await;
    let before = t.activity_dump().await;
    let mut c = t.pool.acquire().await.expect("connection");
    let digest_before = t.ch.digest(&mut c, None).await.expect("digest").tables;
    let seq_before = t
        .scalar_i64("SELECT last_value FROM chrononaut_activity_id_seq")
        .await;

    // the plan changes nothing
    let plan =
        t.ch.partition_plan(&mut c, Partitioning::Monthly, None)
            .await
            .expect("plan");
    assert!(plan.conversion);
    assert_eq!(plan.rows, before.len() as i64);
    assert_eq!(plan.default_rows, 1);
    assert_eq!(plan.partitions[0].name, "chrononaut_activity_p20230501");
    assert_eq!(plan.partitions[0].rows, 1);
    assert_eq!(plan.partitions[1].name, "chrononaut_activity_p20230601");
    assert_eq!(plan.partitions.len(), 2 + 4, "{plan:?}");
    assert_eq!(
        plan.partitions.iter().map(|p| p.rows).sum::<i64>() + plan.default_rows,
        plan.rows
    );
    assert_eq!(
        t.json("SELECT to_jsonb(relkind::text) FROM pg_class WHERE oid = 'chrononaut_activity'::regclass")
            .await,
        json!("r")
    );

    let report =
        t.ch.install_with(
            &mut c,
            &InstallOptions::new().partition(Partitioning::Monthly),
        )
        .await
        .expect("convert");
    assert_eq!(report.converted_rows, Some(before.len() as i64));
    assert_eq!(report.partitioning, Some(Partitioning::Monthly));
    assert_eq!(
        t.json("SELECT to_jsonb(relkind::text) FROM pg_class WHERE oid = 'chrononaut_activity'::regclass")
            .await,
        json!("p")
    );
    // every row with every column and its id, in the same order; digest and verify unchanged
    assert_eq!(t.activity_dump().await, before);
    assert_eq!(
        t.ch.digest(&mut c, None).await.expect("digest").tables,
        digest_before
    );
    let verify = t.ch.verify(&mut c, None).await.expect("verify");
    assert!(verify.is_ok(), "{verify:?}");
    let s = t.ch.partitions(&mut c).await.expect("partitions");
    assert_eq!(
        s.partitions
            .iter()
            .filter(|p| !p.is_default)
            .map(|p| p.name.clone())
            .collect::<Vec<_>>(),
        plan.partitions
            .iter()
            .map(|p| format!("public.{}", p.name))
            .collect::<Vec<_>>()
    );
    assert_eq!(s.default_rows, 1);
    // the layout of a fresh partitioned install, the operator's grant kept
    let fresh = partitioned(Partitioning::Monthly).await;
    let layout = "SELECT jsonb_build_object(\
        'columns', (SELECT jsonb_agg(jsonb_build_array(a.attname, format_type(a.atttypid, a.atttypmod), \
                     a.attnotnull, pg_get_expr(d.adbin, d.adrelid)) ORDER BY a.attnum) \
                   FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                   WHERE a.attrelid = 'chrononaut_activity'::regclass AND a.attnum > 0 AND NOT a.attisdropped), \
        'indexes', (SELECT jsonb_agg(c.relname ORDER BY c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                   WHERE i.indrelid = 'chrononaut_activity'::regclass), \
        'triggers', (SELECT jsonb_agg(tgname ORDER BY tgname) FROM pg_trigger \
                   WHERE tgrelid = 'chrononaut_activity'::regclass AND NOT tgisinternal), \
        'policies', (SELECT jsonb_agg(jsonb_build_array(polname, pg_get_expr(polqual, polrelid)) ORDER BY polname) FROM pg_policy \
                   WHERE polrelid = 'chrononaut_activity'::regclass), \
        'rls', (SELECT relrowsecurity FROM pg_class WHERE oid = 'chrononaut_activity'::regclass), \
        'sequence', pg_get_serial_sequence('chrononaut_activity', 'id'))";
    assert_eq!(t.json(layout).await, fresh.json(layout).await);
    assert_eq!(
        t.scalar_i64(&format!(
            "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) e \
             WHERE c.oid = 'chrononaut_activity'::regclass AND e.grantee = '{reader}'::regrole \
               AND e.privilege_type = 'SELECT'"
        ))
        .await,
        1
    );
    // the reader still reads the history of the tables it may read, and no other
    let pool = t.pool_as(&reader).await;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT table_name FROM chrononaut_activity ORDER BY 1")
            .fetch_all(&pool)
            .await
            .expect("reader");
    assert_eq!(names, vec!["acc".to_owned()]);
    pool.close().await;
    // history continues: the same sequence, the chain, the append-only guard, Python writes
    t.exec("UPDATE acc SET v = 'after' WHERE id = 1").await;
    let id = t
        .scalar_i64("SELECT max(id) FROM chrononaut_activity WHERE table_name = 'acc'")
        .await;
    assert_eq!(id, seq_before + 1);
    python_insert(
        &mut conn,
        "UTC",
        "legacy",
        Utc::now(),
        3,
        json!({"id": 7}),
        json!({"v": 3}),
    )
    .await;
    let verify = t.ch.verify(&mut c, None).await.expect("verify");
    assert!(verify.is_ok(), "{verify:?}");
    let rec =
        t.ch.record(&mut c, "acc", json!({"id": 1}))
            .await
            .expect("record");
    let versions = rec
        .versions(&mut c, &VersionFilter::new())
        .await
        .expect("versions");
    assert_eq!(versions.len(), 6);
    let e = t.exec_err("DELETE FROM chrononaut_activity").await;
    assert!(
        common::is_sqlstate(&e, chrononaut::SQLSTATE_APPEND_ONLY),
        "{e}"
    );
    // and once more is a no-op
    let again =
        t.ch.install_with(
            &mut c,
            &InstallOptions::new().partition(Partitioning::Monthly),
        )
        .await
        .expect("again");
    assert_eq!(again.converted_rows, None);
    // partitions ahead without a partitioning is refused
    let e =
        t.ch.install_with(&mut c, &InstallOptions::new().partitions_ahead(3))
            .await;
    assert!(matches!(e, Err(Error::InvalidOptions(_))), "{e:?}");
}

#[tokio::test]
async fn an_unpartitioned_install_has_no_partitions_to_maintain() {
    let t = common::setup().await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let s = t.ch.partitions(&mut conn).await.expect("partitions");
    assert!(!s.partitioned && s.partitions.is_empty());
    assert!(
        t.ch.maintain_partitions(&mut conn)
            .await
            .expect("maintain")
            .created
            .is_empty()
    );
}

/// Rows moved out of DEFAULT leave no empty index behind: its indexes are rebuilt while it is
/// detached (VACUUM never shrinks a btree; 1M rows moved out had left 248 MB).
#[tokio::test]
async fn maintenance_leaves_the_default_partition_small() {
    let t = partitioned(Partitioning::Monthly).await;
    // REINDEX keeps the entries of rows that a snapshot still open in this database may see:
    // autovacuum's ANALYZE of the freshly filled partition holds one (ANALYZE, unlike VACUUM,
    // counts for the horizon) and, on a loaded machine, overlaps the maintenance and its
    // REINDEX. Keep it off this partition so that only the maintenance decides the size.
    t.exec("ALTER TABLE chrononaut_activity_default SET (autovacuum_enabled = off)")
        .await;
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data) \
         SELECT 'other', now() - interval '200 days' + g * interval '1 minute', 0, \
                jsonb_build_object('id', g), jsonb_build_object('id', g, 'v', md5(g::text)) \
         FROM generate_series(1, 30000) AS g",
    )
    .await;
    let default_indexes = "SELECT pg_indexes_size('chrononaut_activity_default')::int8";
    let full = t.scalar_i64(default_indexes).await;
    assert!(full > 4_000_000, "30k rows' index entries: {full} bytes");
    maintain(&t).await;
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut_activity_default")
            .await,
        0
    );
    let after = t.scalar_i64(default_indexes).await;
    assert!(
        after < 200_000,
        "DEFAULT's indexes after moving its rows out: {after} bytes"
    );
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut_activity WHERE table_name = 'other'")
            .await,
        30000
    );
}
