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
mod proxy;
mod services;

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
    let hand = load::serve(services::hand_app(pool)).await?;
    println!(
        "layer_cost: one tracked UPDATE per request, pool of 4, synchronous_commit {}, {} rounds x {} requests per variant; load average {} at start",
        if args.sync_commit { "on" } else { "off" },
        args.rounds,
        args.requests,
        load_average()
    );
    println!(
        "round trips to PostgreSQL per request: layer {layer_trips:.2}, by hand {hand_trips:.2}"
    );
    println!(
        "| clients | variant | mean µs | p50 µs | p99 µs | requests/s | layer / by hand (mean latency) |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut offset = 0;
    for &concurrency in &args.concurrency {
        // warm-up: connections, statements, caches
        load::run_round(&client, &layer, 200, concurrency, offset).await?;
        load::run_round(&client, &hand, 200, concurrency, offset).await?;
        let (mut l_lat, mut h_lat) = (Vec::new(), Vec::new());
        let (mut l_wall, mut h_wall) = (Duration::ZERO, Duration::ZERO);
        for round in 0..args.rounds {
            // A B B A: each variant goes first half of the time
            let order = if round % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for through_layer in order {
                offset += args.requests;
                let base = if through_layer { &layer } else { &hand };
                let started = Instant::now();
                let latencies =
                    load::run_round(&client, base, args.requests, concurrency, offset).await?;
                let wall = started.elapsed();
                if through_layer {
                    l_lat.extend(latencies);
                    l_wall += wall;
                } else {
                    h_lat.extend(latencies);
                    h_wall += wall;
                }
            }
        }
        let (l, h) = (stats(l_lat, l_wall), stats(h_lat, h_wall));
        for (name, s) in [("by hand", &h), ("layer", &l)] {
            let ratio = if name == "layer" {
                format!("{:.3}", l.mean_us / h.mean_us)
            } else {
                String::new()
            };
            println!(
                "| {concurrency} | {name} | {:.0} | {:.0} | {:.0} | {:.0} | {ratio} |",
                s.mean_us, s.p50_us, s.p99_us, s.per_second
            );
        }
    }
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
