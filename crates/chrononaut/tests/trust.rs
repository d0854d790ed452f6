//! Reproductions of issue 14 ("Trust"): what an attacker can do to the history today. Each
//! test encodes the behaviour a trustworthy audit trail must have; they fail on the code the
//! issue was filed against, for the reason their names give.
//!
//!   item 1  the fix-up flag: forged versions, a bypassed optimistic check, back-dated history
//!   item 3  code of another role running as a (superuser) writer through its search_path
//!   item 5  two tables sharing one history name
//!   item 6  strict mode satisfied by extra info that lands on no written record
//!   item 7  the login role of every version
//!   item 8  bounded context settings
//!
//! Item 4 (hostile identifiers) is in `tests/hostile_identifiers.rs`; item 2 and the lock
//! parts of item 8 belong to the visibility work.

mod common;

use chrono::{DateTime, TimeZone, Utc};
use chrononaut::{ChangeContext, Chrononaut, Error, TrackOptions};
use common::{Ctx, quote_ident};
use futures::TryStreamExt;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, PgPool};

// ---------------------------------------------------------------------------------------------
// helpers

/// A tracked table `acc` (`--record-changes` when asked), an application role with exactly
/// the rights the README prescribes (SELECT/INSERT/UPDATE/DELETE on its table, SELECT on the
/// activity table) plus the TEMP right every role has on a database by default, and its name.
async fn app_setup(record_changes: bool) -> (Ctx, String) {
    let t = common::setup().await;
    t.exec("CREATE TABLE acc (id int PRIMARY KEY, owner text, balance int)")
        .await;
    t.track("acc", &TrackOptions::new().record_changes(record_changes))
        .await;
    let app = t.create_role("app", "").await;
    let q = quote_ident(&app);
    t.exec(&format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON acc TO {q}; \
         GRANT SELECT ON chrononaut_activity TO {q};"
    ))
    .await;
    // nothing beyond TEMP: no CREATE on any schema, no chrononaut_admin
    let rights = t
        .json(&format!(
            "SELECT jsonb_build_array(has_database_privilege('{app}', current_database(), 'TEMP'), \
             has_schema_privilege('{app}', 'public', 'CREATE'), \
             pg_has_role('{app}', 'chrononaut_admin', 'MEMBER'))"
        ))
        .await;
    assert_eq!(rights, json!([true, false, false]), "the app role's rights");
    (t, app)
}

/// A connection as `role` that has set up the trigger trick of issue 14 item 1: a temporary
/// table whose AFTER INSERT trigger (a temporary function: TEMP rights suffice) executes the
/// inserted text, so that the statement runs at trigger depth 1.
async fn hop_connection(t: &Ctx, role: &str) -> PgConnection {
    let mut conn = PgConnection::connect_with(&t.options_as(role))
        .await
        .expect("connect as role");
    sqlx::raw_sql(
        "CREATE FUNCTION pg_temp.hop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN EXECUTE NEW.q; RETURN NULL; END$$;
         CREATE TEMP TABLE hop(q text);
         CREATE TRIGGER hop AFTER INSERT ON hop FOR EACH ROW EXECUTE FUNCTION pg_temp.hop();",
    )
    .execute(&mut conn)
    .await
    .expect("the trick's temporary objects");
    conn
}

