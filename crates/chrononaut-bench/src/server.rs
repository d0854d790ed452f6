//! Server-side measure: a `DO` loop of single-row statements (each committed) per table, timed
//! by the backend's own CPU time where the server runs on this machine.
//!
//! A client-side rate on a loaded machine moves with whatever else runs; the CPU time the
//! backend spends on N statements moves much less. Where `/proc/<backend pid>/schedstat` is
//! readable (the server on this machine), its first field (ns on CPU) is read before and after;
//! else `/proc/<pid>/stat` utime + stime (clock ticks, 10 ms); else only wall time is reported.

use std::time::Instant;

use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::sql::{self, ident, int};
use crate::{Res, Variant};

/// One workload of the server-side measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerWorkload {
    Update,
    Insert,
    Delete,
    Bulk,
}

impl ServerWorkload {
    pub const ALL: [ServerWorkload; 4] = [
        ServerWorkload::Update,
        ServerWorkload::Insert,
        ServerWorkload::Delete,
        ServerWorkload::Bulk,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ServerWorkload::Update => "single-row UPDATE",
            ServerWorkload::Insert => "single-row INSERT",
            ServerWorkload::Delete => "single-row DELETE",
            ServerWorkload::Bulk => "1000-row UPDATE (per row)",
        }
    }

    /// Rows changed per statement.
    pub fn rows_per_statement(self) -> f64 {
        if self == ServerWorkload::Bulk {
            crate::BULK_ROWS as f64
        } else {
            1.0
        }
    }

    /// Statements per loop for `count` single-row statements (bulk: a hundredth, at least 5).
    pub fn statements(self, count: i64) -> i64 {
        if self == ServerWorkload::Bulk {
            (count / 100).max(5)
        } else {
            count
        }
    }
}

/// How the backend's time is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// `/proc/<pid>/schedstat`, ns on CPU.
    Schedstat,
    /// `/proc/<pid>/stat` utime + stime, clock ticks.
    Stat,
    /// Not on this machine: wall time only.
    None,
}

impl Clock {
    pub fn describe(self) -> &'static str {
        match self {
            Clock::Schedstat => "backend CPU time from /proc/<pid>/schedstat (ns)",
            Clock::Stat => "backend CPU time from /proc/<pid>/stat utime+stime (10 ms ticks)",
            Clock::None => "wall time only (the server's /proc is not readable from here)",
        }
    }
}

/// Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux).
const USER_HZ: u64 = 100;

fn read_cpu_ns(clock: Clock, pid: i32) -> Option<u64> {
    match clock {
        Clock::Schedstat => {
            let text = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?;
            text.split_whitespace().next()?.parse().ok()
        }
        Clock::Stat => {
            let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // Fields after the command name (which is in parentheses and may hold spaces):
            // state is field 3, utime field 14, stime field 15.
            let rest = &text[text.rfind(')')? + 1..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) * (1_000_000_000 / USER_HZ))
        }
        Clock::None => None,
    }
}

/// A connection whose backend is measured, one per variant (so each keeps its own plans warm).
pub struct Backend {
    pub variant: Variant,
    conn: PgConnection,
    pid: i32,
    pub clock: Clock,
    /// Ids inserted by the INSERT loops and not yet deleted: the `first` of each range.
    inserted: std::collections::VecDeque<i64>,
    next_first: i64,
}

/// One loop's figures, per statement.
#[derive(Debug, Clone, Copy)]
pub struct Measure {
    /// Backend CPU µs per statement (`None` when not readable).
    pub cpu_us: Option<f64>,
    /// Wall µs per statement, as the client saw the DO statement.
    pub wall_us: f64,
}

impl Backend {
    /// Connects, reads the backend pid and picks the clock; sets `synchronous_commit = off` for
    /// the session (CPU, not the disk) and a change context at session level, so the capture
    /// reads the same settings a request would set.
    pub async fn connect(url: &str, variant: Variant, first_id: i64) -> Res<Backend> {
        let mut conn = PgConnection::connect(url).await?;
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut conn)
            .await?;
        sqlx::raw_sql(
            "SET synchronous_commit = off;
             SELECT set_config('chrononaut.user_id', 'bench@example.com', false),
                    set_config('chrononaut.remote_addr', '10.0.0.7', false),
                    set_config('chrononaut.extra', '{\"rationale\": \"benchmark run\"}', false)",
        )
        .execute(&mut conn)
        .await?;
        let is_postgres = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim() == "postgres")
            .unwrap_or(false);
        let clock = if !is_postgres {
            Clock::None
        } else if read_cpu_ns(Clock::Schedstat, pid).is_some() {
            Clock::Schedstat
        } else if read_cpu_ns(Clock::Stat, pid).is_some() {
            Clock::Stat
        } else {
            Clock::None
        };
        Ok(Backend {
            variant,
            conn,
            pid,
            clock,
            inserted: Default::default(),
            next_first: first_id,
        })
    }

    /// Runs one loop of `count` statements of `workload` and returns its figures per
    /// statement. DELETE loops delete what an earlier INSERT loop on this backend inserted.
    pub async fn run(&mut self, workload: ServerWorkload, count: i64, rows: i64) -> Res<Measure> {
        let table = ident(self.variant.table());
        let statements = workload.statements(count);
        let sql = match workload {
            ServerWorkload::Update => sql::fill(
                sql::SERVER_UPDATE,
                &[
                    ("table", table),
                    ("count", int(statements)),
                    ("rows", int(rows)),
                ],
            )?,
            ServerWorkload::Bulk => sql::fill(
                sql::SERVER_BULK,
                &[
                    ("table", table),
                    ("count", int(statements)),
                    ("rows", int(rows)),
                ],
            )?,
            ServerWorkload::Insert => {
                let first = self.next_first;
                self.next_first += statements;
                self.inserted.push_back(first);
                sql::fill(
                    sql::SERVER_INSERT,
                    &[
                        ("table", table),
                        ("count", int(statements)),
                        ("first", int(first)),
                    ],
                )?
            }
            ServerWorkload::Delete => {
                let first = self
                    .inserted
                    .pop_front()
                    .ok_or("server-side DELETE loop without an INSERT loop before it")?;
                sql::fill(
                    sql::SERVER_DELETE,
                    &[
                        ("table", table),
                        ("count", int(statements)),
                        ("first", int(first)),
                    ],
                )?
            }
        };
        let cpu_before = read_cpu_ns(self.clock, self.pid);
        let started = Instant::now();
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut self.conn)
            .await?;
        let wall = started.elapsed().as_secs_f64();
        let cpu_after = read_cpu_ns(self.clock, self.pid);
        let n = statements as f64;
        Ok(Measure {
            cpu_us: match (cpu_before, cpu_after) {
                (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / 1e3 / n),
                _ => None,
            },
            wall_us: wall * 1e6 / n,
        })
    }

    pub async fn close(self) -> Res<()> {
        self.conn.close().await?;
        Ok(())
    }
}
