//! What the chrononaut layer costs a request: one tracked UPDATE per request through
//! `ChrononautLayer` + `Tx`, against the same handler building the same context by hand
//! (`Chrononaut::begin`, UPDATE, commit). Both run in this process over real HTTP on
//! 127.0.0.1 against a fresh database, in alternating rounds (A B B A ...) so that drift
//! of a noisy machine hits both alike. Round trips to PostgreSQL are counted by a proxy.
//!
//! ```sh
//! cargo run --release -p chrononaut-axum --example layer_cost -- [--rounds 10] [--requests 400] [--concurrency 1,8] [--sync-commit]
//! ```
//!
//! By default the database runs with `synchronous_commit = off`, so the figures compare CPU
//! and round trips rather than the disk's fsync (which would hide the layer's cost).

mod load;
mod services;

use chrononaut_testdb::proxy;

use std::net::{SocketAddr, ToSocketAddrs};
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrononaut::{Chrononaut, TrackOptions};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

struct Args {
    rounds: usize,
    requests: usize,
    concurrency: Vec<usize>,
    sync_commit: bool,
}

fn usage(message: &str) -> String {
    format!(
        "{message}\nusage: layer_cost [--rounds N] [--requests N] [--concurrency C1,C2,...] [--sync-commit]"
    )
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        rounds: 10,
        requests: 400,
        concurrency: vec![1, 8],
        sync_commit: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| usage(&format!("{name} needs a value")))
        };
        let number = |name: &str, v: String| {
            v.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| usage(&format!("{name}: {v:?} is not a positive number")))
        };
        match arg.as_str() {
            "--rounds" => args.rounds = number("--rounds", value("--rounds")?)?,
            "--requests" => args.requests = number("--requests", value("--requests")?)?,
            "--concurrency" => {
                args.concurrency = value("--concurrency")?
                    .split(',')
                    .map(|c| number("--concurrency", c.trim().to_owned()))
                    .collect::<Result<_, _>>()?
            }
            "--sync-commit" => args.sync_commit = true,
            other => return Err(usage(&format!("unknown argument {other:?}"))),
        }
    }
    Ok(args)
}

struct Stats {
    mean_us: f64,
    p50_us: f64,
    p99_us: f64,
    per_second: f64,
}

fn stats(mut latencies: Vec<Duration>, wall: Duration) -> Stats {
    latencies.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let at = |q: f64| us(latencies[((latencies.len() - 1) as f64 * q).round() as usize]);
    Stats {
        mean_us: latencies.iter().map(|d| us(*d)).sum::<f64>() / latencies.len() as f64,
        p50_us: at(0.5),
        p99_us: at(0.99),
        per_second: latencies.len() as f64 / wall.as_secs_f64(),
    }
}

/// Per-request time of `requests` calls of `app`'s `/context/{id}` in this process, without
/// HTTP or sockets: what the Rust side of a variant costs.
async fn in_process(app: &axum::Router, requests: usize) -> Result<Duration, String> {
    use tower::ServiceExt;
    let peer = SocketAddr::from(([127, 0, 0, 1], 40000));
    let started = Instant::now();
    for i in 0..requests {
        let request = axum::http::Request::put(format!("/context/{}", i % 1000 + 1))
            .header("x-user", format!("user-{}", i % 50))
            .header("x-request-id", format!("req-{i}"))
            .extension(axum::extract::ConnectInfo(peer))
            .body(axum::body::Body::empty())
            .map_err(|e| e.to_string())?;
        let response = app
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| e.to_string())?;
        if response.status() != axum::http::StatusCode::NO_CONTENT {
            return Err(format!("unexpected status {}", response.status()));
        }
    }
    Ok(started.elapsed() / requests as u32)
}

