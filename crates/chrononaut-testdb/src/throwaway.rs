//! Starting a throwaway PostgreSQL server from local binaries.
//!
//! Everything here is blocking; call it through `spawn_blocking`.

use std::fs;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::{Error, Result};

/// How many lines of a log or command output an [`Error::Start`] carries.
const TAIL_LINES: usize = 20;

/// How many times to retry the start when the chosen port was taken meanwhile.
const START_ATTEMPTS: usize = 3;

/// Watchdog that outlives this process: waits for it to exit, then stops the
/// server and removes its directory.
///
/// Arguments: `$1` parent PID, `$2` temp dir, `$3` pg_ctl, `$4` runuser (empty
/// when not running as root).
const WATCHDOG: &str = r#"
while kill -0 "$1" 2>/dev/null; do sleep 1; done
if [ -n "$4" ]; then
    "$4" -u postgres -- "$3" -D "$2/data" -m immediate stop
else
    "$3" -D "$2/data" -m immediate stop
fi
rm -rf "$2"
"#;

struct Binaries {
    initdb: PathBuf,
    pg_ctl: PathBuf,
}

/// How PostgreSQL's tools are run: directly, or as the `postgres` OS user
/// through `runuser` when this process runs as root (PostgreSQL refuses root).
enum Runner {
    Direct,
    AsPostgres { runuser: PathBuf },
}

impl Runner {
    fn command(&self, program: &Path, dir: &Path) -> Command {
        let mut cmd = match self {
            Runner::Direct => Command::new(program),
            Runner::AsPostgres { runuser } => {
                let mut c = Command::new(runuser);
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            }
        };
        // The postgres user may not be able to enter our working directory.
        cmd.current_dir(dir).stdin(Stdio::null());
        cmd
    }
}

/// Starts a throwaway server and returns its admin URL.
pub(crate) fn start() -> Result<String> {
    let bins = find_binaries().ok_or(Error::NoBinaries)?;
    let runner = if is_root() {
        Runner::AsPostgres {
            runuser: find_runuser()?,
        }
    } else {
        Runner::Direct
    };

    let dir = make_temp_dir()?;
    if let Err(e) = prepare_dir(&dir, &runner) {
        let _ = fs::remove_dir_all(&dir);
        return Err(e);
    }
    // From here on the watchdog removes the directory (and stops the server)
    // once this process exits, whatever happens below.
    if let Err(e) = spawn_watchdog(&dir, &bins.pg_ctl, &runner) {
        let _ = fs::remove_dir_all(&dir);
        return Err(e);
    }

    match init_and_start(&bins, &runner, &dir) {
        Ok(port) => {
            let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
            tracing::info!(
                %url,
                dir = %dir.display(),
                initdb = %bins.initdb.display(),
                "started a throwaway PostgreSQL server (removed when this process exits)"
            );
            Ok(url)
        }
        Err(e) => {
            // Clean up now rather than at exit; the error carries the log tail.
            let _ = pg_ctl_stop(&bins, &runner, &dir);
            let _ = fs::remove_dir_all(&dir);
            Err(e)
        }
    }
}

fn init_and_start(bins: &Binaries, runner: &Runner, dir: &Path) -> Result<u16> {
    let data = dir.join("data");
    let out = runner
        .command(&bins.initdb, dir)
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .output()?;
    check_output("initdb failed", &out)?;

    let conf = data.join("postgresql.conf");
    let socket_dir = dir.to_string_lossy().replace('\'', "''");
    append(
        &conf,
        &format!(
            "\n# chrononaut-testdb throwaway server\n\
             listen_addresses='127.0.0.1'\n\
             unix_socket_directories='{socket_dir}'\n\
             fsync=off\n\
             synchronous_commit=off\n\
             full_page_writes=off\n\
             max_connections=200\n\
             shared_buffers=128MB\n"
        ),
    )?;

    let log = dir.join("log");
    let mut attempt = 1;
    loop {
        let port = free_port()?;
        // A later `port` line overrides an earlier one.
        append(&conf, &format!("port={port}\n"))?;
        let out = runner
            .command(&bins.pg_ctl, dir)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "start"])
            .output()?;
        if out.status.success() {
            return Ok(port);
        }
        let log_text = fs::read_to_string(&log).unwrap_or_default();
        let port_taken = log_text.contains("could not bind") || log_text.contains("already in use");
        if port_taken && attempt < START_ATTEMPTS {
            tracing::debug!(port, "port was taken meanwhile; retrying with another one");
            let _ = pg_ctl_stop(bins, runner, dir);
            attempt += 1;
            continue;
        }
        let mut tail = tail_lines(&log_text, TAIL_LINES);
        if tail.trim().is_empty() {
            tail = combined_tail(&out);
        }
        return Err(Error::Start {
            reason: format!("`pg_ctl start` failed ({})", out.status),
            log_tail: tail,
        });
    }
}

