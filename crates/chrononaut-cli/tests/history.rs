//! `log`, `show`, `diff`, `at`, `restore` of the `chrononaut` binary: exact text (plain, as
//! piped) and JSON.

mod common;
use common::*;

use chrononaut_testdb::TestDb;
use serde_json::{Value, json};

/// A tracked table whose history has fixed times (written by hand, as a Python writer or an
/// import would), so that the output can be compared as text.
async fn fixture(db: &TestDb) {
    ok(&db.url, &["init"]);
    sql(
        db,
        "CREATE TABLE account (id int PRIMARY KEY, owner text, balance int, secret text);",
    )
    .await;
    ok(&db.url, &["track", "account", "--hidden", "secret"]);
    sql(
        db,
        r#"INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info, operation) VALUES
        ('account', '2024-05-01 09:00:00+00', 0, '{"id": 1}', '{"id": 1, "owner": "Doc", "balance": 100, "version": 0}',
         '{"user_id": "alice", "remote_addr": "192.0.2.1"}', '{"rationale": "opened", "hidden_cols_changed": ["secret"]}', 'insert'),
        ('account', '2024-05-02 10:30:00+00', 1, '{"id": 1}', '{"id": 1, "owner": "Doc", "balance": 250, "version": 1}',
         '{"user_id": "bob", "remote_addr": null, "db_user": "app"}', '{"rationale": "deposit"}', 'update'),
        ('account', '2024-05-03 11:00:00.5+00', 2, '{"id": 1}', '{"id": 1, "owner": "Emmett", "balance": 250, "version": 2}',
         '{"user_id": null, "remote_addr": null}', '{"hidden_cols_changed": ["secret"]}', NULL),
        ('account', '2024-05-02 12:00:00+00', 0, '{"id": 2}', '{"id": 2, "owner": "Marty", "balance": 5, "version": 0}',
         '{"user_id": "alice", "remote_addr": null}', '{}', 'insert'),
        ('account', '2024-05-04 08:00:00+00', 1, '{"id": 2}', '{"id": 2, "owner": "Marty", "balance": 5, "version": 1}',
         '{"user_id": "alice", "remote_addr": null}', '{"rationale": "closed"}', 'delete')"#,
    )
    .await;
}

