//! `lock`, `unlock`, `locks`, `verify`, `digest` of the `chrononaut` binary.

use std::path::PathBuf;

use chrononaut::{Chrononaut, Digest, RecordLock, VerifyReport};
use clap::Args;

use crate::history::{key_text, parse_key, time};
use crate::{CliResult, Conn, Failure, connect, print_json};
use sqlx::Connection as _;

/// `chrononaut lock TABLE [KEY] --reason R`.
#[derive(Args, Debug)]
pub struct LockArgs {
    /// The table.
    pub table: String,
    /// The record: `id=5`, `org=acme,num=7` or a JSON object. Without it (and with
    /// `--table`), the whole table is frozen.
    #[arg(required_unless_present = "whole_table")]
    pub key: Option<String>,
    /// Why (recorded with the lock event and shown to whoever is refused; at most 1024 bytes).
    #[arg(long)]
    pub reason: String,
    /// Freeze the whole table: every INSERT, UPDATE, DELETE and TRUNCATE is refused.
    #[arg(long = "table", conflicts_with = "key")]
    pub whole_table: bool,
}

/// `chrononaut unlock TABLE [KEY]`.
#[derive(Args, Debug)]
pub struct UnlockArgs {
    /// The table.
    pub table: String,
    /// The record (as for `lock`). Without it (and with `--table`), unfreezes the table.
    #[arg(required_unless_present = "whole_table")]
    pub key: Option<String>,
    /// Unfreeze the whole table.
    #[arg(long = "table", conflicts_with = "key")]
    pub whole_table: bool,
}

/// `chrononaut locks [TABLE]`.
#[derive(Args, Debug)]
pub struct LocksArgs {
    /// Only the locks of this table.
    pub table: Option<String>,
}

/// `chrononaut verify [TABLE] [--digest FILE]`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Only the history of this table.
    pub table: Option<String>,
    /// Also check the history against a digest exported earlier with `chrononaut digest`.
    #[arg(long, conflicts_with = "table")]
    pub digest: Option<PathBuf>,
}

