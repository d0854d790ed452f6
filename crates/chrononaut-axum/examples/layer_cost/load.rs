//! Driving the services over HTTP (shared by the benchmark and `tests/round_trips.rs`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sqlx::PgPool;

use chrononaut_testdb::proxy::Proxy;

/// Serves `app` on 127.0.0.1 (random port) with `ConnectInfo`.
pub async fn serve(app: axum::Router) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    Ok(format!("http://{addr}"))
}

/// `requests` PUTs to `{route}/{id}` spread over `concurrency` clients; per-request
/// latencies.
pub async fn run_round(
    client: &reqwest::Client,
    route: &str,
    requests: usize,
    concurrency: usize,
    offset: usize,
) -> Result<Vec<Duration>, String> {
    let workers = (0..concurrency).map(|w| {
        let client = client.clone();
        let route = route.to_owned();
        async move {
            let mut latencies = Vec::new();
            for i in (w..requests).step_by(concurrency) {
                let n = offset + i;
                let started = Instant::now();
                let response = client
                    .put(format!("{route}/{}", n % 1000 + 1))
                    .header("x-user", format!("user-{}", n % 50))
                    .header("x-request-id", format!("req-{n}"))
                    .send()
                    .await
                    .map_err(|e| format!("request failed: {e}"))?;
                if response.status() != reqwest::StatusCode::NO_CONTENT {
                    return Err(format!("unexpected status {}", response.status()));
                }
                latencies.push(started.elapsed());
            }
            Ok::<_, String>(latencies)
        }
    });
    let mut all = Vec::with_capacity(requests);
    for latencies in futures_util::future::join_all(workers).await {
        all.extend(latencies?);
    }
    Ok(all)
}

/// Round trips of `requests` sequential requests to `{base}/items/{id}`, after a warm-up that prepares
/// the statements. sqlx pings a connection as it goes back to `pool`, just after the
/// response: counting starts and ends when every connection of the pool is idle again.
pub async fn count_round_trips(
    proxy: &Proxy,
    pool: &PgPool,
    client: &reqwest::Client,
    base: &str,
    requests: usize,
) -> Result<u64, String> {
    let route = format!("{base}/items");
    run_round(client, &route, 20, 1, 0).await?;
    settle(pool).await?;
    proxy.reset();
    run_round(client, &route, requests, 1, 0).await?;
    settle(pool).await?;
    Ok(proxy.turns())
}

/// Waits until every connection of `pool` is back and idle (at most 30 s).
async fn settle(pool: &PgPool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while pool.num_idle() < pool.size() as usize {
        if Instant::now() > deadline {
            return Err("the pool's connections did not come back".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}