/// `median [min, max]` of per-round ratios.
fn spread(mut ratios: Vec<f64>) -> String {
    ratios.sort_by(f64::total_cmp);
    format!(
        "{:.3} [{:.3}, {:.3}]",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    )
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// A pool whose connections go through `proxy` (or straight to the server).
async fn pool(
    url: &str,
    via: Option<SocketAddr>,
    max: u32,
) -> Result<PgPool, Box<dyn std::error::Error>> {
    let mut options = PgConnectOptions::from_str(url)?;
    if let Some(addr) = via {
        options = options.host(&addr.ip().to_string()).port(addr.port());
    }
    Ok(PgPoolOptions::new()
        .max_connections(max)
        .min_connections(max)
        .connect_with(options)
        .await?)
}

/// Round trips per request of each variant, over one pooled connection through the proxy.
async fn round_trips(
    url: &str,
    client: &reqwest::Client,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let options = PgConnectOptions::from_str(url)?;
    let upstream = (options.get_host(), options.get_port())
        .to_socket_addrs()?
        .next()
        .ok_or("the database host has no address")?;
    let proxy = proxy::Proxy::start(upstream).await?;
    let pool = pool(url, Some(proxy.addr), 1).await?;
    let layer = load::serve(services::layer_app(pool.clone())).await?;
    let hand = load::serve(services::hand_app(pool.clone())).await?;
    let mut per_request = Vec::new();
    for base in [&layer, &hand] {
        let turns = load::count_round_trips(&proxy, &pool, client, base, 100).await?;
        per_request.push(turns as f64 / 100.0);
    }
    Ok((per_request[0], per_request[1]))
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let db = chrononaut_testdb::TestDb::new().await?;
    let setup = pool(&db.url, None, 1).await?;
    if !args.sync_commit {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE \"{}\" SET synchronous_commit = off",
            db.name.replace('"', "\"\"")
        )))
        .execute(&setup)
        .await?;
    }
    let chrononaut = Chrononaut::new();
    let mut conn = setup.acquire().await?;
    chrononaut.install(&mut conn).await?;
    sqlx::raw_sql(services::SCHEMA).execute(&mut *conn).await?;
    chrononaut
        .track(&mut conn, services::TABLE, &TrackOptions::new())
        .await?;
    drop(conn);
    setup.close().await;

    let client = reqwest::Client::builder().no_proxy().build()?;
    let (layer_trips, hand_trips) = round_trips(&db.url, &client).await?;

    let pool = pool(&db.url, None, 4).await?;
    let layer = load::serve(services::layer_app(pool.clone())).await?;
    let hand = load::serve(services::hand_app(pool.clone())).await?;
    println!(
        "layer_cost: pool of 4, synchronous_commit {}, {} rounds x {} requests per variant; load average {} at start",
        if args.sync_commit { "on" } else { "off" },
        args.rounds,
        args.requests,
        load_average()
    );
    println!(
        "round trips to PostgreSQL per request: layer {layer_trips:.2}, by hand {hand_trips:.2}"
    );
    println!(
        "| request | clients | variant | mean µs | p50 µs | p99 µs | requests/s | layer / by hand: p50, mean (median of rounds [min, max]) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut offset = 0;
    let mut runs: Vec<(&str, usize)> = args.concurrency.iter().map(|&c| ("items", c)).collect();
    runs.push(("context", 1));
    for (route, concurrency) in runs {
        let routes = [format!("{hand}/{route}"), format!("{layer}/{route}")];
        // warm-up: connections, statements, caches
        for r in &routes {
            load::run_round(&client, r, 200, concurrency, offset).await?;
        }
        let mut latencies = [Vec::new(), Vec::new()];
        let mut walls = [Duration::ZERO; 2];
        let (mut p50_ratios, mut mean_ratios) = (Vec::new(), Vec::new());
        for round in 0..args.rounds {
            // A B B A: each variant goes first half of the time
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            let mut round_stats = [None, None];
            for v in order {
                offset += args.requests;
                let started = Instant::now();
                let got = load::run_round(&client, &routes[v], args.requests, concurrency, offset)
                    .await?;
                let wall = started.elapsed();
                walls[v] += wall;
                round_stats[v] = Some(stats(got.clone(), wall));
                latencies[v].extend(got);
            }
            if let [Some(h), Some(l)] = round_stats {
                p50_ratios.push(l.p50_us / h.p50_us);
                mean_ratios.push(l.mean_us / h.mean_us);
            }
        }
        let ratio = format!("{}; {}", spread(p50_ratios), spread(mean_ratios));
        let [h, l] = [0, 1].map(|v| stats(std::mem::take(&mut latencies[v]), walls[v]));
        let what = if route == "items" {
            "tracked UPDATE"
        } else {
            "context only, no statement"
        };
        for (name, s, r) in [("by hand", &h, ""), ("layer", &l, ratio.as_str())] {
            println!(
                "| {what} | {concurrency} | {name} | {:.0} | {:.0} | {:.0} | {:.0} | {r} |",
                s.mean_us, s.p50_us, s.p99_us, s.per_second
            );
        }
    }

    // the Rust side alone, in this process: the layer's own cost per request
    let apps = [
        services::hand_app(pool.clone()),
        services::layer_app(pool.clone()),
    ];
    let mut per_request = [Vec::new(), Vec::new()];
    for round in 0..args.rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for v in order {
            per_request[v].push(in_process(&apps[v], 20 * args.requests).await?);
        }
    }
    let [h, l] = per_request.map(|mut d| {
        d.sort_unstable();
        d[d.len() / 2].as_secs_f64() * 1e6
    });
    println!(
        "in process, no HTTP (context only, {} calls x {} rounds, median round): by hand {h:.2} µs, layer {l:.2} µs per request: the layer adds {:.2} µs",
        20 * args.requests,
        args.rounds,
        l - h
    );
    println!("load average {} at the end", load_average());
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
