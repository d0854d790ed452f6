//! The layer adds no round trip: the same tracked UPDATE per request, through the layer and
//! with the context built by hand, makes exactly as many round trips to PostgreSQL (counted
//! by a proxy in front of the server; the benchmark `examples/layer_cost` reports them too).

#[path = "../examples/layer_cost/load.rs"]
mod load;
#[path = "../examples/layer_cost/services.rs"]
mod services;

use chrononaut_testdb::proxy;

use std::net::ToSocketAddrs;
use std::str::FromStr;

use chrononaut::{Chrononaut, TrackOptions};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

#[tokio::test]
async fn the_layer_adds_no_round_trip() {
    let db = chrononaut_testdb::TestDb::new()
        .await
        .expect("test database");
    let setup = db.pool().await.expect("pool");
    let ch = Chrononaut::new();
    let mut conn = setup.acquire().await.expect("connection");
    ch.install(&mut conn).await.expect("install");
    sqlx::raw_sql(services::SCHEMA)
        .execute(&mut *conn)
        .await
        .expect("schema");
    ch.track(&mut conn, services::TABLE, &TrackOptions::new())
        .await
        .expect("track");
    drop(conn);

    let options = PgConnectOptions::from_str(&db.url).expect("url");
    let upstream = (options.get_host(), options.get_port())
        .to_socket_addrs()
        .expect("server address")
        .next()
        .expect("an address");
    let proxy = proxy::Proxy::start(upstream).await.expect("proxy");
    // one connection: the requests run one after another on it
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(
            options
                .host(&proxy.addr.ip().to_string())
                .port(proxy.addr.port()),
        )
        .await
        .expect("pool through the proxy");
    let layer = load::serve(services::layer_app(pool.clone()))
        .await
        .expect("serve");
    let hand = load::serve(services::hand_app(pool.clone()))
        .await
        .expect("serve");
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");

    let requests = 30;
    let by_layer = load::count_round_trips(&proxy, &pool, &client, &layer, requests)
        .await
        .expect("layer requests");
    let by_hand = load::count_round_trips(&proxy, &pool, &client, &hand, requests)
        .await
        .expect("hand requests");
    assert_eq!(by_layer, by_hand, "round trips for {requests} requests");
    // BEGIN with the context (one simple query), the UPDATE, COMMIT, and sqlx's ping at
    // acquire and at release
    assert_eq!(by_layer, 5 * requests as u64);

    // and both recorded the same context
    let rows: Vec<(serde_json::Value, serde_json::Value)> = sqlx::query_as(
        "SELECT user_info, extra_info - 'request_id' FROM chrononaut_activity \
         WHERE extra_info->>'request_id' = 'req-1' ORDER BY id",
    )
    .fetch_all(&setup)
    .await
    .expect("history");
    assert_eq!(
        rows.len(),
        4,
        "warm-up and counted request 1 of both variants"
    );
    assert!(rows.windows(2).all(|w| w[0] == w[1]), "{rows:?}");
}
