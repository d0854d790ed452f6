//! Odd identifiers: schemas, mixed case, spaces, quotes, column names that the generated code
//! uses itself.

mod common;

use chrononaut::{ChangeContext, TrackOptions};
use serde_json::json;

#[tokio::test]
async fn schema_qualified_mixed_case_table_with_odd_columns() {
    let t = common::setup().await;
    t.exec(
        r#"CREATE SCHEMA inv;
           CREATE TABLE inv."Stock Items" (
               "Item ID" int PRIMARY KEY,
               "say ""hi""" text,
               n int, cn_n int, cn_o int, cn_v int, chrononaut_ctx text, chrononaut_ts int,
               key text, data text, "version_" int, t int, "found" boolean, pk_1 int,
               "Hidden Col" text, "untracked'col" int);"#,
    )
    .await;
    let tracked = t
        .track(
            r#"inv."Stock Items""#,
            &TrackOptions::new()
                .hidden(["Hidden Col"])
                .untracked(["untracked'col"]),
        )
        .await;
    assert_eq!(tracked.table, r#"inv."Stock Items""#);
    assert_eq!(tracked.history_name, r#"inv."Stock Items""#);
    assert_eq!(tracked.primary_key, vec!["Item ID"]);

    let ctx = ChangeContext::new().user("u").record_extra(
        r#"inv."Stock Items""#,
        json!({"Item ID": 1}),
        json!({"note": "first"}),
    );
    let mut tx = t.ch.begin(&t.pool, &ctx).await.unwrap();
    sqlx::raw_sql(
        r#"INSERT INTO inv."Stock Items" VALUES
               (1, 'q', 1, 2, 3, 4, 'ctx', 5, 'k', 'd', 6, 7, true, 8, 'h', 9);
           UPDATE inv."Stock Items" SET "untracked'col" = 10;
           UPDATE inv."Stock Items" SET "Hidden Col" = 'h2', key = 'k2';"#,
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    t.exec(r#"DELETE FROM inv."Stock Items""#).await;

    let data = |version: i64, key: &str| {
        json!({"Item ID": 1, "say \"hi\"": "q", "n": 1, "cn_n": 2, "cn_o": 3, "cn_v": 4,
               "chrononaut_ctx": "ctx", "chrononaut_ts": 5, "key": key, "data": "d",
               "version_": 6, "t": 7, "found": true, "pk_1": 8, "version": version})
    };
    let u = json!({"user_id": "u", "remote_addr": null});
    let none = json!({"user_id": null, "remote_addr": null});
    assert_eq!(
        t.history(r#"inv."Stock Items""#).await,
        vec![
            json!({"version": 0, "key": {"Item ID": 1}, "operation": "insert", "data": data(0, "k"),
                   "user_info": u, "extra_info": {"note": "first", "hidden_cols_changed": ["Hidden Col"]}}),
            json!({"version": 1, "key": {"Item ID": 1}, "operation": "update", "data": data(1, "k2"),
                   "user_info": u, "extra_info": {"note": "first", "hidden_cols_changed": ["Hidden Col"]}}),
            json!({"version": 2, "key": {"Item ID": 1}, "operation": "delete", "data": data(2, "k2"),
                   "user_info": none, "extra_info": {}}),
        ]
    );
}

#[tokio::test]
async fn quoted_and_exact_case_names_and_history_table_names() {
    let t = common::setup().await;
    t.exec(
        r#"CREATE TABLE "Mixed" (id int PRIMARY KEY, v int);
           CREATE TABLE "CamelOnly" (id int PRIMARY KEY, v int);
           CREATE TABLE plain (id int PRIMARY KEY, v int);
           CREATE SCHEMA "Odd Schema";
           CREATE TABLE "Odd Schema".plain (id int PRIMARY KEY, v int);"#,
    )
    .await;
    let quoted = t.track(r#""Mixed""#, &TrackOptions::new()).await;
    assert_eq!(quoted.history_name, "Mixed");
    assert_eq!(quoted.table, r#"public."Mixed""#);
    // unquoted, matches only with its exact case
    let exact = t.track("CamelOnly", &TrackOptions::new()).await;
    assert_eq!(exact.history_name, "CamelOnly");
    // schema-qualified spellings of a public table
    let plain = t.track("public.plain", &TrackOptions::new()).await;
    assert_eq!(plain.history_name, "plain");
    assert_eq!(plain.table, "public.plain");
    let other = t.track(r#""Odd Schema".plain"#, &TrackOptions::new()).await;
    assert_eq!(other.history_name, r#""Odd Schema".plain"#);
    t.exec(
        r#"INSERT INTO "Mixed" VALUES (1, 1); INSERT INTO "CamelOnly" VALUES (1, 1);
           INSERT INTO plain VALUES (1, 1); INSERT INTO "Odd Schema".plain VALUES (1, 1);"#,
    )
    .await;
    assert_eq!(
        t.json("SELECT jsonb_agg(table_name ORDER BY table_name) FROM chrononaut_activity")
            .await,
        json!(["\"Odd Schema\".plain", "CamelOnly", "Mixed", "plain"])
    );
    // lowercase wins when both exist, as in SQL
    t.exec("CREATE TABLE mixed (id int PRIMARY KEY)").await;
    let lower = t.track("Mixed", &TrackOptions::new()).await;
    assert_eq!(lower.history_name, "mixed");
}

#[tokio::test]
async fn a_table_named_like_the_aliases_with_many_columns() {
    let t = common::setup().await;
    // more than 50 columns (jsonb_build_object takes at most 100 arguments), a json column
    // (no equality operator) and an array of a composite type
    let mut cols: Vec<String> = (1..=60).map(|i| format!("c{i} int")).collect();
    cols.push("j json".into());
    cols.push("pt point".into());
    t.exec(&format!(
        "CREATE TABLE cn_n (id int PRIMARY KEY, {})",
        cols.join(", ")
    ))
    .await;
    t.track("cn_n", &TrackOptions::new().hidden(["c60", "j"]))
        .await;
    t.exec("INSERT INTO cn_n (id, c1, j, pt) VALUES (1, 1, '{\"a\": 1}', '(1,2)')")
        .await;
    t.exec("UPDATE cn_n SET j = '{\"a\": 1}'").await; // same text: no version
    t.exec("UPDATE cn_n SET j = '{\"a\":  2}'").await;
    t.exec("UPDATE cn_n SET pt = '(1,2)'").await; // same: no version
    t.exec("UPDATE cn_n SET pt = '(3,4)', c59 = 5").await;
    let h = t
        .json(
            "SELECT jsonb_agg(jsonb_build_array(version, extra_info, data->'c59', data->'pt', data ? 'j') ORDER BY version) \
             FROM chrononaut_activity",
        )
        .await;
    assert_eq!(
        h,
        json!([
            [0, {"hidden_cols_changed": ["j"]}, null, "(1,2)", false],
            [1, {"hidden_cols_changed": ["j"]}, null, "(1,2)", false],
            [2, {}, 5, "(3,4)", false],
        ])
    );
}