#[tokio::test]
async fn log_show_diff_text() {
    let db = TestDb::new().await.expect("db");
    fixture(&db).await;
    let url = db.url.as_str();

    assert_eq!(
        ok(url, &["log", "account", "id=1"]),
        "\
VERSION  TIME (UTC)                  OPERATION  USER   ROLE  ADDRESS    RATIONALE  CHANGED
0        2024-05-01 09:00:00.000000  insert     alice  -     192.0.2.1  opened     balance, id, owner, secret (hidden)
1        2024-05-02 10:30:00.000000  update     bob    app   -          deposit    balance
2        2024-05-03 11:00:00.500000  -          -      -     -          -          owner, secret (hidden)
"
    );
    // --limit keeps the latest; the oldest shown still knows what it changed
    assert_eq!(
        ok(url, &["log", "account", "{\"id\": 1}", "--limit", "1"]),
        "\
VERSION  TIME (UTC)                  OPERATION  USER  ROLE  ADDRESS  RATIONALE  CHANGED
2        2024-05-03 11:00:00.500000  -          -     -     -        -          owner, secret (hidden)
"
    );
    assert_eq!(
        ok(url, &["log", "account"]),
        "\
TIME (UTC)                  KEY   VERSION  OPERATION  USER   ROLE  ADDRESS    RATIONALE
2024-05-04 08:00:00.000000  id=2  1        delete     alice  -     -          closed
2024-05-03 11:00:00.500000  id=1  2        -          -      -     -          -
2024-05-02 12:00:00.000000  id=2  0        insert     alice  -     -          -
2024-05-02 10:30:00.000000  id=1  1        update     bob    app   -          deposit
2024-05-01 09:00:00.000000  id=1  0        insert     alice  -     192.0.2.1  opened
"
    );

    assert_eq!(
        ok(url, &["show", "account", "id=1", "--version", "1"]),
        "\
public.account id=1 version 1 (update) at 2024-05-02 10:30:00.000000 UTC
user: bob  role: app  address: -
rationale: deposit
  balance  250
  id       1
  owner    Doc
  version  1
  secret   (hidden)
"
    );
    assert_eq!(
        ok(url, &["show", "account", "id=2", "--at", "2024-05-05"]),
        "\
public.account id=2 version 1 (delete) at 2024-05-04 08:00:00.000000 UTC
deleted; its last state:
user: alice  role: -  address: -
rationale: closed
  balance  5
  id       2
  owner    Marty
  version  1
  secret   (hidden)
"
    );
    let at = ok(
        url,
        &["show", "account", "id=1", "--at", "2024-05-02 11:00"],
    );
    assert!(at.starts_with("public.account id=1 version 1 "), "{at}");
    fails(
        url,
        &["show", "account", "id=1", "--at", "2024-04-30T00:00:00Z"],
    );

    // default: the version before the latest -> the latest
    assert_eq!(
        ok(url, &["diff", "account", "id=1"]),
        "\
public.account id=1: version 1 (2024-05-02 10:30:00.000000) -> version 2 (2024-05-03 11:00:00.500000)
  owner: Doc -> Emmett
"
    );
    assert_eq!(
        ok(url, &["diff", "account", "id=1", "0", "--include-hidden"]),
        "\
public.account id=1: version 0 (2024-05-01 09:00:00.000000) -> version 2 (2024-05-03 11:00:00.500000)
  balance: 100 -> 250
  owner: Doc -> Emmett
  secret: changed (value hidden)
"
    );
    assert_eq!(
        ok(
            url,
            &[
                "diff",
                "account",
                "id=1",
                "2024-04-01",
                "2024-05-01T09:00:00Z"
            ]
        ),
        "\
public.account id=1: (nothing) -> version 0 (2024-05-01 09:00:00.000000)
  balance: null -> 100
  id: null -> 1
  owner: null -> Doc
"
    );
    assert_eq!(
        ok(url, &["diff", "account", "id=1", "1", "1"]),
        "\
public.account id=1: version 1 (2024-05-02 10:30:00.000000) -> version 1 (2024-05-02 10:30:00.000000)
  no changes
"
    );
    let e = fails(url, &["diff", "account", "id=1", "2", "0"]);
    assert!(e.contains("chronological"), "{e}");
    let e = fails(url, &["diff", "account", "id=1", "7"]);
    assert!(e.contains("has no version 7"), "{e}");
    let e = fails(url, &["log", "account", "nope=1"]);
    assert!(e.contains("not a primary-key column"), "{e}");
    let e = fails(url, &["log", "account", "id"]);
    assert!(e.contains("column=value"), "{e}");
    let out = chrononaut(url, &["show", "account", "id=1", "--at", "yesterday"]);
    assert!(!out.status.success());
}

#[tokio::test]
async fn log_show_diff_json() {
    let db = TestDb::new().await.expect("db");
    fixture(&db).await;
    let url = db.url.as_str();

    let log = ok_json(url, &["log", "account", "id=1"]);
    assert_eq!(log.as_array().map(Vec::len), Some(3));
    assert_eq!(
        log[0],
        json!({"version": 0, "changed": "2024-05-01T09:00:00Z", "operation": "insert",
               "user_id": "alice", "db_user": null, "remote_addr": "192.0.2.1", "rationale": "opened",
               "changed_columns": ["balance", "id", "owner"], "hidden_changed": ["secret"],
               "extra_info": {"rationale": "opened", "hidden_cols_changed": ["secret"]}})
    );
    assert_eq!(log[2]["operation"], Value::Null);
    let table_log = ok_json(url, &["log", "account", "--limit", "2"]);
    assert_eq!(table_log[0]["key"], json!({"id": 2}));
    assert_eq!(table_log[0]["operation"], "delete");
    assert_eq!(table_log.as_array().map(Vec::len), Some(2));

    let show = ok_json(url, &["show", "account", "id=1"]);
    assert_eq!(
        show,
        json!({"id": show["id"], "table": "account", "key": {"id": 1}, "version": 2,
               "changed": "2024-05-03T11:00:00.500Z", "operation": null,
               "user_info": {"user_id": null, "remote_addr": null},
               "extra_info": {"hidden_cols_changed": ["secret"]},
               "data": {"id": 1, "owner": "Emmett", "balance": 250, "version": 2}})
    );
    let diff = ok_json(
        url,
        &["diff", "account", "id=1", "0", "2", "--include-hidden"],
    );
    assert_eq!(
        diff,
        json!({"table": "public.account", "key": {"id": 1},
               "from": {"version": 0, "changed": "2024-05-01T09:00:00Z", "deleted": false},
               "to": {"version": 2, "changed": "2024-05-03T11:00:00.500Z", "deleted": false},
               "changes": {"balance": {"kind": "value", "from": 100, "to": 250},
                           "owner": {"kind": "value", "from": "Doc", "to": "Emmett"},
                           "secret": {"kind": "hidden"}}})
    );
}

