//! Integration test: two test databases on the chosen server, each usable and
//! dropped again afterwards.

use chrononaut_testdb::{TestDb, server_url};

async fn database_exists(name: &str) -> bool {
    let admin = server_url().await.expect("server url");
    let pool = sqlx::PgPool::connect(&admin).await.expect("admin connect");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&pool)
            .await
            .expect("query pg_database");
    pool.close().await;
    exists
}

#[tokio::test]
async fn two_databases_are_distinct_usable_and_dropped() {
    let a = TestDb::new().await.expect("first TestDb");
    let b = TestDb::new().await.expect("second TestDb");
    assert_ne!(a.name, b.name);
    assert_ne!(a.url, b.url);

    // Pools stay open while the databases are dropped: the drop must still
    // work (it uses `WITH (FORCE)`).
    let mut pools = Vec::new();
    for db in [&a, &b] {
        let pool = db.pool().await.expect("pool");
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&pool)
            .await
            .expect("SELECT 1");
        assert_eq!(one, 1);
        let current: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&pool)
            .await
            .expect("current_database()");
        assert_eq!(current, db.name);
        pools.push(pool);
    }

    let (name_a, name_b) = (a.name.clone(), b.name.clone());
    assert!(database_exists(&name_a).await);
    assert!(database_exists(&name_b).await);

    drop(a);
    assert!(!database_exists(&name_a).await, "{name_a} still exists");
    assert!(database_exists(&name_b).await);
    drop(b);
    assert!(!database_exists(&name_b).await, "{name_b} still exists");
    drop(pools);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_url_is_memoised() {
    let first = server_url().await.expect("server url");
    let second = server_url().await.expect("server url");
    assert_eq!(first, second);
}