/// Runs `statement` through the trick: nested in a trigger, in one transaction that raised
/// the fix-up flag for `table` (as the insert capture does while it corrects versions) when
/// `flag`.
async fn hop(
    conn: &mut PgConnection,
    table: &str,
    flag: bool,
    statement: &str,
) -> chrononaut::Result<()> {
    let mut tx = conn.begin().await?;
    if flag {
        sqlx::query("SELECT set_config('chrononaut.fixup', $1::regclass::oid::text, true)")
            .bind(table)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("INSERT INTO hop VALUES ($1)")
        .bind(statement)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The database's clock (the one `changed` is taken from).
async fn db_clock(pool: &PgPool) -> DateTime<Utc> {
    sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(pool)
        .await
        .expect("clock")
}

/// `user_info` without `db_user` (item 7 adds it; tests of other items compare the rest).
fn without_db_user(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.remove("db_user");
    }
    v
}

/// History rows in a fixed order (key, version, operation), so that rows of one statement that
/// share a time (a key change's update and delete) compare whatever order they were written in.
fn by_key(mut rows: Vec<Value>) -> Vec<Value> {
    rows.sort_by_key(|r| {
        (
            r["key"].to_string(),
            r["version"].as_i64(),
            r["operation"].to_string(),
        )
    });
    rows
}

async fn as_of_keys(t: &Ctx, table: &str, at: DateTime<Utc>) -> Vec<Value> {
    let mut conn = t.pool.acquire().await.expect("connection");
    let rows: Vec<chrononaut::AsOfRow> =
        t.ch.as_of(&mut conn, table, at)
            .await
            .expect("as_of")
            .rows()
            .try_collect()
            .await
            .expect("as_of rows");
    rows.into_iter().map(|r| r.key).collect()
}

async fn verify_ok(t: &Ctx) {
    let mut conn = t.pool.acquire().await.expect("connection");
    let report = t.ch.verify(&mut conn, None).await.expect("verify");
    assert!(report.is_ok(), "verify found: {:?}", report.issues);
}

// ---------------------------------------------------------------------------------------------
// item 1: the fix-up flag

/// An application role with only TEMP rights raises the fix-up flag and nests its UPDATE in a
/// trigger of a temporary table. The flag must not exempt it from anything: setting `version`
/// to anything but the current version is a stale version (CN005), and nothing changes — no
/// version rewritten, no second version 0, no history row at all. Today the row goes back to
/// version 0, the history gets a duplicate version, and verify finds nothing.
#[tokio::test]
async fn fixup_flag_raised_by_a_client_bypasses_nothing() {
    let (t, app) = app_setup(false).await;
    t.exec("INSERT INTO acc VALUES (1, 'ann', 10); UPDATE acc SET balance = 11 WHERE id = 1")
        .await;
    let before = t.activity_dump().await;
    let row =
        "SELECT jsonb_build_object('balance', balance, 'version', version) FROM acc WHERE id = 1";
    assert_eq!(t.json(row).await, json!({"balance": 11, "version": 1}));

    let mut conn = hop_connection(&t, &app).await;
    for forged in [
        // the issue's reproduction: new content, version back to 0
        "UPDATE public.acc SET balance = 999, version = 0 WHERE id = 1",
        // only the version, back to 0 (today: changed without any history row)
        "UPDATE public.acc SET version = 0 WHERE id = 1",
        // a version from the future, and none at all
        "UPDATE public.acc SET balance = 999, version = 7 WHERE id = 1",
        "UPDATE public.acc SET version = NULL WHERE id = 1",
    ] {
        let r = hop(&mut conn, "acc", true, forged).await;
        assert!(
            matches!(r, Err(Error::StaleVersion(_))),
            "{forged} through the fix-up flag: expected a stale version (CN005), got {r:?}"
        );
        assert_eq!(
            t.json(row).await,
            json!({"balance": 11, "version": 1}),
            "{forged}: the row changed"
        );
        assert_eq!(t.activity_dump().await, before, "{forged}: history changed");
    }
    // without the flag, through the same trigger, an honest update still works
    hop(
        &mut conn,
        "acc",
        false,
        "UPDATE public.acc SET balance = 12, version = 1 WHERE id = 1",
    )
    .await
    .expect("an optimistic update at the current version");
    assert_eq!(t.json(row).await, json!({"balance": 12, "version": 2}));
    t.assert_row_versions("acc", "acc", "jsonb_build_object('id', t.id)")
        .await;
    verify_ok(&t).await;
}

/// On a `--record-changes` table the fix-up flag also switches the change_info trigger off,
/// so a client-supplied `changed` becomes the history's time: the trick writes history dated
/// 2001 that as_of then shows. Whatever the trick does, every history row and the table's own
/// `changed` must carry the real time of the statement (or the statement be refused, leaving
/// nothing behind).
#[tokio::test]
async fn fixup_flag_cannot_back_date_record_changes_history() {
    let (t, app) = app_setup(true).await;
    t.exec("INSERT INTO acc (id, owner, balance) VALUES (1, 'ann', 10)")
        .await;
    let mut conn = hop_connection(&t, &app).await;
    let last_id = t
        .scalar_i64("SELECT max(id) FROM chrononaut_activity")
        .await;
    let before = t.activity_dump().await;
    let from = db_clock(&t.pool).await;
    let mut refused = Vec::new();
    for forged in [
        "INSERT INTO public.acc (id, owner, balance, changed) VALUES (2, 'eve', 5, '2001-01-01 00:00+00')",
        "UPDATE public.acc SET balance = 999, changed = '2001-01-01 00:00+00' WHERE id = 1",
    ] {
        match hop(&mut conn, "acc", true, forged).await {
            Ok(()) => {}
            // refusing the trick is fine too, with a typed error
            Err(e @ Error::Database(_)) => panic!("{forged}: untyped error {e:?}"),
            Err(e) => refused.push((forged, e)),
        }
    }
    let to = db_clock(&t.pool).await;
    let refused_insert = refused.iter().any(|(f, _)| f.starts_with("INSERT"));
    let refused_update = refused.iter().any(|(f, _)| f.starts_with("UPDATE"));
    if refused_insert && refused_update {
        assert_eq!(
            t.activity_dump().await,
            before,
            "refused, yet history changed"
        );
    }
    let in_window = |v: &Value| {
        let at: DateTime<Utc> = serde_json::from_value(v.clone()).expect("a time");
        at >= from && at <= to
    };
    let rows = t
        .json(&format!(
            "SELECT COALESCE(jsonb_agg(jsonb_build_object('key', key, 'version', version, \
             'changed', changed) ORDER BY id), '[]') FROM chrononaut_activity WHERE id > {last_id}"
        ))
        .await;
    for r in rows.as_array().into_iter().flatten() {
        assert!(
            in_window(&r["changed"]),
            "history row {r} is dated outside the statement's real time [{from}, {to}]"
        );
    }
    // the table's own `changed` of each row the trick wrote
    for (id, refused) in [(2, refused_insert), (1, refused_update)] {
        if refused {
            continue;
        }
        let changed = t
            .json(&format!(
                "SELECT to_jsonb(changed) FROM acc WHERE id = {id}"
            ))
            .await;
        assert!(
            in_window(&changed),
            "acc id {id}: `changed` {changed} is not the real time [{from}, {to}]"
        );
    }
    let y2001 = Utc.with_ymd_and_hms(2001, 6, 1, 0, 0, 0).unwrap();
    assert_eq!(
        as_of_keys(&t, "acc", y2001).await,
        Vec::<Value>::new(),
        "as_of in 2001 shows records"
    );
    verify_ok(&t).await;
}

/// An unhashed history row placed after chained rows of a record (a superuser can INSERT into
/// the activity table directly) is reported by verify, wherever in the record's history it
/// sits. (This already holds; kept as the guarantee's test.)
#[tokio::test]
async fn verify_reports_unhashed_rows_after_chained_ones() {
    let t = common::setup().await;
    t.exec("CREATE TABLE acc (id int PRIMARY KEY, balance int)")
        .await;
    t.track("acc", &TrackOptions::new()).await;
    t.exec(
        "INSERT INTO acc VALUES (1, 10), (2, 20); \
         UPDATE acc SET balance = balance + 1; UPDATE acc SET balance = balance + 1;",
    )
    .await;
    verify_ok(&t).await;
    // after the last chained row of id 1; between the chained rows of id 2 (a second version 1)
    t.exec(
        "INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info, operation)
         SELECT 'acc', clock_timestamp(), 3, '{\"id\": 1}', '{\"id\": 1, \"balance\": 0, \"version\": 3}',
                '{\"user_id\": null, \"remote_addr\": null}', '{}', 'update';
         INSERT INTO chrononaut_activity (table_name, changed, version, key, data, user_info, extra_info, operation)
         SELECT 'acc', a.changed + (b.changed - a.changed) / 2, 1, '{\"id\": 2}',
                '{\"id\": 2, \"balance\": 0, \"version\": 1}', '{\"user_id\": null, \"remote_addr\": null}', '{}', 'update'
         FROM chrononaut_activity a, chrononaut_activity b
         WHERE a.key = '{\"id\": 2}' AND a.version = 0 AND b.key = '{\"id\": 2}' AND b.version = 1;",
    )
    .await;
    let mut conn = t.pool.acquire().await.expect("connection");
    let report = t.ch.verify(&mut conn, Some("acc")).await.expect("verify");
    let found: Vec<(Value, Option<i32>, chrononaut::IssueKind)> = report
        .issues
        .iter()
        .filter(|i| i.kind == chrononaut::IssueKind::HashRemoved)
        .map(|i| (i.key.clone().unwrap_or_default(), i.version, i.kind))
        .collect();
    assert_eq!(
        found,
        vec![
            (
                json!({"id": 1}),
                Some(3),
                chrononaut::IssueKind::HashRemoved
            ),
            (
                json!({"id": 2}),
                Some(1),
                chrononaut::IssueKind::HashRemoved
            ),
        ],
        "{:?}",
        report.issues
    );
}

// ---------------------------------------------------------------------------------------------
// item 3: another role's code running as the writer

/// A role `mallory` with CREATE on a schema `shared` that the writers' search_path lists,
/// the log its look-alikes write (`shadow_log`, and the sequence `shadow_calls`, which a
/// rolled-back statement cannot hide), a domain `email` over text, and the tables:
///   people (email email PRIMARY KEY, name text, alt email)   tracked
///   notes  (id int PRIMARY KEY, body text)                   tracked --record-changes
async fn shadow_setup() -> (Ctx, String) {
    let t = common::setup().await;
    let mallory = t.create_role("mallory", "").await;
    let m = quote_ident(&mallory);
    t.exec(&format!(
        "CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%');
         CREATE TABLE people (email email PRIMARY KEY, name text, alt email);
         CREATE TABLE notes (id int PRIMARY KEY, body text);
         CREATE TABLE shadow_log (what text);
         CREATE SEQUENCE shadow_calls;
         GRANT INSERT ON shadow_log TO PUBLIC;
         GRANT USAGE ON SEQUENCE shadow_calls TO PUBLIC;
         CREATE SCHEMA shared;
         GRANT USAGE, CREATE ON SCHEMA shared TO {m};"
    ))
    .await;
    t.track("people", &TrackOptions::new()).await;
    t.track("notes", &TrackOptions::new().record_changes(true))
        .await;
    (t, mallory)
}

/// Runs `sql` as `role` (its own connection).
async fn exec_as(t: &Ctx, role: &str, sql: &str) {
    let mut conn = PgConnection::connect_with(&t.options_as(role))
        .await
        .expect("connect as role");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Creates, as `role`, look-alike functions in schema `shared` — (name and argument types,
/// return type, answer) — each of which notes that it ran (in `shadow_log`, and in the
/// sequence `shadow_calls`, which a rolled-back statement cannot hide), then `extra` SQL.
async fn create_look_alikes(t: &Ctx, role: &str, functions: &[(&str, &str, &str)], extra: &str) {
    let mut sql = String::new();
    for (signature, returns, answer) in functions {
        sql.push_str(&format!(
            "CREATE FUNCTION shared.{signature} RETURNS {returns} LANGUAGE plpgsql AS \
             $$BEGIN PERFORM pg_catalog.nextval('public.shadow_calls'); \
             INSERT INTO public.shadow_log VALUES ('{signature}'); RETURN {answer}; END$$;\n"
        ));
    }
    sql.push_str(extra);
    exec_as(t, role, &sql).await;
}

/// Fails naming the look-alikes that ran (from their log; any at all from their sequence,
/// which a rolled-back statement cannot hide).
async fn assert_no_look_alike_ran(t: &Ctx) {
    let names: Vec<String> = sqlx::query_scalar("SELECT DISTINCT what FROM shadow_log ORDER BY 1")
        .fetch_all(&t.pool)
        .await
        .expect("shadow log");
    let called: bool = sqlx::query_scalar("SELECT is_called FROM shadow_calls")
        .fetch_one(&t.pool)
        .await
        .expect("shadow calls");
    assert!(
        names.is_empty() && !called,
        "look-alikes ran inside chrononaut's functions as the superuser writer: {names:?} (any: {called})"
    );
}

/// A superuser whose search_path lists a schema another role may create objects in writes
/// tracked tables. That role's look-alikes win over pg_catalog's by type alone: `=(email,
/// email)` for a domain used by a tracked table (exact match beats text = text), and
/// `jsonb_build_object` with concrete argument types (beats VARIADIC "any"). None of them may
/// run inside chrononaut's functions; versions must be right (the look-alike `=` claims that
/// nothing ever changes), a key change must end the old key's record with a delete version
/// (no ghost in as_of), and change_info must be built by the real jsonb_build_object.
/// The writer's own statements compare no `email` values, so only chrononaut's code could
/// call the look-alikes.
#[tokio::test]
async fn look_alikes_on_the_writers_search_path_never_run() {
    let (t, mallory) = shadow_setup().await;
    let forged = "'{\"forged\": true}'";
    create_look_alikes(
        &t,
        &mallory,
        &[
            ("same_email(email, email)", "boolean", "true"),
            ("jsonb_build_object(text, text, text, text)", "jsonb", forged),
            ("jsonb_build_object(text, jsonb)", "jsonb", forged),
            ("jsonb_build_object(text, text)", "jsonb", forged),
            ("jsonb_build_object(text, integer)", "jsonb", forged),
            ("to_jsonb(text)", "jsonb", forged),
        ],
        "CREATE OPERATOR shared.= (LEFTARG = email, RIGHTARG = email, FUNCTION = shared.same_email);",
    )
    .await;

    let mut writer = t.plain_connection().await;
    let superuser: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut writer)
            .await
            .expect("superuser?");
    assert!(superuser, "the writer is a superuser");
    sqlx::raw_sql(
        "SET search_path = shared, public;
         INSERT INTO people VALUES ('a@x', 'ann', 'a2@x');
         UPDATE people SET alt = 'b2@x' WHERE name = 'ann';
         UPDATE people SET email = 'c@x' WHERE name = 'ann';
         BEGIN;
         SELECT set_config('chrononaut.extra', '{\"rationale\": \"r\"}', true);
         INSERT INTO notes (id, body) VALUES (1, 'x');
         UPDATE notes SET body = 'y' WHERE id = 1;
         COMMIT;",
    )
    .execute(&mut writer)
    .await
    .expect("the writer's statements");
    // stale versions: the error path builds the key too
    let mut stale = Vec::new();
    for statement in [
        "UPDATE people SET alt = 'z@x', version = 99 WHERE name = 'ann'",
        "UPDATE notes SET body = 'z', version = 99 WHERE id = 1",
    ] {
        let r = sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut writer)
            .await
            .map_err(Error::from);
        stale.push((statement, r));
    }

    assert_no_look_alike_ran(&t).await;
    for (statement, r) in stale {
        match r {
            Err(Error::StaleVersion(m)) => assert!(!m.contains("forged"), "{statement}: {m}"),
            other => panic!("{statement}: expected a stale version, got {other:?}"),
        }
    }
    // versions right, the old key ended, no ghost
    let history: Vec<Value> = by_key(t.history("people").await)
        .into_iter()
        .map(|mut h| {
            h["user_info"] = without_db_user(h["user_info"].take());
            h
        })
        .collect();
    let none = json!({"user_id": null, "remote_addr": null});
    let data = |email: &str, alt: &str, v: i32| json!({"email": email, "name": "ann", "alt": alt, "version": v});
    assert_eq!(
        history,
        by_key(vec![
            json!({"version": 0, "key": {"email": "a@x"}, "operation": "insert", "data": data("a@x", "a2@x", 0), "user_info": none, "extra_info": {}}),
            json!({"version": 1, "key": {"email": "a@x"}, "operation": "update", "data": data("a@x", "b2@x", 1), "user_info": none, "extra_info": {}}),
            json!({"version": 2, "key": {"email": "c@x"}, "operation": "update", "data": data("c@x", "b2@x", 2), "user_info": none, "extra_info": {}}),
            json!({"version": 2, "key": {"email": "a@x"}, "operation": "delete", "data": data("a@x", "b2@x", 2), "user_info": none, "extra_info": {}}),
        ])
    );
    assert_eq!(
        as_of_keys(&t, "people", db_clock(&t.pool).await).await,
        vec![json!({"email": "c@x"})],
        "as_of shows a ghost of the old key"
    );
    assert_eq!(t.scalar_i64("SELECT version::int8 FROM people").await, 2);
    let change_info = t.json("SELECT change_info FROM notes WHERE id = 1").await;
    assert_eq!(
        without_db_user(change_info),
        json!({"user_id": null, "remote_addr": null, "extra": {"rationale": "r"}})
    );
    verify_ok(&t).await;
}

/// The same with a search_path that lists pg_catalog after the other role's schema (as the
/// README's own attacker does for itself): look-alikes with pg_catalog's exact signatures —
/// the clock, current_setting, pg_trigger_depth, jsonb_typeof — then win everywhere a name is
/// not qualified. Functions chrononaut creates pin their search_path or qualify every call, so
/// none may run, and the history (and the record-changes columns) keep the real time.
#[tokio::test]
async fn look_alikes_before_pg_catalog_never_run() {
    let (t, mallory) = shadow_setup().await;
    let y2001 = "'2001-01-01 00:00+00'";
    create_look_alikes(
        &t,
        &mallory,
        &[
            ("clock_timestamp()", "timestamptz", y2001),
            ("now()", "timestamptz", y2001),
            (
                "current_setting(text, boolean)",
                "text",
                "pg_catalog.current_setting($1, $2)",
            ),
            (
                "pg_trigger_depth()",
                "integer",
                "pg_catalog.pg_trigger_depth()",
            ),
            ("jsonb_typeof(jsonb)", "text", "pg_catalog.jsonb_typeof($1)"),
        ],
        "",
    )
    .await;
    let mut writer = t.plain_connection().await;
    let from = db_clock(&t.pool).await;
    sqlx::raw_sql(
        "SET search_path = shared, pg_catalog, public;
         INSERT INTO people VALUES ('a@x', 'ann', 'a2@x');
         UPDATE people SET alt = 'b2@x' WHERE name = 'ann';
         BEGIN;
         SELECT pg_catalog.set_config('chrononaut.extra', '{\"rationale\": \"r\"}', true),
                pg_catalog.set_config('chrononaut.record_extra', '[{\"table\": \"notes\", \"key\": {\"id\": 1}, \"extra\": {\"n\": 1}}]', true);
         INSERT INTO notes (id, body) VALUES (1, 'x');
         UPDATE notes SET body = 'y' WHERE id = 1;
         DELETE FROM people WHERE name = 'ann';
         COMMIT;",
    )
    .execute(&mut writer)
    .await
    .expect("the writer's statements");
    let to = db_clock(&t.pool).await;
    assert_no_look_alike_ran(&t).await;
    let times = t
        .json(
            "SELECT jsonb_build_object('history', (SELECT jsonb_agg(changed ORDER BY id) FROM chrononaut_activity), \
             'notes', (SELECT jsonb_agg(changed) FROM notes))",
        )
        .await;
    for at in times["history"]
        .as_array()
        .into_iter()
        .chain(times["notes"].as_array())
        .flatten()
    {
        let at: DateTime<Utc> = serde_json::from_value(at.clone()).expect("a time");
        assert!(
            at >= from && at <= to,
            "{at} is not the real time [{from}, {to}]"
        );
    }
    verify_ok(&t).await;
}

// ---------------------------------------------------------------------------------------------
// item 5: one history name, two tables

/// `billing.accounts` and `public."billing.accounts"` would both be recorded as
/// `billing.accounts`. Whichever is tracked second must be refused with a clear error naming
/// the other table, and nothing of it installed (no column, trigger, function or tracked row).
/// No error variant exists for this yet: the test accepts any typed error but a bare database
/// error, and checks the message.
#[tokio::test]
async fn two_tables_cannot_share_a_history_name() {
    let t = common::setup().await;
    t.exec(
        r#"CREATE SCHEMA billing; CREATE SCHEMA s2;
           CREATE TABLE billing.accounts (id int PRIMARY KEY, v int);
           CREATE TABLE public."billing.accounts" (id int PRIMARY KEY, v int);
           CREATE TABLE s2.t (id int PRIMARY KEY, v int);
           CREATE TABLE public."s2.t" (id int PRIMARY KEY, v int);"#,
    )
    .await;
    // both orders: the schema table first, and the public table with the dotted name first
    for (first, second) in [
        ("billing.accounts", r#"public."billing.accounts""#),
        (r#"public."s2.t""#, "s2.t"),
    ] {
        let tracked = t.track(first, &TrackOptions::new()).await;
        let before = t.activity_dump().await;
        let r = t.try_track(second, &TrackOptions::new()).await;
        match r {
            Ok(tt) => panic!(
                "{second} tracked as {:?} although {} already records under that name",
                tt.history_name, tracked.table
            ),
            Err(Error::HistoryNameTaken {
                other,
                ref history_name,
                ..
            }) => {
                assert_eq!(other, tracked.table, "{second}: the other table");
                assert_eq!(history_name, &tracked.history_name);
            }
            Err(e) => panic!("{second}: expected HistoryNameTaken, got {e}"),
        }
        assert_eq!(
            t.columns(second).await,
            vec!["id", "v"],
            "{second}: columns were added"
        );
        assert_eq!(
            t.triggers(second).await,
            Vec::<String>::new(),
            "{second}: triggers were installed"
        );
        let installed = t
            .json(&format!(
                "SELECT jsonb_build_array( \
                   (SELECT count(*) FROM chrononaut.tracked WHERE relid = '{s}'::regclass), \
                   (SELECT count(*) FROM pg_proc WHERE proname LIKE 'capture\\_' || '{s}'::regclass::oid || '\\_%'))",
                s = second.replace('\'', "''")
            ))
            .await;
        assert_eq!(
            installed,
            json!([0, 0]),
            "{second}: tracked row or functions"
        );
        // writes of the refused table go nowhere near the other's history
        t.exec(&format!("INSERT INTO {second} VALUES (1, 1)")).await;
        assert_eq!(t.activity_dump().await, before, "{second}: history written");
    }
}

// ---------------------------------------------------------------------------------------------
// item 6: strict mode

/// Extra info that lands on no written record must not satisfy strict mode: an entry for
/// another table, another key, or an empty one. Entries that give every written record its
/// extra info do. Today any non-empty `chrononaut.record_extra` lets the write through with
/// empty `extra_info`.
#[tokio::test]
async fn record_extra_for_another_record_does_not_satisfy_strict_mode() {
    let t = common::setup().await;
    t.exec("CREATE TABLE s (id int PRIMARY KEY, v int); INSERT INTO s VALUES (1, 1), (2, 2);")
        .await;
    t.track("s", &TrackOptions::new().strict(true)).await;
    let before = t.activity_dump().await;
    let by_hand = |entries: &str, statement: &str| {
        format!(
            "BEGIN; SELECT set_config('chrononaut.record_extra', '{entries}', true); {statement}; COMMIT;"
        )
    };
    for (entries, statement) in [
        // the issue's reproduction
        (
            r#"[{"table":"nope","key":{},"extra":{}}]"#,
            "UPDATE s SET v = 10 WHERE id = 1",
        ),
        (
            r#"[{"table":"nope","key":{"id":1},"extra":{"why":"x"}}]"#,
            "UPDATE s SET v = 10 WHERE id = 1",
        ),
        // the right table, another record
        (
            r#"[{"table":"s","key":{"id":2},"extra":{"why":"x"}}]"#,
            "UPDATE s SET v = 10 WHERE id = 1",
        ),
        (
            r#"[{"table":"s","key":{"id":2},"extra":{"why":"x"}}]"#,
            "DELETE FROM s WHERE id = 1",
        ),
        (
            r#"[{"table":"s","key":{"id":2},"extra":{"why":"x"}}]"#,
            "INSERT INTO s VALUES (3, 3)",
        ),
        // the right record, but nothing in it
        (
            r#"[{"table":"s","key":{"id":1},"extra":{}}]"#,
            "UPDATE s SET v = 10 WHERE id = 1",
        ),
        // two records written, extra info for one of them
        (
            r#"[{"table":"s","key":{"id":1},"extra":{"why":"x"}}]"#,
            "UPDATE s SET v = v + 10",
        ),
    ] {
        let mut conn = t.plain_connection().await;
        let r = sqlx::raw_sql(sqlx::AssertSqlSafe(by_hand(entries, statement)))
            .execute(&mut conn)
            .await
            .map_err(Error::from);
        assert!(
            matches!(r, Err(Error::StrictMode(_))),
            "{entries} / {statement}: expected strict mode (CN001), got {r:?}"
        );
    }
    // through the library: extra info for another record only
    let ctx = ChangeContext::new().record_extra("s", json!({"id": 2}), json!({"why": "x"}));
    let mut tx = t.ch.begin(&t.pool, &ctx).await.expect("begin");
    let r = sqlx::query("UPDATE s SET v = 10 WHERE id = 1")
        .execute(&mut *tx)
        .await
        .map_err(Error::from);
    assert!(matches!(r, Err(Error::StrictMode(_))), "library: {r:?}");
    drop(tx);
    assert_eq!(
        t.activity_dump().await,
        before,
        "refused writes left history"
    );
    assert_eq!(
        t.json("SELECT jsonb_agg(v ORDER BY id) FROM s").await,
        json!([1, 2])
    );

    // what lands on the written record satisfies strict mode
    let mut conn = t.plain_connection().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(by_hand(
        r#"[{"table":"s","key":{"id":1},"extra":{"why":"a"}},{"table":"s","key":{"id":2},"extra":{"why":"b"}}]"#,
        "UPDATE s SET v = v + 10",
    )))
    .execute(&mut conn)
    .await
    .expect("extra info for every written record");
    assert_eq!(
        t.json(
            "SELECT jsonb_agg(extra_info ORDER BY key) FROM chrononaut_activity WHERE version = 1"
        )
        .await,
        json!([{"why": "a"}, {"why": "b"}])
    );
}

// ---------------------------------------------------------------------------------------------
// item 7: who really did it

/// Every version row records the database login role (`session_user`) in
/// `user_info.db_user`, beside the claimed `user_id` and `remote_addr`: inserts, updates, a
/// key change (its update and the old key's delete), deletes, a re-insert (the fix-up path),
/// TRUNCATE, a baseline and a restore. `SET ROLE` does not change it, and a claimed user_id
/// (here the superuser's name) does not either.
#[tokio::test]
async fn every_version_records_the_login_role() {
    let t = common::setup().await;
    let superuser: String = sqlx::query_scalar("SELECT session_user::text")
        .fetch_one(&t.pool)
        .await
        .expect("session user");
    t.exec("CREATE TABLE acc (id int PRIMARY KEY, v int); CREATE TABLE pre (id int PRIMARY KEY, v int); INSERT INTO pre VALUES (1, 1);")
        .await;
    t.track("acc", &TrackOptions::new()).await;
    t.track("pre", &TrackOptions::new()).await;
    let group = t.create_role("writers", "").await;
    let app = t.create_role("app", "").await;
    t.exec(&format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON acc TO {g}; GRANT {g} TO {a};",
        g = quote_ident(&group),
        a = quote_ident(&app)
    ))
    .await;

    let mut conn = PgConnection::connect_with(&t.options_as(&app))
        .await
        .expect("connect as app");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET ROLE {g};
         BEGIN;
         SELECT set_config('chrononaut.user_id', '{superuser}', true),
                set_config('chrononaut.remote_addr', '192.0.2.1', true);
         INSERT INTO acc VALUES (1, 1), (3, 3);
         UPDATE acc SET v = 2 WHERE id = 1;
         UPDATE acc SET id = 2 WHERE id = 1;
         DELETE FROM acc WHERE id = 2;
         INSERT INTO acc VALUES (2, 5);
         TRUNCATE acc;
         COMMIT;",
        g = quote_ident(&group)
    )))
    .execute(&mut conn)
    .await
    .expect("the app's writes");
    let infos = t
        .json(
            "SELECT jsonb_agg(jsonb_build_array(key, version, operation, user_info) ORDER BY id) \
             FROM chrononaut_activity WHERE table_name = 'acc' AND operation IN ('insert', 'update', 'delete')",
        )
        .await;
    let infos = infos.as_array().cloned().unwrap_or_default();
    assert_eq!(infos.len(), 9, "{infos:?}");
    let claimed = json!({"user_id": superuser, "remote_addr": "192.0.2.1", "db_user": app});
    for row in &infos {
        assert_eq!(row[3], claimed, "version {row}: user_info");
    }

    // a baseline and a restore, by the superuser
    let mut su = t.pool.acquire().await.expect("connection");
    t.ch.baseline(&mut su, "pre", chrononaut::BaselineOptions::new())
        .await
        .expect("baseline");
    t.exec("UPDATE pre SET v = 2").await;
    let record =
        t.ch.record(&mut su, "pre", json!({"id": 1}))
            .await
            .expect("record");
    t.ch.restore(
        &mut su,
        &record,
        chrononaut::RestoreTarget::Version(0),
        &ChangeContext::new().user("carol").rationale("undo"),
    )
    .await
    .expect("restore");
    let infos = t
        .json(
            "SELECT jsonb_agg(user_info ORDER BY version) FROM chrononaut_activity WHERE table_name = 'pre'",
        )
        .await;
    assert_eq!(
        infos,
        json!([
            {"user_id": null, "remote_addr": null, "db_user": superuser},
            {"user_id": null, "remote_addr": null, "db_user": superuser},
            {"user_id": "carol", "remote_addr": null, "db_user": superuser},
        ])
    );
    verify_ok(&t).await;
}