/// History recorded live by the triggers, read back through the CLI.
#[tokio::test]
async fn live_history_with_context() {
    let db = TestDb::new().await.expect("db");
    let url = db.url.as_str();
    ok(url, &["init"]);
    sql(&db, "CREATE SCHEMA shop; CREATE TABLE shop.line (org text, num int, qty int, PRIMARY KEY (org, num))").await;
    ok(url, &["track", "shop.line"]);
    sql(
        &db,
        "INSERT INTO shop.line VALUES ('acme', 7, 1); \
         BEGIN; SELECT set_config('chrononaut.user_id', 'carol', true), \
                       set_config('chrononaut.extra', '{\"rationale\": \"more\"}', true); \
         UPDATE shop.line SET qty = 3 WHERE org = 'acme'; COMMIT;",
    )
    .await;
    let log = ok_json(url, &["log", "shop.line", "org=acme,num=7"]);
    assert_eq!(log.as_array().map(Vec::len), Some(2));
    assert_eq!(log[1]["user_id"], "carol");
    assert_eq!(log[1]["rationale"], "more");
    assert_eq!(log[1]["changed_columns"], json!(["qty"]));
    let text = ok(
        url,
        &["diff", "shop.line", "{\"org\": \"acme\", \"num\": 7}"],
    );
    assert!(text.ends_with("  qty: 1 -> 3\n"), "{text}");
    assert!(
        text.starts_with("shop.line num=7,org=acme: version 0 ("),
        "{text}"
    );
}

