//! `serve`: the history browser (pages and JSON API of `chrononaut-serve`).

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use chrononaut_serve::{ServeOptions, random_token};
use clap::Args;

use crate::{CliResult, Failure};

/// `chrononaut serve [--bind ADDR] [--token T] [--allow-restore]`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on. Anything but loopback needs a token (one is made up and printed
    /// when none is given).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Access token every request must carry (bearer or cookie; open `/?token=T` once in a
    /// browser). At least 16 characters of A-Z a-z 0-9 - . _ ~
    #[arg(long, env = "CHRONONAUT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Offer restore (a form on each version). Without it the server only reads.
    #[arg(long)]
    pub allow_restore: bool,
    /// Statement timeout of every query, in seconds.
    #[arg(long, default_value_t = 10)]
    pub statement_timeout: u64,
}

fn check_token(token: &str) -> CliResult<()> {
    let ok_chars = token
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c));
    if token.len() < 16 || !ok_chars {
        return Err(Failure(
            "--token must be at least 16 characters of A-Z a-z 0-9 - . _ ~".into(),
        ));
    }
    Ok(())
}

pub async fn run(url: Option<&str>, args: ServeArgs) -> CliResult<()> {
    let url = url.ok_or_else(|| {
        Failure("no database given: set DATABASE_URL or pass --database-url".into())
    })?;
    if crate::is_sqlite_url(url) {
        return Err(crate::sqlite_refusal("the history browser (serve)"));
    }
    let mut generated = false;
    let token = match args.token {
        Some(t) => {
            check_token(&t)?;
            Some(t)
        }
        None if !args.bind.ip().is_loopback() => {
            generated = true;
            Some(random_token())
        }
        None => None,
    };
    let options = ServeOptions {
        allow_restore: args.allow_restore,
        token: token.clone(),
        statement_timeout: Duration::from_secs(args.statement_timeout.max(1)),
        ..ServeOptions::default()
    };
    let pool = chrononaut_serve::connect(url, &options)
        .await
        .map_err(|e| Failure(format!("cannot connect to the database: {e}")))?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|e| Failure(format!("cannot listen on {}: {e}", args.bind)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure(format!("cannot listen on {}: {e}", args.bind)))?;
    let mode = if args.allow_restore {
        "restore allowed"
    } else {
        "read-only"
    };
    println!("chrononaut serve: http://{addr}/ ({mode})");
    match (&token, generated) {
        (Some(t), true) => println!("access token (open this once): http://{addr}/?token={t}"),
        (Some(_), false) => {
            println!("every request needs the token (bearer, or open /?token=T once)")
        }
        (None, _) => {}
    }
    let _ = std::io::stdout().flush();
    chrononaut_serve::serve(listener, chrononaut_serve::router(pool, options))
        .await
        .map_err(|e| Failure(format!("the server stopped: {e}")))
}