fn pg_ctl_stop(bins: &Binaries, runner: &Runner, dir: &Path) -> Result<Output> {
    Ok(runner
        .command(&bins.pg_ctl, dir)
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-m", "immediate", "stop"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .output()?)
}

fn check_output(what: &str, out: &Output) -> Result<()> {
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Start {
            reason: format!("{what} ({})", out.status),
            log_tail: combined_tail(out),
        })
    }
}

fn combined_tail(out: &Output) -> String {
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    tail_lines(&text, TAIL_LINES)
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn append(path: &Path, text: &str) -> Result<()> {
    let mut f = fs::OpenOptions::new().append(true).open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

/// `initdb` and `pg_ctl` from the directory [`crate::BINDIR_ENV`] names, else from one
/// directory on `PATH`, else from the highest version under `/usr/lib/postgresql/*/bin`.
fn find_binaries() -> Option<Binaries> {
    let from_dir = |dir: &Path| {
        let initdb = dir.join("initdb");
        let pg_ctl = dir.join("pg_ctl");
        (is_executable(&initdb) && is_executable(&pg_ctl)).then_some(Binaries { initdb, pg_ctl })
    };
    if let Some(dir) = std::env::var_os(crate::BINDIR_ENV).filter(|d| !d.is_empty()) {
        return from_dir(Path::new(&dir));
    }
    if let Some(path) = std::env::var_os("PATH")
        && let Some(b) = std::env::split_paths(&path).find_map(|d| from_dir(&d))
    {
        return Some(b);
    }
    let mut versions: Vec<(Vec<u64>, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (version_key(&name), e.path().join("bin"))
        })
        .collect();
    versions.sort();
    versions.iter().rev().find_map(|(_, bin)| from_dir(bin))
}

/// `"15"` -> `[15]`, `"9.6"` -> `[9, 6]`; non-numeric parts count as 0.
fn version_key(name: &str) -> Vec<u64> {
    name.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

fn find_runuser() -> Result<PathBuf> {
    find_on_path("runuser")
        .or_else(|| {
            ["/usr/sbin/runuser", "/sbin/runuser"]
                .iter()
                .map(PathBuf::from)
                .find(|p| is_executable(p))
        })
        .ok_or_else(|| Error::Start {
            reason: "running as root, PostgreSQL must run as the `postgres` user, but `runuser` \
                     was not found (install util-linux or run as a non-root user)"
                .into(),
            log_tail: String::new(),
        })
}

/// `id -u postgres` / `id -g postgres`.
fn postgres_id(flag: &str) -> Result<u32> {
    let out = Command::new("id")
        .args([flag, "postgres"])
        .stdin(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.trim().parse() {
        Ok(id) if out.status.success() => Ok(id),
        _ => Err(Error::Start {
            reason: "running as root, PostgreSQL must run as the `postgres` OS user, but it does \
                     not exist (create it, e.g. `useradd --system postgres`, or run as a non-root user)"
                .into(),
            log_tail: combined_tail(&out),
        }),
    }
}

fn make_temp_dir() -> Result<PathBuf> {
    let base = std::env::temp_dir();
    let mut last_err = None;
    for _ in 0..16 {
        let dir = base.join(format!(
            "chrononaut-pg-{}-{:08x}",
            std::process::id(),
            crate::random_u64() & 0xffff_ffff
        ));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last_err
        .unwrap_or_else(|| std::io::Error::other("could not create a temporary directory"))
        .into())
}

fn prepare_dir(dir: &Path, runner: &Runner) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    if let Runner::AsPostgres { .. } = runner {
        let uid = postgres_id("-u")?;
        let gid = postgres_id("-g")?;
        std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
    }
    Ok(())
}

fn spawn_watchdog(dir: &Path, pg_ctl: &Path, runner: &Runner) -> Result<()> {
    let runuser = match runner {
        Runner::Direct => PathBuf::new(),
        Runner::AsPostgres { runuser } => runuser.clone(),
    };
    // Null stdio so the watchdog holds none of our pipes open (cargo test
    // would otherwise wait for it), and its own process group so that a ^C
    // aimed at the test run does not kill it before it has cleaned up.
    // The child is deliberately never waited for: it outlives this process.
    #[allow(
        clippy::zombie_processes,
        reason = "the watchdog must outlive this process"
    )]
    Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("chrononaut-pg-watchdog")
        .arg(std::process::id().to_string())
        .arg(dir)
        .arg(pg_ctl)
        .arg(runuser)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_keys_sort_numerically() {
        let mut v = vec![version_key("9.6"), version_key("15"), version_key("10")];
        v.sort();
        assert_eq!(v, vec![vec![9, 6], vec![10], vec![15]]);
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail_lines("a", 5), "a");
        assert_eq!(tail_lines("", 5), "");
    }
}
