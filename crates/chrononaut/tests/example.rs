//! Builds-and-runs check of the README's quick start (`examples/quickstart.rs`).

use std::process::Command;

#[tokio::test]
async fn quickstart_example_runs() {
    let db = chrononaut_testdb::TestDb::new()
        .await
        .expect("test database");
    // cargo test builds the examples next to the test binaries: target/<profile>/examples/
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory");
    let example = profile_dir.join("examples").join("quickstart");
    assert!(
        example.exists(),
        "{} not built; run the tests with `cargo test --workspace`",
        example.display()
    );
    let out = Command::new(&example)
        .env("DATABASE_URL", &db.url)
        .output()
        .expect("run quickstart");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "quickstart failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "two versions expected, got: {stdout}");
    assert!(
        lines[0].starts_with("v0 insert by \"alice@example.com\""),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("v1 update by \"alice@example.com\""),
        "{stdout}"
    );
    assert!(lines[1].contains("\"balance\":250"), "{stdout}");
    assert!(!stdout.contains("password_hash") || stdout.contains("hidden_cols_changed"));
    assert!(
        !stdout.contains("\"password_hash\":"),
        "hidden value leaked: {stdout}"
    );
    assert!(
        !stdout.contains("last_login"),
        "untracked column recorded: {stdout}"
    );
}