// ---------------------------------------------------------------------------------------------
// item 8: bounded context

/// The documented limits on client-supplied context, in bytes of the setting's text.
const LIMITS: [(&str, usize); 5] = [
    ("chrononaut.user_id", 256),
    ("chrononaut.remote_addr", 64),
    ("chrononaut.extra", 8192),
    ("chrononaut.extra_auto", 8192),
    ("chrononaut.record_extra", 65536),
];

/// A setting value of exactly `bytes` bytes for `setting` (multi-byte characters, so that
/// bytes and characters differ): plain text for user_id / remote_addr, a JSON object
/// `{"k":"..."}` for the extras, a JSON array of one entry for `s` {"id": 1} for record_extra.
/// JSON is compact (no spaces), as serde_json writes it. Returns the value and the text in it
/// that the history must hold (`user_id`, `remote_addr` or `extra_info.k`).
fn value_of_size(setting: &str, bytes: usize) -> (String, String) {
    let (head, tail) = match setting {
        "chrononaut.user_id" | "chrononaut.remote_addr" => ("", ""),
        "chrononaut.record_extra" => (r#"[{"table":"s","key":{"id":1},"extra":{"k":""#, r#""}}]"#),
        _ => (r#"{"k":""#, r#""}"#),
    };
    let n = bytes - head.len() - tail.len();
    // 'é' is two bytes; one 'x' makes up an odd count
    let mut fill = "é".repeat(n / 2);
    if n % 2 == 1 {
        fill.push('x');
    }
    let v = format!("{head}{fill}{tail}");
    assert_eq!(v.len(), bytes);
    (v, fill)
}

async fn sized_setup() -> Ctx {
    let t = common::setup().await;
    t.exec("CREATE TABLE s (id int PRIMARY KEY, v int); INSERT INTO s VALUES (1, 1);")
        .await;
    t.track("s", &TrackOptions::new()).await;
    t
}

/// Set by hand (set_config from any client), a setting over its limit makes the write fail
/// with CN004 and leaves nothing; one at its limit is recorded in full. Today nothing is
/// bounded: a 200 kB extra is copied into every history row of the statement.
#[tokio::test]
async fn context_settings_over_their_limit_are_refused_by_hand() {
    let t = sized_setup().await;
    for (setting, limit) in LIMITS {
        let before = t.activity_dump().await;
        let (over, _) = value_of_size(setting, limit + 1);
        let mut tx = t.pool.begin().await.expect("begin");
        let set = sqlx::query("SELECT set_config($1, $2, true)")
            .bind(setting)
            .bind(&over)
            .execute(&mut *tx)
            .await
            .map_err(Error::from);
        // refused when set (should PostgreSQL ever allow that) or at the write
        let r = match set {
            Err(e) => Err(e),
            Ok(_) => sqlx::query("UPDATE s SET v = v + 1 WHERE id = 1")
                .execute(&mut *tx)
                .await
                .map(|_| ())
                .map_err(Error::from),
        };
        assert!(
            matches!(r, Err(Error::InvalidContext(_))),
            "{setting} of {} bytes: expected CN004, got {r:?}",
            limit + 1
        );
        drop(tx);
        assert_eq!(
            t.activity_dump().await,
            before,
            "{setting}: history written"
        );

        let (at, fill) = value_of_size(setting, limit);
        let mut tx = t.pool.begin().await.expect("begin");
        sqlx::query("SELECT set_config($1, $2, true)")
            .bind(setting)
            .bind(&at)
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{setting} of exactly {limit} bytes, set_config: {e}"));
        sqlx::query("UPDATE s SET v = v + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{setting} of exactly {limit} bytes: {e}"));
        tx.commit().await.expect("commit");
        let latest = t
            .json("SELECT jsonb_build_object('u', user_info, 'e', extra_info) FROM chrononaut_activity ORDER BY id DESC LIMIT 1")
            .await;
        let recorded = match setting {
            "chrononaut.user_id" => &latest["u"]["user_id"],
            "chrononaut.remote_addr" => &latest["u"]["remote_addr"],
            _ => &latest["e"]["k"],
        };
        assert_eq!(recorded, &json!(fill), "{setting}: recorded in full");
    }
}

/// Through ChangeContext (and a context provider, for extra_auto) the library refuses a
/// context over a limit itself, before sending it — the transaction stays usable — with
/// Error::InvalidContext; a context at every limit is applied and recorded.
#[tokio::test]
async fn change_contexts_over_a_limit_are_refused_before_sending() {
    let t = sized_setup().await;
    let text = |setting: &str, n: usize| value_of_size(setting, n).0;
    // the JSON object {"k":"..."} of n bytes, as a map
    let object = |n: usize| -> serde_json::Map<String, Value> {
        serde_json::from_str(&value_of_size("chrononaut.extra", n).0).expect("object")
    };
    // ChangeContext::record_extra("s", {"id":1}, {"k": "..."}) serialized as n bytes: the
    // library writes [{"table":"s","key":{"id":1},"extra":{"k":"..."}}], as value_of_size does
    let record_extra = |n: usize| -> ChangeContext {
        let v: Value =
            serde_json::from_str(&value_of_size("chrononaut.record_extra", n).0).expect("array");
        ChangeContext::new().record_extra("s", json!({"id": 1}), v[0]["extra"].clone())
    };
    type Build = Box<dyn Fn(usize) -> (Chrononaut, ChangeContext)>;
    let cases: Vec<(&str, usize, Build)> = vec![
        (
            "user_id",
            256,
            Box::new(move |n| {
                (
                    Chrononaut::new(),
                    ChangeContext::new().user(text("chrononaut.user_id", n)),
                )
            }),
        ),
        (
            "remote_addr",
            64,
            Box::new(move |n| {
                (
                    Chrononaut::new(),
                    ChangeContext::new().remote_addr(text("chrononaut.remote_addr", n)),
                )
            }),
        ),
        (
            "extra",
            8192,
            Box::new(move |n| {
                (
                    Chrononaut::new(),
                    ChangeContext::new()
                        .extra_json(Value::Object(object(n)))
                        .expect("extra"),
                )
            }),
        ),
        (
            "extra_auto",
            8192,
            Box::new(move |n| {
                let o = object(n);
                (
                    Chrononaut::new().with_context_provider(move || o.clone()),
                    ChangeContext::new(),
                )
            }),
        ),
        (
            "record_extra",
            65536,
            Box::new(move |n| (Chrononaut::new(), record_extra(n))),
        ),
    ];
    for (what, limit, build) in &cases {
        let (ch, ctx) = build(limit + 1);
        let mut tx = t.pool.begin().await.expect("begin");
        let r = ch.apply(&mut tx, &ctx).await;
        assert!(
            matches!(r, Err(Error::InvalidContext(_))),
            "{what} of {} bytes: expected InvalidContext, got {r:?}",
            limit + 1
        );
        sqlx::query("SELECT 1")
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{what}: refused by the server, not before sending: {e}"));
        drop(tx);

        let (ch, ctx) = build(*limit);
        let mut tx = t.pool.begin().await.expect("begin");
        ch.apply(&mut tx, &ctx)
            .await
            .unwrap_or_else(|e| panic!("{what} of exactly {limit} bytes: {e}"));
        sqlx::query("UPDATE s SET v = v + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await
            .unwrap_or_else(|e| panic!("{what} of exactly {limit} bytes, the write: {e}"));
        tx.commit().await.expect("commit");
    }
    assert_eq!(
        t.scalar_i64("SELECT count(*) FROM chrononaut_activity WHERE operation = 'update'")
            .await,
        5
    );
}

// ---------------------------------------------------------------------------------------------
// issue 14, "Also": typed errors keep the database error

/// A refusal keeps what the database said (SQLSTATE, HINT) and the database error itself as
/// `source()`; 42501 is `PermissionDenied` only when chrononaut refused (its own objects),
/// not when PostgreSQL refuses access to a table of the application's.
#[tokio::test]
async fn typed_errors_keep_the_database_error() {
    let (t, app) = app_setup(false).await;
    t.exec("INSERT INTO acc (id, owner, balance) VALUES (1, 'o', 10)")
        .await;
    let err = Error::from(
        sqlx::query("UPDATE acc SET balance = 11, version = 7 WHERE id = 1")
            .execute(&t.pool)
            .await
            .unwrap_err(),
    );
    let Error::StaleVersion(refusal) = &err else {
        panic!("expected StaleVersion, got {err:?}");
    };
    assert_eq!(refusal.code(), Some(chrononaut::SQLSTATE_STALE_VERSION));
    assert!(
        refusal.hint().is_some_and(|h| h.contains("read it again")),
        "{refusal:?}"
    );
    let source = std::error::Error::source(&err).expect("the database error as source");
    let db = source
        .downcast_ref::<sqlx::Error>()
        .and_then(|e| e.as_database_error())
        .expect("a sqlx database error");
    assert_eq!(db.code().as_deref(), Some("CN005"));
    assert_eq!(err.to_string(), refusal.message());

    // PostgreSQL refusing the app a table of its own making is not chrononaut's refusal
    t.exec("CREATE TABLE payroll_x (id int PRIMARY KEY, pay int)")
        .await;
    let pool = t.pool_as(&app).await;
    let err = Error::from(
        sqlx::query("SELECT * FROM payroll_x")
            .execute(&pool)
            .await
            .unwrap_err(),
    );
    assert!(matches!(err, Error::Database(_)), "{err:?}");
    // ... while writing history by hand is
    let err = Error::from(
        sqlx::query(
            "INSERT INTO chrononaut_activity (table_name, changed, version, key, data) \
             VALUES ('acc', now(), 9, '{\"id\": 1}', '{}')",
        )
        .execute(&pool)
        .await
        .unwrap_err(),
    );
    match &err {
        Error::PermissionDenied(r) => assert_eq!(r.code(), Some("42501")),
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
    pool.close().await;
    // a refusal of the library's own, before the database: no code, no source
    let err = Chrononaut::new()
        .begin(&t.pool, &ChangeContext::new().user("x".repeat(300)))
        .await
        .unwrap_err();
    match &err {
        Error::InvalidContext(r) => assert!(r.code().is_none() && r.contains("bytes")),
        other => panic!("expected InvalidContext, got {other:?}"),
    }
    assert!(std::error::Error::source(&err).is_none());
    t.drop_roles().await;
}
