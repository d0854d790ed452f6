//! `restore`: put a record back to an earlier version, as a new version.

use chrono::{DateTime, Utc};
use chrononaut::{ChangeContext, Chrononaut, RestoreTarget};
use clap::Args;

use crate::history::{key_text, parse_key, parse_time};
use crate::{CliResult, Failure, connect, print_json};

/// `chrononaut restore TABLE KEY (--version N | --at T) --rationale R`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["version", "at"])))]
pub struct RestoreArgs {
    /// The table.
    pub table: String,
    /// The record: `id=5`, `org=acme,num=7` or a JSON object.
    pub key: String,
    /// Put back this version.
    #[arg(long)]
    pub version: Option<i32>,
    /// Put back the version in force at this time (RFC 3339, or `YYYY-MM-DD HH:MM[:SS]` UTC).
    #[arg(long, value_parser = parse_time)]
    pub at: Option<DateTime<Utc>>,
    /// Why (recorded as extra_info.rationale of the new version).
    #[arg(long)]
    pub rationale: String,
    /// Who restores (user_info.user_id; default: the login user name of the shell).
    #[arg(long)]
    pub user: Option<String>,
}

pub async fn run(
    ch: &Chrononaut,
    url: Option<&str>,
    json_out: bool,
    args: RestoreArgs,
) -> CliResult<()> {
    let mut conn = connect(url).await?;
    let record = ch
        .record(&mut conn, &args.table, parse_key(&args.key)?)
        .await?;
    let target = match (args.version, args.at) {
        (Some(n), _) => RestoreTarget::Version(n),
        (None, Some(t)) => RestoreTarget::At(t),
        (None, None) => return Err(Failure("give --version N or --at T".into())),
    };
    let mut ctx = ChangeContext::new().rationale(args.rationale);
    if let Some(user) = args.user.or_else(|| std::env::var("USER").ok()) {
        ctx = ctx.user(user);
    }
    let report = ch.restore(&mut conn, &record, target, &ctx).await?;
    if json_out {
        return print_json(&report);
    }
    let what = format!("{} {}", record.table(), key_text(record.key()));
    match &report.new_version {
        Some(v) => println!(
            "{} {what} to version {} as version {}",
            if report.reinserted {
                "re-inserted"
            } else {
                "restored"
            },
            report.restored_from,
            v.version()
        ),
        None => println!(
            "{what} already has the state of version {}; nothing written",
            report.restored_from
        ),
    }
    Ok(())
}