#[tokio::test]
async fn at_formats_and_track_baseline() {
    let db = TestDb::new().await.expect("db");
    let url = db.url.as_str();
    ok(url, &["init"]);
    sql(
        &db,
        "CREATE TABLE item (id int PRIMARY KEY, name text, qty int, secret text); \
         INSERT INTO item VALUES (1, 'bolt, M8', 10, 's'), (2, 'say \"hi\"', NULL, 's'); \
         CREATE TABLE raw (id int PRIMARY KEY); INSERT INTO raw VALUES (1)",
    )
    .await;
    let out = ok(url, &["track", "item", "--hidden", "secret"]);
    assert!(
        out.ends_with("  baseline:       2 existing rows recorded as version 0\n"),
        "{out}"
    );
    let tracked = ok_json(url, &["track", "raw", "--no-baseline"]);
    assert!(tracked.get("baseline_rows").is_none(), "{tracked}");
    sql(
        &db,
        "INSERT INTO item VALUES (3, 'cog', 3, 's'); UPDATE item SET qty = 11 WHERE id = 1",
    )
    .await;

    let now = ok(url, &["at", "item", "--at", "2999-01-01"]);
    assert_eq!(
        now,
        "\
id  name      qty   version
1   bolt, M8  11    1
2   say \"hi\"  null  0
3   cog       3     0
"
    );
    assert_eq!(
        ok(
            url,
            &["at", "item", "--at", "2999-01-01", "--format", "csv"]
        ),
        "id,name,qty,version\n1,\"bolt, M8\",11,1\n2,\"say \"\"hi\"\"\",,0\n3,cog,3,0\n"
    );
    let lines: Vec<Value> = ok(url, &["at", "item", "--at", "2999-01-01", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(
        lines,
        [
            json!({"id": 1, "name": "bolt, M8", "qty": 11, "version": 1}),
            json!({"id": 2, "name": "say \"hi\"", "qty": null, "version": 0}),
            json!({"id": 3, "name": "cog", "qty": 3, "version": 0}),
        ]
    );
    assert_eq!(
        ok(url, &["at", "item", "--at", "2000-01-01"]),
        "id  name  qty  version\n(no rows at 2000-01-01 00:00:00.000000)\n"
    );
    // columns line up by terminal width: a wide character takes two columns
    sql(
        &db,
        "CREATE TABLE wide (id int PRIMARY KEY, name text); \
         INSERT INTO wide VALUES (1, '日本語'), (2, 'ab')",
    )
    .await;
    ok(url, &["track", "wide"]);
    assert_eq!(
        ok(url, &["at", "wide", "--at", "2999-01-01"]),
        "id  name    version\n1   日本語  0\n2   ab      0\n"
    );
    // numbers as PostgreSQL stored them, in every format (not through an f64)
    sql(
        &db,
        "CREATE TABLE price (id int PRIMARY KEY, amount numeric(12,2), exact numeric); \
         INSERT INTO price VALUES (1, 350, 0.1000000000000000001)",
    )
    .await;
    ok(url, &["track", "price", "--no-baseline"]);
    sql(&db, "UPDATE price SET amount = 20.5 WHERE id = 1").await;
    assert_eq!(
        ok(url, &["at", "price", "--at", "2999-01-01"]),
        "id  amount  exact                  version\n1   20.50   0.1000000000000000001  1\n"
    );
    assert_eq!(
        ok(
            url,
            &["at", "price", "--at", "2999-01-01", "--format", "csv"]
        ),
        "id,amount,exact,version\n1,20.50,0.1000000000000000001,1\n"
    );
    assert_eq!(
        ok(url, &["at", "price", "--at", "2999-01-01", "--json"]),
        "{\"amount\":20.50,\"exact\":0.1000000000000000001,\"id\":1,\"version\":1}\n"
    );
    let log = ok_json(url, &["log", "item", "id=1"]);
    assert_eq!(log[0]["extra_info"], json!({"baseline": true}));
    assert_eq!(log[0]["operation"], "insert");
    let e = fails(url, &["at", "nope", "--at", "2000-01-01"]);
    assert!(e.contains("unknown table"), "{e}");
}

/// `at` prints records in their keys' order (numbers by value), whatever the history index's
/// order: one integer field (sorted by the integer), a composite key (field by field), text keys.
#[tokio::test]
async fn at_sorts_keys_as_people_read_them() {
    let db = TestDb::new().await.expect("db");
    let url = db.url.as_str();
    ok(url, &["init"]);
    sql(
        &db,
        "CREATE TABLE n (id bigint PRIMARY KEY); \
         INSERT INTO n SELECT unnest(ARRAY[10, 9, 100, -3, 2, 9007199254740993, 0]); \
         CREATE TABLE pair (a int, b text, PRIMARY KEY (a, b)); \
         INSERT INTO pair VALUES (10, 'x'), (9, 'z'), (9, 'a'), (-1, 'q'); \
         CREATE TABLE word (w text PRIMARY KEY); INSERT INTO word VALUES ('b'), ('B'), ('a'), ('ab')",
    )
    .await;
    for t in ["n", "pair", "word"] {
        ok(url, &["track", t]);
    }
    let csv = |t: &str| ok(url, &["at", t, "--at", "2999-01-01", "--format", "csv"]);
    assert_eq!(
        csv("n"),
        "id,version\n-3,0\n0,0\n2,0\n9,0\n10,0\n100,0\n9007199254740993,0\n"
    );
    assert_eq!(csv("pair"), "a,b,version\n-1,q,0\n9,a,0\n9,z,0\n10,x,0\n");
    assert_eq!(csv("word"), "w,version\nB,0\na,0\nab,0\nb,0\n");
    // a key of another shape among the integers (history written by hand or by the Python
    // library): strings after numbers, the integers still by value
    sql(
        &db,
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info) \
         VALUES ('n', now(), 0, '{\"id\": \"x\"}', '{\"id\": \"x\", \"version\": 0}', '{}', '{}')",
    )
    .await;
    assert_eq!(
        csv("n"),
        "id,version\n-3,0\n0,0\n2,0\n9,0\n10,0\n100,0\n9007199254740993,0\nx,0\n"
    );
}

#[tokio::test]
async fn restore_text_and_json() {
    let db = TestDb::new().await.expect("db");
    let url = db.url.as_str();
    ok(url, &["init"]);
    sql(&db, "CREATE TABLE item (id int PRIMARY KEY, name text)").await;
    ok(url, &["track", "item"]);
    sql(
        &db,
        "INSERT INTO item VALUES (1, 'a'); UPDATE item SET name = 'b'; DELETE FROM item",
    )
    .await;
    assert_eq!(
        ok(
            url,
            &[
                "restore",
                "item",
                "id=1",
                "--version",
                "1",
                "--rationale",
                "oops",
                "--user",
                "carol"
            ]
        ),
        "re-inserted public.item id=1 to version 1 as version 3\n"
    );
    assert_eq!(
        ok(
            url,
            &[
                "restore",
                "item",
                "id=1",
                "--at",
                "2999-01-01",
                "--rationale",
                "again"
            ]
        ),
        "public.item id=1 already has the state of version 3; nothing written\n"
    );
    let report = ok_json(
        url,
        &[
            "restore",
            "item",
            "id=1",
            "--version",
            "0",
            "--rationale",
            "back to a",
        ],
    );
    assert_eq!(report["restored_from"], 0);
    assert_eq!(report["reinserted"], false);
    assert_eq!(report["new_version"]["version"], 4);
    assert_eq!(
        report["new_version"]["data"],
        json!({"id": 1, "name": "a", "version": 4})
    );
    assert_eq!(
        report["new_version"]["extra_info"]["rationale"],
        "back to a"
    );
    let log = ok_json(url, &["log", "item", "id=1"]);
    assert_eq!(log[3]["user_id"], "carol");
    assert_eq!(log[3]["rationale"], "oops");
    let e = fails(
        url,
        &[
            "restore",
            "item",
            "id=1",
            "--version",
            "9",
            "--rationale",
            "x",
        ],
    );
    assert!(e.contains("has no version 9"), "{e}");
    let out = chrononaut(url, &["restore", "item", "id=1", "--rationale", "x"]);
    assert!(!out.status.success());
}

/// `show` and `diff` print numbers as PostgreSQL stored them (`350.00`, not `350.0`), in text
/// and in JSON, and `diff` sees digits an f64 would drop.
#[tokio::test]
async fn show_and_diff_print_numbers_as_stored() {
    let db = TestDb::new().await.expect("db");
    let url = db.url.as_str();
    ok(url, &["init"]);
    sql(
        &db,
        "CREATE TABLE price (id int PRIMARY KEY, amount numeric(12,2), exact numeric, doc jsonb)",
    )
    .await;
    ok(url, &["track", "price"]);
    sql(
        &db,
        "INSERT INTO price VALUES (1, 20.5, 0.1000000000000000001, '{\"rate\": 1.50}'); \
         UPDATE price SET amount = 350, exact = 0.1000000000000000002, doc = '{\"rate\": 2.50}'",
    )
    .await;
    let show = ok(url, &["show", "price", "id=1"]);
    assert!(
        show.ends_with(
            "\
  amount   350.00
  doc      {\"rate\": 2.50}
  exact    0.1000000000000000002
  id       1
  version  1
"
        ),
        "{show}"
    );
    let diff = ok(url, &["diff", "price", "id=1"]);
    assert!(
        diff.ends_with(
            "\
  amount: 20.50 -> 350.00
  doc: {\"rate\": 1.50} -> {\"rate\": 2.50}
  exact: 0.1000000000000000001 -> 0.1000000000000000002
"
        ),
        "{diff}"
    );
    // JSON: the numbers' text as stored (compared as text: parsed, they would be f64s again)
    let json_text = |args: &[&str]| {
        let mut all = args.to_vec();
        all.push("--json");
        ok(url, &all)
    };
    let show = json_text(&["show", "price", "id=1"]);
    assert!(show.contains("\"amount\": 350.00"), "{show}");
    assert!(show.contains("\"exact\": 0.1000000000000000002"), "{show}");
    let diff = json_text(&["diff", "price", "id=1"]);
    for part in [
        "\"from\": 20.50",
        "\"to\": 350.00",
        "\"from\": 0.1000000000000000001",
        "\"table\": \"public.price\"",
    ] {
        assert!(diff.contains(part), "{part}: {diff}");
    }
}

/// Colours are decided once, the way clap decides its own (anstream): never on a pipe unless
/// `CLICOLOR_FORCE` asks for them, never with `NO_COLOR`, and the text under them is the same.
#[tokio::test]
async fn colours_follow_no_color_and_clicolor_force() {
    let db = TestDb::new().await.expect("db");
    fixture(&db).await;
    let run = |envs: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_chrononaut"));
        cmd.args(["log", "account", "id=1"])
            .env("DATABASE_URL", &db.url)
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("CLICOLOR");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run chrononaut");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let piped = run(&[]);
    assert!(
        !piped.contains('\u{1b}'),
        "a pipe gets no colours: {piped:?}"
    );
    let forced = run(&[("CLICOLOR_FORCE", "1")]);
    assert!(
        forced.contains("\u{1b}[32minsert\u{1b}[0m") && forced.contains("\u{1b}[1mVERSION"),
        "CLICOLOR_FORCE colours the table: {forced:?}"
    );
    let no_color = run(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert_eq!(no_color, piped, "NO_COLOR wins over CLICOLOR_FORCE");
    // Under the escape codes the text is the piped text (widths ignore the codes).
    let mut plain = String::new();
    let mut in_escape = false;
    for c in forced.chars() {
        match c {
            '\u{1b}' => in_escape = true,
            'm' if in_escape => in_escape = false,
            _ if in_escape => {}
            _ => plain.push(c),
        }
    }
    assert_eq!(plain, piped);
}
