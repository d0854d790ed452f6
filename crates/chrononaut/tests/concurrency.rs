//! Concurrent writers: versions come from the row under its lock, so there is never a gap or
//! a duplicate.

mod common;

use chrononaut::{ChangeContext, TrackOptions};
use serde_json::Value;
use sqlx::Connection;

async fn writers_on_one_row(writers: usize, updates_each: usize) {
    let t = common::setup().await;
    t.exec("CREATE TABLE counter (id int PRIMARY KEY, n int, last_writer int)")
        .await;
    t.track("counter", &TrackOptions::new()).await;
    t.exec("INSERT INTO counter VALUES (1, 0, NULL)").await;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let url = t.db.url.clone();
        tasks.push(tokio::spawn(async move {
            let ch = chrononaut::Chrononaut::new();
            let mut conn = sqlx::PgConnection::connect(&url).await?;
            for _ in 0..updates_each {
                let mut tx = conn.begin().await?;
                ch.apply(&mut tx, &ChangeContext::new().user(format!("w{w}")))
                    .await
                    .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
                sqlx::query("UPDATE counter SET n = n + 1, last_writer = $1 WHERE id = 1")
                    .bind(w as i32)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            Ok::<_, sqlx::Error>(())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let total = (writers * updates_each) as i64;
    let versions: Vec<i32> = sqlx::query_scalar(
        "SELECT version FROM chrononaut_activity WHERE table_name = 'counter' ORDER BY changed, version",
    )
    .fetch_all(&t.pool)
    .await
    .unwrap();
    let expected: Vec<i32> = (0..=total as i32).collect();
    assert_eq!(versions, expected, "versions in (changed, version) order");
    // each version's n equals its number: every update saw the previous one
    assert_eq!(
        t.scalar_i64(
            "SELECT count(*) FROM chrononaut_activity WHERE (data->>'n')::int <> version OR (data->>'version')::int <> version"
        )
        .await,
        0
    );
    let last: Value = t
        .json("SELECT data FROM chrononaut_activity ORDER BY version DESC LIMIT 1")
        .await;
    let row: Value = t.json("SELECT to_jsonb(c) FROM counter c").await;
    assert_eq!(last, row);
    assert_eq!(row["n"], Value::from(total));
    // user_info of each row names the writer that made the change
    assert_eq!(
        t.scalar_i64(
            "SELECT count(*) FROM chrononaut_activity WHERE version > 0 \
             AND user_info->>'user_id' <> 'w' || (data->>'last_writer')"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn two_writers_on_one_row() {
    writers_on_one_row(2, 50).await;
}

#[tokio::test]
async fn eight_writers_on_one_row() {
    writers_on_one_row(8, 25).await;
}

#[tokio::test]
async fn concurrent_inserters_of_different_keys() {
    let t = common::setup().await;
    t.exec("CREATE TABLE ins (id int PRIMARY KEY, w int)").await;
    t.track("ins", &TrackOptions::new()).await;
    let writers = 4;
    let per = 50;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let url = t.db.url.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = sqlx::PgConnection::connect(&url).await?;
            for i in 0..per {
                sqlx::query("INSERT INTO ins VALUES ($1, $2)")
                    .bind(w * 1000 + i)
                    .bind(w)
                    .execute(&mut conn)
                    .await?;
            }
            Ok::<_, sqlx::Error>(())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(
        t.scalar_i64(
            "SELECT count(*) FROM chrononaut_activity WHERE version = 0 AND operation = 'insert'"
        )
        .await,
        (writers * per) as i64
    );
    assert_eq!(
        t.scalar_i64(
            "SELECT count(DISTINCT key) FROM chrononaut_activity a JOIN ins ON a.key = jsonb_build_object('id', ins.id) \
             AND a.data = to_jsonb(ins)"
        )
        .await,
        (writers * per) as i64
    );
    t.assert_row_versions("ins", "ins", "jsonb_build_object('id', t.id)")
        .await;
}

/// Two `track`s at once are serialised (by the DDL lock on chrononaut.meta): of two tables
/// whose history names collide (`s.t` and `public."s.t"`), tracked at the same moment, exactly
/// one is tracked and the other is refused; two tracks of one table both succeed.
#[tokio::test]
async fn concurrent_tracks_are_serialised() {
    let t = common::setup().await;
    for round in 0..3 {
        t.exec(&format!(
            "CREATE SCHEMA s{round}; CREATE TABLE s{round}.t (id int PRIMARY KEY); \
             CREATE TABLE public.\"s{round}.t\" (id int PRIMARY KEY); \
             CREATE TABLE same{round} (id int PRIMARY KEY);"
        ))
        .await;
        let mut tasks = Vec::new();
        for name in [
            format!("s{round}.t"),
            format!("public.\"s{round}.t\""),
            format!("same{round}"),
            format!("same{round}"),
        ] {
            let url = t.db.url.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
                chrononaut::Chrononaut::new()
                    .track(&mut conn, &name, &TrackOptions::new())
                    .await
            }));
        }
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("task"));
        }
        let colliding = &results[..2];
        assert_eq!(
            colliding.iter().filter(|r| r.is_ok()).count(),
            1,
            "{colliding:?}"
        );
        assert!(
            colliding
                .iter()
                .any(|r| matches!(r, Err(chrononaut::Error::HistoryNameTaken { .. }))),
            "{colliding:?}"
        );
        assert!(
            results[2..].iter().all(|r| r.is_ok()),
            "{:?}",
            &results[2..]
        );
    }
}
