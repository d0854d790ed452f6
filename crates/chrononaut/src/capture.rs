//! The capture DDL generator: a tracked table's functions and triggers, from `sql/capture.sql`.

use std::collections::HashMap;

use crate::catalog::{Column, Table};
use crate::error::Result;
use crate::ident::{fresh_name, quote_ident, quote_literal};
use crate::sql;
use crate::track::{RECORD_CHANGE_COLUMNS, TrackOptions};

/// The per-table locking functions: the key of a row, the lock check, the trigger switch.
pub(crate) fn lock_function_names(suffix: &str) -> [String; 3] {
    ["key", "lock_check", "lock_triggers"].map(|op| {
        format!(
            "chrononaut.{}",
            quote_ident(&format!("capture_{suffix}_{op}"))
        )
    })
}

pub(crate) fn function_names(suffix: &str) -> [String; 4] {
    ["insert", "update", "delete", "version"].map(|op| {
        format!(
            "chrononaut.{}",
            quote_ident(&format!("capture_{suffix}_{op}"))
        )
    })
}

/// Builds the capture DDL of one table from `sql/capture.sql`.
pub(crate) fn capture_ddl(
    table: &Table,
    activity: &str,
    cols: &[Column],
    key_cols: &[String],
    opts: &TrackOptions,
    strict: bool,
    suffix: &str,
) -> Result<String> {
    let taken: Vec<String> = cols.iter().map(|c| c.name.clone()).collect();
    let var = |base: &str| fresh_name(base, &taken);
    let (ctx, rec, ts, cnt, fix, lk) = (
        var("chrononaut_ctx"),
        var("chrononaut_rec"),
        var("chrononaut_ts"),
        var("chrononaut_cnt"),
        var("chrononaut_fix"),
        var("chrononaut_lk"),
    );
    let (n, o, s, v, h, w) = ("cn_n", "cn_o", "cn_s", "cn_v", "cn_h", "cn_w");

    let by_name: HashMap<&str, &Column> = cols.iter().map(|c| (c.name.as_str(), c)).collect();
    let is_meta = |name: &str| opts.record_changes && RECORD_CHANGE_COLUMNS.contains(&name);
    // Removed from `data`: hidden, untracked and the record-changes columns.
    let removed: Vec<String> = cols
        .iter()
        .filter(|c| {
            opts.hidden.contains(&c.name) || opts.untracked.contains(&c.name) || is_meta(&c.name)
        })
        .map(|c| c.name.clone())
        .collect();
    // Compared to decide whether a version is due: everything but untracked, version, meta and
    // generated columns (NULL in BEFORE triggers; they change only when their inputs do).
    let compared: Vec<&Column> = cols
        .iter()
        .filter(|c| {
            !c.generated
                && c.name != "version"
                && !opts.untracked.contains(&c.name)
                && !is_meta(&c.name)
        })
        .collect();
    let hidden: Vec<&Column> = cols
        .iter()
        .filter(|c| opts.hidden.contains(&c.name))
        .collect();

    let build_object = |pairs: Vec<String>| -> String {
        // jsonb_build_object takes at most 100 arguments: 50 pairs per call
        let parts: Vec<String> = pairs
            .chunks(50)
            .map(|chunk| format!("jsonb_build_object({})", chunk.join(", ")))
            .collect();
        if parts.is_empty() {
            "'{}'::jsonb".to_owned()
        } else {
            parts.join(" || ")
        }
    };
    let key_expr = |alias: &str| {
        build_object(
            key_cols
                .iter()
                .map(|k| {
                    let value = by_name
                        .get(k.as_str())
                        .map(|c| c.json_value(alias))
                        .unwrap_or_default();
                    format!("{}, {value}", quote_literal(k))
                })
                .collect(),
        )
    };
    let data_expr = |alias: &str| {
        let mut expr = format!("to_jsonb({alias}.*)");
        if !removed.is_empty() {
            expr = format!("({expr} - {})", crate::ident::text_array(&removed));
        }
        let naive: Vec<String> = cols
            .iter()
            .filter(|c| c.rendered() && !removed.contains(&c.name))
            .map(|c| format!("{}, {}", quote_literal(&c.name), c.json_value(alias)))
            .collect();
        if !naive.is_empty() {
            expr = format!("{expr} || {}", build_object(naive));
        }
        expr
    };
    let name_array = |items: Vec<String>| {
        if items.is_empty() {
            "'{}'::text[]".to_owned()
        } else {
            format!("array_remove(ARRAY[{}]::text[], NULL)", items.join(", "))
        }
    };
    let hidden_set_n = name_array(
        hidden
            .iter()
            .map(|c| {
                format!(
                    "CASE WHEN {n}.{} IS NOT NULL THEN {} END",
                    quote_ident(&c.name),
                    quote_literal(&c.name)
                )
            })
            .collect(),
    );
    let hidden_changed = name_array(
        hidden
            .iter()
            .map(|c| {
                format!(
                    "CASE WHEN {} IS DISTINCT FROM {} THEN {} END",
                    c.compared(o),
                    c.compared(n),
                    quote_literal(&c.name)
                )
            })
            .collect(),
    );
    let row_of = |alias: &str| {
        let items: Vec<String> = compared.iter().map(|c| c.compared(alias)).collect();
        format!("ROW({})", items.join(", "))
    };
    let changed_o_n = if compared.is_empty() {
        "false".to_owned()
    } else {
        format!("{} IS DISTINCT FROM {}", row_of(o), row_of(n))
    };
    let when_changed = if compared.is_empty() {
        "false".to_owned()
    } else {
        format!("{} IS DISTINCT FROM {}", row_of("OLD"), row_of("NEW"))
    };
    let key_row = |alias: &str| {
        let items: Vec<String> = key_cols
            .iter()
            .map(|k| format!("{alias}.{}", quote_ident(k)))
            .collect();
        format!("ROW({})", items.join(", "))
    };
    let key_moved = format!("{} IS DISTINCT FROM {}", key_row("OLD"), key_row("NEW"));
    let join = |a: &str, b: &str| {
        key_cols
            .iter()
            .map(|k| format!("{a}.{q} = {b}.{q}", q = quote_ident(k)))
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    let pk_cols_n = key_cols
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{n}.{} AS pk_{}", quote_ident(k), i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let pk_join_t_v = key_cols
        .iter()
        .enumerate()
        .map(|(i, k)| format!("t.{} = {v}.pk_{}", quote_ident(k), i + 1))
        .collect::<Vec<_>>()
        .join(" AND ");
    let o_missing = format!("{o}.{} IS NULL", quote_ident(&key_cols[0]));
    let changed_at_n = if opts.record_changes {
        format!("COALESCE({n}.\"changed\", {ts})")
    } else {
        ts.clone()
    };
    // Zoned values that json_value cannot render (timetz, arrays or composites holding
    // timestamptz) need the functions to run in UTC.
    let settings = if cols.iter().any(|c| c.zoned && !c.tstz) {
        "SET TimeZone = 'UTC'"
    } else {
        ""
    };
    let [fn_insert, fn_update, fn_delete, fn_version] = function_names(suffix);
    let [fn_key, fn_lock_check, fn_lock_triggers] = lock_function_names(suffix);
    let relid = table.oid.to_string();
    let record_changes_trigger = if opts.record_changes {
        sql::fill(sql::RECORD_CHANGES, &[("table", &table.quoted)])?
    } else {
        String::new()
    };
    let values: Vec<(&str, String)> = vec![
        ("fn_insert", fn_insert.to_string()),
        ("fn_update", fn_update.to_string()),
        ("fn_delete", fn_delete.to_string()),
        ("fn_version", fn_version.to_string()),
        (
            "table_name",
            (quote_literal(&table.history_name)).to_string(),
        ),
        ("table", table.quoted.to_string()),
        ("activity", activity.to_string()),
        ("settings", settings.to_string()),
        (
            "strict",
            (if strict { "true" } else { "false" }).to_string(),
        ),
        ("ctx", ctx.to_string()),
        ("rec", rec.to_string()),
        ("ts", ts.to_string()),
        ("cnt", cnt.to_string()),
        ("fix", fix.to_string()),
        ("key_n", (key_expr(n)).to_string()),
        ("key_o", (key_expr(o)).to_string()),
        ("data_n", (data_expr(n)).to_string()),
        ("data_o", (data_expr(o)).to_string()),
        ("hidden_set_n", hidden_set_n.to_string()),
        ("hidden_changed", hidden_changed.to_string()),
        ("changed_o_n", changed_o_n.to_string()),
        ("pk_join_o_n", (join(o, n)).to_string()),
        ("o_missing", o_missing.to_string()),
        ("pk_cols_n", pk_cols_n.to_string()),
        ("pk_join_t_v", pk_join_t_v.to_string()),
        ("changed_at_n", changed_at_n.to_string()),
        ("when_changed", when_changed.to_string()),
        ("key_moved", key_moved.to_string()),
        ("pk_join_x_y", (join("cn_x", "cn_y")).to_string()),
        ("record_changes_trigger", record_changes_trigger.to_string()),
        ("key_old", (key_expr("OLD")).to_string()),
        ("key_r", (key_expr("r")).to_string()),
        ("fn_key", fn_key.to_string()),
        ("fn_lock_check", fn_lock_check.to_string()),
        ("fn_lock_triggers", fn_lock_triggers.to_string()),
        ("relid", relid.to_string()),
        ("lk", lk.to_string()),
        ("w", w.to_string()),
        ("n", n.to_string()),
        ("o", o.to_string()),
        ("s", s.to_string()),
        ("v", v.to_string()),
        ("h", h.to_string()),
    ];
    // The delete rows are written from three sources: the DELETE's transition table, the table
    // itself before a TRUNCATE, and the old rows whose key vanished in an UPDATE
    // (capture_delete_rows.sql).
    let delete_rows = |source: String| {
        let mut with_source = values.clone();
        with_source.push(("source", source));
        fill_used(sql::CAPTURE_DELETE_ROWS, &with_source)
    };
    let vanished = fill_used(
        "(SELECT cn_x.* FROM chrononaut_old AS cn_x WHERE NOT EXISTS \
         (SELECT 1 FROM chrononaut_new AS cn_y WHERE {{pk_join_x_y}}))",
        &values,
    )?;
    let mut all = values.clone();
    all.extend([
        ("delete_rows_from_table", delete_rows(table.quoted.clone())?),
        (
            "delete_rows_from_old",
            delete_rows("chrononaut_old".to_owned())?,
        ),
        ("delete_rows_from_vanished", delete_rows(vanished)?),
    ]);
    fill_used(sql::CAPTURE, &all)
}

/// Fills `template` with those of `values` whose placeholder it has (one set of values
/// serves the capture template and the snippets spliced into it).
fn fill_used(template: &str, values: &[(&str, String)]) -> Result<String> {
    let values: Vec<(&str, &str)> = values.iter().map(|(n, v)| (*n, v.as_str())).collect();
    sql::fill_some(template, &values)
}

/// A fingerprint of the SQL templates that make a table's capture functions and triggers:
/// when it differs from the one recorded at install, the installed functions are out of date.
/// FNV-1a, so that it is the same across builds and Rust versions.
pub(crate) fn capture_fingerprint() -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for template in [
        sql::CAPTURE,
        sql::CAPTURE_DELETE_ROWS,
        sql::RECORD_CHANGES,
        sql::UNTRACK,
    ] {
        for byte in template.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

pub(crate) fn untrack_ddl(table: &Table, suffix: &str) -> Result<String> {
    let [fn_insert, fn_update, fn_delete, fn_version] = function_names(suffix);
    let [fn_key, fn_lock_check, fn_lock_triggers] = lock_function_names(suffix);
    sql::fill(
        sql::UNTRACK,
        &[
            ("table", &table.quoted),
            ("fn_key", &fn_key),
            ("fn_lock_check", &fn_lock_check),
            ("fn_lock_triggers", &fn_lock_triggers),
            ("fn_insert", &fn_insert),
            ("fn_update", &fn_update),
            ("fn_delete", &fn_delete),
            ("fn_version", &fn_version),
        ],
    )
}
