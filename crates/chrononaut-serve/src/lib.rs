//! # chrononaut-serve
//!
//! The history browser behind `chrononaut serve`: server-rendered pages (they work without
//! JavaScript) and a JSON API under `/api/` over the history chrononaut records: the newest
//! activity across tables, a record's timeline with the diff of each version, a table as of a
//! time, the tracked tables and their locks, and the integrity check of a table.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use chrononaut_serve::{ServeOptions, connect, router, serve};
//!
//! let options = ServeOptions::default(); // read-only, no token: bind to loopback only
//! let pool = connect("postgres://localhost/app", &options).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, router(pool, options)).await?;
//! # Ok(()) }
//! ```
//!
//! Safety: every query runs under a statement timeout and, unless restore is allowed, in
//! read-only transactions (both set on the connections by [`connect`]); with a token every
//! request must carry it (cookie or bearer) or gets a bare 401; without one, only requests
//! that name a loopback host are answered (no DNS rebinding). Every value is HTML-escaped.
#![warn(missing_docs)]

mod api;
mod auth;
mod data;
mod error;
mod pages;
mod params;
mod view;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use chrononaut::Chrononaut;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub use error::{ApiFailure, Failure};
pub use params::{
    key_text, lock_json, parse_key, parse_time, raw_text, time_text, value_text, version_json,
};

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Offer restore (a form on each version, `POST /api/restore`). Off: the server only reads.
    pub allow_restore: bool,
    /// The access token every request must carry (`Authorization: Bearer T`, or the cookie
    /// that visiting `/?token=T` sets). `None`: no token, and only loopback host names are
    /// answered.
    pub token: Option<String>,
    /// The statement timeout of every query.
    pub statement_timeout: Duration,
    /// Rows per page of the activity and table pages.
    pub page_size: usize,
    /// At most this many versions on a record's timeline (the newest).
    pub timeline_limit: i64,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            allow_restore: false,
            token: None,
            statement_timeout: Duration::from_secs(10),
            page_size: 50,
            timeline_limit: 500,
        }
    }
}

/// A pool for the server: each connection has the statement timeout and, without
/// `allow_restore`, `default_transaction_read_only` on.
pub async fn connect(url: &str, options: &ServeOptions) -> chrononaut::Result<PgPool> {
    let timeout = options.statement_timeout.as_millis().max(1).to_string();
    let mut connect: PgConnectOptions = url.parse()?;
    connect = connect
        .application_name("chrononaut serve")
        .options([("statement_timeout", timeout.as_str())]);
    if !options.allow_restore {
        connect = connect.options([("default_transaction_read_only", "on")]);
    }
    Ok(PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(connect)
        .await?)
}

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Inner>);

pub(crate) struct Inner {
    pub pool: PgPool,
    pub ch: Chrononaut,
    pub options: ServeOptions,
    /// The secret of the restore forms (a page of this server has it; another site cannot).
    pub form_secret: String,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// A fresh random token: 40 hex digits, over 128 random bits from the OS.
pub fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
    .chars()
    .filter(|c| c.is_ascii_hexdigit())
    .take(40)
    .collect()
}

/// The pages and the API over `pool` (make it with [`connect`]: that sets the statement
/// timeout and read-only mode).
pub fn router(pool: PgPool, options: ServeOptions) -> Router {
    let state = AppState(Arc::new(Inner {
        pool,
        ch: Chrononaut::new(),
        options,
        form_secret: random_token(),
    }));
    Router::new()
        .route("/", get(pages::home))
        .route("/activity", get(pages::activity))
        .route("/tables", get(pages::tables))
        .route("/record", get(pages::record))
        .route("/version", get(pages::version))
        .route("/table", get(pages::table_at))
        .route("/integrity", get(pages::integrity))
        .route("/restore", post(pages::restore))
        .route("/api/activity", get(api::activity))
        .route("/api/tables", get(api::tables))
        .route("/api/locks", get(api::locks))
        .route("/api/record", get(api::record))
        .route("/api/version", get(api::version))
        .route("/api/at", get(api::table_at))
        .route("/api/verify", get(api::verify))
        .route("/api/restore", post(api::restore))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .layer(axum::middleware::from_fn(timing))
        .with_state(state)
}

/// Adds `Server-Timing: app;dur=MS`: the time the server spent on the request (reads and
/// rendering; a page's body is complete when its handler returns).
async fn timing(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let mut response = next.run(request).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = format!("app;dur={ms:.3}").parse() {
        response.headers_mut().insert("server-timing", v);
    }
    response
}

/// Serves `router` on `listener` (with the peer address, which restores record as the
/// change's `remote_addr`) until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
