//! What a person sees, in headless Chromium through chromedriver (Debian's `chromium` and
//! `chromium-driver`): open a page, follow a record, read a diff. A screenshot of each page
//! goes to `target/screenshots/`.
//!
//! Without chromium or chromedriver these tests print a SKIPPED line and pass, unless
//! `CHRONONAUT_REQUIRE_BROWSER=1` (as `.ci/run` sets it), under which they fail.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrononaut_serve::ServeOptions;
use common::{SCRIPT, SECRETS, start};
use fantoccini::{Client, ClientBuilder, Locator};

/// A chromedriver this test started (killed when dropped) and a session in it.
struct Browser {
    client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn find(program: &str, env: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// Headless Chromium, or `None` (with a SKIPPED line on stderr) when it is not installed and
/// not required.
async fn browser(test: &str) -> Option<Browser> {
    let driver = find("chromedriver", "CHROMEDRIVER");
    let chromium = find("chromium", "CHROMIUM").or_else(|| find("chromium-browser", "CHROMIUM"));
    let (Some(driver), Some(chromium)) = (driver, chromium) else {
        let required = std::env::var("CHRONONAUT_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{test}: CHRONONAUT_REQUIRE_BROWSER=1 but chromium/chromedriver are not installed \
             (apt-get install chromium chromium-driver)"
        );
        // written past the test harness's capture, so that it shows
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: no chromium/chromedriver (apt-get install chromium chromium-driver; \
             CHRONONAUT_REQUIRE_BROWSER=1 makes this a failure)"
        );
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(&driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,1100"],
        }),
    );
    let started = Instant::now();
    let client = loop {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => break c,
            Err(e) if started.elapsed() < Duration::from_secs(20) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("cannot start a chromium session: {e}"),
        }
    };
    Some(Browser {
        client,
        driver: child,
    })
}

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).expect("write screenshot");
}

/// Waits (at most 10 s) until the page has an element matching `css`: after a click that
/// navigates, the new page (a read right after the click may still see the old one).
async fn wait_for(c: &Client, css: &str) {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("waiting for {css}: {e}"));
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .expect("text")
}

#[tokio::test]
async fn a_person_follows_a_record_and_reads_its_diff() {
    let Some(b) = browser("a_person_follows_a_record_and_reads_its_diff").await else {
        return;
    };
    let f = start(ServeOptions::default()).await;
    let c = &b.client;

    c.goto(&f.url("/tables")).await.expect("tables");
    assert!(text(c, "main").await.contains("audit hold"));
    screenshot(c, "tables").await;

    // the lock in force links to its record
    c.find(Locator::LinkText("id=1"))
        .await
        .expect("the record's link")
        .click()
        .await
        .expect("click");
    let heading = text(c, "h1").await;
    assert_eq!(heading, "public.accounts id=1");
    // version 1's diff: balance 100.00 → 250.50, nothing else
    let diff = text(c, "#v1 table.diff").await;
    assert!(diff.contains("balance 100.00 250.50"), "{diff}");
    assert!(!diff.contains("owner"), "{diff}");
    // the hidden column: changed, never its value
    let v2 = text(c, "#v2").await;
    assert!(v2.contains("secret changed, value hidden"), "{v2}");
    let page = text(c, "body").await;
    for s in SECRETS {
        assert!(!page.contains(s));
    }
    // the script in the first version is text a person reads, and it did not run
    let v0 = text(c, "#v0").await;
    assert!(v0.contains(SCRIPT), "{v0}");
    assert!(c.get_alert_text().await.is_err(), "an alert is open");
    assert!(page.contains("lock") && page.contains("audit hold"));
    screenshot(c, "record").await;

    c.find(Locator::Css("#v0 a"))
        .await
        .expect("as of this version")
        .click()
        .await
        .expect("click");
    let main = text(c, "main").await;
    assert!(main.contains("at version 0") && main.contains("100.00") && main.contains(SCRIPT));
    assert!(main.contains("hidden (never recorded)"));
    screenshot(c, "version").await;

    c.find(Locator::LinkText("the table at this time"))
        .await
        .expect("table link")
        .click()
        .await
        .expect("click");
    let main = text(c, "main").await;
    assert!(main.contains(SCRIPT) && main.contains("carol"), "{main}");
    screenshot(c, "table").await;

    c.goto(&f.url("/integrity?table=accounts"))
        .await
        .expect("integrity");
    assert!(text(c, "main").await.contains("ok: no tampering found"));
    screenshot(c, "integrity").await;

    c.goto(&f.url("/record?table=nope&key=id%3D1"))
        .await
        .expect("error page");
    assert!(text(c, "h1").await.contains("404"));
    screenshot(c, "error").await;
    b.client.clone().close().await.expect("close");
}

