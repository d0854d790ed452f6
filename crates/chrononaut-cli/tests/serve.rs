//! `chrononaut serve`: the binary starts the history browser; its API gives what `--json` gives.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use chrononaut_testdb::TestDb;
use common::{fails, ok, ok_json, sql};

/// A `chrononaut serve` this test started (killed when dropped), and the lines it printed.
struct Server {
    child: Child,
    lines: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `chrononaut serve ARGS` and reads what it prints before serving.
fn serve(url: &str, args: &[&str], lines: usize) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chrononaut"))
        .arg("serve")
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("CHRONONAUT_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start chrononaut serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut out = Vec::new();
    for _ in 0..lines {
        let mut line = String::new();
        reader.read_line(&mut line).expect("read");
        out.push(line.trim_end().to_owned());
    }
    Server { child, lines: out }
}

/// `http://ADDR` from `chrononaut serve: http://ADDR/ (...)`.
fn base(line: &str) -> String {
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    url.trim_end_matches('/').to_owned()
}

async fn setup() -> TestDb {
    let db = TestDb::new().await.expect("test database");
    sql(
        &db,
        "CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric(10,2));
         INSERT INTO accounts VALUES (1, 'ann', 10.00);",
    )
    .await;
    ok(&db.url, &["init"]);
    ok(&db.url, &["track", "accounts"]);
    sql(
        &db,
        "BEGIN; SET LOCAL chrononaut.extra = '{\"rationale\": \"raise\"}';
         UPDATE accounts SET balance = 20.50 WHERE id = 1; COMMIT;
         UPDATE accounts SET owner = 'bea' WHERE id = 1;",
    )
    .await;
    ok(&db.url, &["lock", "accounts", "id=1", "--reason", "hold"]);
    db
}

#[tokio::test]
async fn serve_answers_with_the_shapes_of_json_output() {
    let db = setup().await;
    let server = serve(&db.url, &["--bind", "127.0.0.1:0"], 1);
    assert!(
        server.lines[0].contains("(read-only)"),
        "{:?}",
        server.lines
    );
    let base = base(&server.lines[0]);
    let client = reqwest::Client::new();
    let get = |path: &str| {
        let request = client.get(format!("{base}{path}"));
        async move {
            let r = request.send().await.expect("request");
            assert_eq!(r.status(), 200);
            r.json::<serde_json::Value>().await.expect("json")
        }
    };
    assert_eq!(
        get("/api/record?table=accounts&key=id%3D1").await,
        ok_json(&db.url, &["log", "accounts", "id=1"])
    );
    assert_eq!(get("/api/tables").await, ok_json(&db.url, &["status"]));
    assert_eq!(get("/api/locks").await, ok_json(&db.url, &["locks"]));
    assert_eq!(
        get("/api/version?table=accounts&key=id%3D1&version=1").await,
        ok_json(&db.url, &["show", "accounts", "id=1", "--version", "1"])
    );
    assert_eq!(
        get("/api/verify?table=accounts").await,
        ok_json(&db.url, &["verify", "accounts"])
    );
    // the activity of a table: `log TABLE --json`'s versions (the lock event is not one)
    let versions: Vec<serde_json::Value> = ok_json(&db.url, &["log", "accounts"])
        .as_array()
        .expect("log entries")
        .iter()
        .filter(|e| e.get("data").is_some())
        .cloned()
        .collect();
    assert_eq!(versions.len(), 3);
    let activity = get("/api/activity?table=accounts").await;
    assert_eq!(activity["entries"], serde_json::Value::from(versions));
    assert_eq!(activity["next"], serde_json::Value::Null);
    let page = client
        .get(format!("{base}/record?table=accounts&key=id%3D1"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("page");
    assert!(page.contains("raise") && page.contains("20.50") && page.contains("hold"));
}

#[tokio::test]
async fn serve_elsewhere_than_loopback_needs_a_token() {
    let db = setup().await;
    let server = serve(&db.url, &["--bind", "0.0.0.0:0"], 2);
    let line = &server.lines[1];
    assert!(
        line.starts_with("access token (open this once): http://"),
        "{line}"
    );
    let token = line.rsplit("?token=").next().expect("token").to_owned();
    assert_eq!(token.len(), 40);
    let port = base(&server.lines[0])
        .rsplit(':')
        .next()
        .expect("port")
        .to_owned();
    let url = format!("http://127.0.0.1:{port}/api/tables");
    let client = reqwest::Client::new();
    let r = client.get(&url).send().await.expect("request");
    assert_eq!(r.status(), 401);
    let r = client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    // a token too short to guess safely is refused, in one line
    let e = fails(&db.url, &["serve", "--token", "short"]);
    assert!(e.contains("at least 16 characters"), "{e}");
}