/// `chrononaut digest [TABLE] [--output FILE]`.
#[derive(Args, Debug)]
pub struct DigestArgs {
    /// Only the history of this table.
    pub table: Option<String>,
    /// Write the digest to FILE instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

fn describe(lock: &RecordLock) -> String {
    let what = match &lock.key {
        Some(key) => format!("{} {}", lock.table, key_text(key)),
        None => format!("{} (whole table)", lock.table),
    };
    let user = lock
        .user_id
        .as_deref()
        .map(|u| format!(" (user {u})"))
        .unwrap_or_default();
    format!(
        "{what}  locked by {}{user} at {}: {}",
        lock.locked_by,
        time(lock.locked_at),
        lock.reason
    )
}

/// Runs a lock or unlock. On PostgreSQL as it is (the locker is the login role); on SQLite,
/// which has no roles, in a transaction whose context names the OS user (`USER`), written and
/// removed as the README tells every client to.
async fn in_context<F>(ch: &Chrononaut, conn: &mut Conn, f: F) -> CliResult<RecordLock>
where
    F: AsyncFnOnce(&Chrononaut, &mut dyn chrononaut::DbConn) -> CliResult<RecordLock>,
{
    match conn {
        Conn::Postgres(pg) => f(ch, pg).await,
        Conn::Sqlite(lite) => {
            let mut tx = lite.begin().await?;
            let mut ctx = chrononaut::ChangeContext::new();
            if let Ok(user) = std::env::var("USER") {
                ctx = ctx.user(user);
            }
            ch.apply(&mut *tx, &ctx).await?;
            let lock = f(ch, &mut *tx).await?;
            sqlx::query("DELETE FROM chrononaut_context")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(lock)
        }
    }
}

pub async fn lock(
    ch: &Chrononaut,
    url: Option<&str>,
    json_out: bool,
    args: LockArgs,
) -> CliResult<()> {
    let mut conn = connect(url).await?;
    let lock = in_context(ch, &mut conn, async |ch, conn| match &args.key {
        Some(key) => ch
            .lock(conn, &args.table, parse_key(key)?, &args.reason)
            .await
            .map_err(Failure::from),
        None => ch
            .freeze(conn, &args.table, &args.reason)
            .await
            .map_err(Failure::from),
    })
    .await?;
    if json_out {
        return print_json(&lock);
    }
    println!("locked {}", describe(&lock));
    Ok(())
}

pub async fn unlock(
    ch: &Chrononaut,
    url: Option<&str>,
    json_out: bool,
    args: UnlockArgs,
) -> CliResult<()> {
    let mut conn = connect(url).await?;
    let lock = in_context(ch, &mut conn, async |ch, conn| match &args.key {
        Some(key) => ch
            .unlock(conn, &args.table, parse_key(key)?)
            .await
            .map_err(Failure::from),
        None => ch.unfreeze(conn, &args.table).await.map_err(Failure::from),
    })
    .await?;
    if json_out {
        return print_json(&lock);
    }
    println!("unlocked {}", describe(&lock));
    Ok(())
}

pub async fn locks(
    ch: &Chrononaut,
    url: Option<&str>,
    json_out: bool,
    args: LocksArgs,
) -> CliResult<()> {
    let mut conn = connect(url).await?;
    let locks = ch.locks(&mut conn, args.table.as_deref()).await?;
    if json_out {
        return print_json(&locks);
    }
    if locks.is_empty() {
        println!("no locks");
    }
    for lock in &locks {
        println!("{}", describe(lock));
    }
    Ok(())
}

fn print_report(report: &VerifyReport) {
    for t in &report.tables {
        let events = match t.lock_events {
            0 => String::new(),
            1 => ", 1 lock event".to_owned(),
            n => format!(", {n} lock events"),
        };
        let no_chain = if t.no_chain {
            " (tracked with --no-chain: its new history has no hash chain to verify)"
        } else {
            ""
        };
        println!(
            "{}: {} history rows, {} chained, {} unchained{events}{no_chain}",
            t.table_name, t.rows, t.chained, t.unchained
        );
    }
    for p in &report.prunes {
        println!(
            "pruned: history before {} removed by {} at {} ({} rows in {} partition(s), {} checkpoints, digest {}{})",
            p.cut.format("%Y-%m-%d %H:%M:%S UTC"),
            p.pruned_by,
            p.pruned_at.format("%Y-%m-%d %H:%M:%S UTC"),
            p.rows,
            p.partitions.len(),
            p.checkpoints,
            p.digest,
            p.archive
                .as_deref()
                .map(|a| format!(", archived in {a}"))
                .unwrap_or_default()
        );
    }
    for issue in &report.issues {
        println!("BROKEN {}", issue.message);
    }
    if report.is_ok() {
        println!(
            "ok: no tampering found{}",
            if report.digest_checked {
                " (history matches the digest)"
            } else {
                ""
            }
        );
    }
}

pub async fn verify(
    ch: &Chrononaut,
    url: Option<&str>,
    json_out: bool,
    args: VerifyArgs,
) -> CliResult<()> {
    let mut conn = connect(url).await?;
    let digest = match &args.digest {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))?;
            let digest: Digest = serde_json::from_str(&text).map_err(|e| {
                Failure(format!(
                    "{} is not a chrononaut digest: {e}",
                    path.display()
                ))
            })?;
            Some(digest)
        }
        None => None,
    };
    let report = match &digest {
        Some(d) => ch.verify_digest(&mut conn, d).await?,
        None => ch.verify(&mut conn, args.table.as_deref()).await?,
    };
    if json_out {
        print_json(&report)?;
    } else {
        print_report(&report);
    }
    if report.is_ok() {
        Ok(())
    } else {
        Err(Failure(format!(
            "history verification failed: {} broken place(s)",
            report.issues.len()
        )))
    }
}

pub async fn digest(
    ch: &Chrononaut,
    url: Option<&str>,
    json_out: bool,
    args: DigestArgs,
) -> CliResult<()> {
    let mut conn = connect(url).await?;
    let digest = ch.digest(&mut conn, args.table.as_deref()).await?;
    let text = serde_json::to_string_pretty(&digest).map_err(|e| Failure(e.to_string()))?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, format!("{text}\n"))
                .map_err(|e| Failure(format!("cannot write {}: {e}", path.display())))?;
            if json_out {
                return print_json(&digest);
            }
            println!(
                "digest of {} table(s), history up to id {}, written to {}: {}",
                digest.tables.len(),
                digest.max_id,
                path.display(),
                digest.overall
            );
        }
        None => println!("{text}"),
    }
    Ok(())
}

/// `chrononaut seal`: chain the history rows written since the last seal (SQLite).
pub async fn seal(ch: &Chrononaut, url: Option<&str>, json_out: bool) -> CliResult<()> {
    let mut conn = connect(url).await?;
    let report = ch.seal(&mut conn).await?;
    if json_out {
        return print_json(&report);
    }
    match conn {
        Conn::Postgres(_) => {
            println!("nothing to seal: PostgreSQL chains each history row as it is written")
        }
        Conn::Sqlite(_) => println!(
            "sealed {} history row(s); the history is sealed through id {}",
            report.sealed, report.sealed_through
        ),
    }
    Ok(())
}