#[tokio::test]
async fn a_person_opens_the_activity_filters_it_and_follows_a_row() {
    let Some(b) = browser("a_person_opens_the_activity_filters_it_and_follows_a_row").await else {
        return;
    };
    let f = start(ServeOptions::default()).await;
    let c = &b.client;

    // the landing page is the activity, newest first
    c.goto(&f.url("/")).await.expect("home");
    assert_eq!(text(c, "h1").await, "Activity");
    let rows = c
        .find_all(Locator::Css("table.activity tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 7, "a header and six versions");
    let newest = rows[1].text().await.expect("text");
    assert!(
        newest.contains(
            "accounts id=1 v3 update carol@example.com postgres 192.0.2.10 owner renamed"
        ),
        "{newest}"
    );
    let oldest = rows[6].text().await.expect("text");
    assert!(oldest.contains("v0 insert alice@example.com"), "{oldest}");
    screenshot(c, "activity").await;

    // filter: the updates of bob
    c.find(Locator::Css("select[name=op]"))
        .await
        .expect("operation")
        .select_by_value("update")
        .await
        .expect("choose update");
    c.find(Locator::Css("input[name=user]"))
        .await
        .expect("user")
        .send_keys("bob@example.com")
        .await
        .expect("type");
    c.find(Locator::Css("form.filters button[type=submit]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("filter");
    wait_for(c, "input[name=user][value='bob@example.com']").await;
    let rows = c
        .find_all(Locator::Css("table.activity tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 2, "one change of bob");
    let row = rows[1].text().await.expect("text");
    assert!(row.contains("v1 update bob@example.com"), "{row}");
    assert!(
        row.contains("deposit <b>cash</b>"),
        "the rationale as text: {row}"
    );
    let url = c.current_url().await.expect("url");
    assert!(
        url.as_str().contains("op=update") && url.as_str().contains("user=bob%40example.com"),
        "{url}"
    );
    screenshot(c, "activity_filtered").await;

    // its version link opens the record's timeline at that version, with its diff
    c.find(Locator::LinkText("v1"))
        .await
        .expect("the version link")
        .click()
        .await
        .expect("click");
    wait_for(c, "#v1 table.diff").await;
    assert_eq!(text(c, "h1").await, "public.accounts id=1");
    let diff = text(c, "#v1 table.diff").await;
    assert!(diff.contains("balance 100.00 250.50"), "{diff}");
    assert!(!diff.contains("owner"), "{diff}");
    let url = c.current_url().await.expect("url");
    assert_eq!(url.fragment(), Some("v1"));
    screenshot(c, "activity_record").await;

    // a bad filter is a page a person reads
    c.goto(&f.url("/activity?after=yesterday"))
        .await
        .expect("bad filter");
    assert!(text(c, "h1").await.contains("400"));
    assert!(text(c, "main").await.contains("after"));
    b.client.clone().close().await.expect("close");
}

#[tokio::test]
async fn a_person_restores_a_version_with_a_rationale() {
    let Some(b) = browser("a_person_restores_a_version_with_a_rationale").await else {
        return;
    };
    let f = start(ServeOptions {
        allow_restore: true,
        ..ServeOptions::default()
    })
    .await;
    let mut conn = f.pool.acquire().await.expect("conn");
    f.ch.unlock(&mut conn, "accounts", serde_json::json!({"id": 1}))
        .await
        .expect("unlock");
    let c = &b.client;
    c.goto(&f.url("/record?table=accounts&key=id%3D1"))
        .await
        .expect("record");
    c.find(Locator::Css("#v1 details summary"))
        .await
        .expect("restore")
        .click()
        .await
        .expect("open");
    // without a rationale the browser does not send the form
    c.find(Locator::Css("#v1 button[type=submit]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    assert_eq!(text(c, "h1").await, "public.accounts id=1");
    assert!(!text(c, "main").await.contains("restored:"));
    c.find(Locator::Css("#v1 input[name=rationale]"))
        .await
        .expect("rationale")
        .send_keys("customer asked <to undo>")
        .await
        .expect("type");
    screenshot(c, "restore_form").await;
    c.find(Locator::Css("#v1 button[type=submit]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    wait_for(c, "p.ok").await;
    let main = text(c, "main").await;
    assert!(
        main.contains("restored: the record has the state of version 1 again"),
        "{main}"
    );
    let v4 = text(c, "#v4").await;
    assert!(v4.contains("customer asked <to undo>"), "{v4}");
    assert!(v4.contains("owner Dana"), "{v4}");
    screenshot(c, "restored").await;
    b.client.clone().close().await.expect("close");
}
