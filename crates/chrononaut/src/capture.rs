//! The capture DDL generator: a tracked table's functions and triggers, from `sql/capture.sql`.
//!
//! Every value that goes into the template is [`Sql`]: quoted identifiers, escaped literals and
//! fixed text of this file, composed with [`sql_format!`]. Every function, operator and type in
//! the code that runs as the writer (the version function, the key expressions of its error
//! message) is qualified with `pg_catalog`; rows are compared as records (`record_eq` uses each
//! column type's own btree equality, whatever the search_path), keys are joined with the
//! equality operators of the primary-key index's operator classes.

use crate::catalog::{Column, KeyColumn, Table};
use crate::error::Result;
use crate::ident::fresh_name;
use crate::sql;
use crate::template::{self, Sql, sql_format};
use crate::track::{RECORD_CHANGE_COLUMNS, TrackOptions};

/// The per-table functions, schema-qualified and quoted.
pub(crate) struct FunctionNames {
    pub insert: Sql,
    pub update: Sql,
    pub delete: Sql,
    pub version: Sql,
    pub key: Sql,
    pub lock_check: Sql,
    pub lock_triggers: Sql,
    /// `key` as it reads inside a string literal (for `::regproc` look-ups).
    key_text: String,
    lock_triggers_text: String,
}

impl FunctionNames {
    /// The functions of the table whose functions carry `suffix` (its oid when it was tracked).
    pub(crate) fn new(suffix: &str) -> Self {
        let name = |op: &str| Sql::qualified("chrononaut", &format!("capture_{suffix}_{op}"));
        FunctionNames {
            insert: name("insert"),
            update: name("update"),
            delete: name("delete"),
            version: name("version"),
            key: name("key"),
            lock_check: name("lock_check"),
            lock_triggers: name("lock_triggers"),
            key_text: name("key").into_string(),
            lock_triggers_text: name("lock_triggers").into_string(),
        }
    }
}

/// What the capture DDL of one table is made from.
pub(crate) struct CaptureSpec<'a> {
    pub table: &'a Table,
    pub activity: &'a Sql,
    pub columns: &'a [Column],
    /// The primary-key columns without `version`.
    pub key: &'a [KeyColumn],
    pub options: &'a TrackOptions,
    pub strict: bool,
    pub suffix: &'a str,
    /// The activity table is partitioned: read and move record heads (sql/heads/install.sql)
    /// instead of probing the history.
    pub heads: bool,
}

/// `jsonb_build_object` over `pairs` (at most 100 arguments a call: 50 pairs each, joined).
fn build_object(pairs: Vec<Sql>) -> Sql {
    if pairs.is_empty() {
        return Sql::code("'{}'::pg_catalog.jsonb");
    }
    Sql::join(
        pairs.chunks(50).map(|chunk| {
            sql_format!(
                "pg_catalog.jsonb_build_object({})",
                Sql::join(chunk.to_vec(), ", ")
            )
        }),
        " OPERATOR(pg_catalog.||) ",
    )
}

/// `alias.column`.
fn col(alias: &Sql, name: &str) -> Sql {
    sql_format!("{}.{}", alias, Sql::ident(name))
}

/// `alias.column` as the history key holds it: timestamps as ISO-8601 UTC text
/// (`2026-01-02T03:04:05.123456+00:00`, naive ones taken as UTC) whatever the session TimeZone,
/// so that the key is the same in every function that builds it (some run in UTC, some not).
fn key_value(alias: &Sql, c: &Column) -> Sql {
    let value = col(alias, &c.name);
    let utc = if c.tstz {
        sql_format!("pg_catalog.timezone('UTC', {})", value)
    } else if c.naive_ts {
        value.clone()
    } else {
        return value;
    };
    sql_format!(
        "CASE WHEN pg_catalog.isfinite({}) THEN (pg_catalog.to_jsonb({}) OPERATOR(pg_catalog.#>>) '{{}}') \
         OPERATOR(pg_catalog.||) '+00:00' ELSE pg_catalog.to_jsonb({}) OPERATOR(pg_catalog.#>>) '{{}}' END",
        value,
        utc,
        value
    )
}

/// `alias.column` as a snapshot holds it. The capture functions of a table with zoned columns
/// run in UTC (see `definer_settings`), so timestamptz values render as `+00:00` by themselves;
/// naive timestamps are taken as UTC.
fn data_value(alias: &Sql, c: &Column) -> Sql {
    let value = col(alias, &c.name);
    if c.naive_ts {
        sql_format!("{}::pg_catalog.timestamptz", value)
    } else {
        value
    }
}

/// `ROW(alias.a, alias.b, ...)::record`, as text where the type has no btree equality.
fn row_of(alias: &Sql, cols: &[&Column]) -> Sql {
    let items = cols.iter().map(|c| {
        let value = col(alias, &c.name);
        if c.comparable {
            value
        } else {
            sql_format!("{}::pg_catalog.text", value)
        }
    });
    sql_format!("ROW({})::pg_catalog.record", Sql::join(items, ", "))
}

/// True when any of `cols` differs between rows `a` and `b` (NULLs equal).
fn differs(a: &Sql, b: &Sql, cols: &[&Column]) -> Sql {
    if cols.is_empty() {
        return Sql::code("false");
    }
    sql_format!(
        "NOT ({} OPERATOR(pg_catalog.=) {})",
        row_of(a, cols),
        row_of(b, cols)
    )
}

/// `text[]` of the names of `cols` for which `test(column)` holds.
fn names_where(cols: &[&Column], test: impl Fn(&Column) -> Sql) -> Sql {
    let items = cols
        .iter()
        .map(|c| sql_format!("CASE WHEN {} THEN {} END", test(c), Sql::literal(&c.name)));
    sql_format!(
        "pg_catalog.array_remove(ARRAY[{}]::pg_catalog.text[], NULL)",
        Sql::join(items, ", ")
    )
}

/// Builds the capture DDL of one table from `sql/capture.sql`.
pub(crate) fn capture_ddl(spec: &CaptureSpec<'_>) -> Result<Sql> {
    let CaptureSpec {
        table,
        activity,
        columns: cols,
        key,
        options: opts,
        strict,
        suffix,
        heads,
    } = *spec;
    let taken: Vec<String> = cols.iter().map(|c| c.name.clone()).collect();
    let var = |base: &str| Sql::ident(&fresh_name(base, &taken));
    let (ctx, rec, ts, cnt, fix, lk) = (
        var("chrononaut_ctx"),
        var("chrononaut_rec"),
        var("chrononaut_ts"),
        var("chrononaut_cnt"),
        var("chrononaut_fix"),
        var("chrononaut_lk"),
    );
    let [n, o, s, p, v, w, t, h] = [
        "cn_n", "cn_o", "cn_s", "cn_p", "cn_v", "cn_w", "cn_t", "cn_h",
    ]
    .map(Sql::code);
    let (old, new, r) = (Sql::code("OLD"), Sql::code("NEW"), Sql::code("r"));
    let (x, y) = (Sql::code("cn_x"), Sql::code("cn_y"));

    let is_meta = |name: &str| opts.record_changes && RECORD_CHANGE_COLUMNS.contains(&name);
    let removed = |c: &Column| {
        opts.hidden.contains(&c.name) || opts.untracked.contains(&c.name) || is_meta(&c.name)
    };
    // In `data`: every column but hidden, untracked and record-changes ones; `version` is
    // written explicitly (the history version).
    let kept: Vec<&Column> = cols
        .iter()
        .filter(|c| !removed(c) && c.name != "version")
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
    let key_cols: Vec<&Column> = key
        .iter()
        .filter_map(|k| cols.iter().find(|c| c.name == k.name))
        .collect();

    let key_expr = |alias: &Sql| {
        build_object(
            key_cols
                .iter()
                .map(|c| sql_format!("{}, {}", Sql::literal(&c.name), key_value(alias, c)))
                .collect(),
        )
    };
    let data_expr = |alias: &Sql, version: Sql| {
        let mut pairs: Vec<Sql> = kept
            .iter()
            .map(|c| sql_format!("{}, {}", Sql::literal(&c.name), data_value(alias, c)))
            .collect();
        pairs.push(sql_format!("'version', {}", version));
        build_object(pairs)
    };
    let join_keys = |a: &Sql, b: &dyn Fn(usize, &KeyColumn) -> Sql| {
        Sql::join(
            key.iter()
                .enumerate()
                .map(|(i, k)| sql_format!("{} {} {}", col(a, &k.name), k.eq, b(i, k))),
            " AND ",
        )
    };
    let pk_join_o_n = join_keys(&o, &|_, k| col(&n, &k.name));
    let pk_join_x_y = join_keys(&x, &|_, k| col(&y, &k.name));
    let pk_join_t_s = join_keys(&t, &|i, _| {
        sql_format!("{}.{}", s, Sql::ident(&format!("pk_{}", i + 1)))
    });
    let pk_cols_n = Sql::join(
        key.iter().enumerate().map(|(i, k)| {
            sql_format!(
                "{} AS {}",
                col(&n, &k.name),
                Sql::ident(&format!("pk_{}", i + 1))
            )
        }),
        ", ",
    );
    let o_missing = sql_format!("{} IS NULL", col(&o, &key[0].name));
    let changed_at_n = if opts.record_changes {
        sql_format!("COALESCE({}.\"changed\", {})", n, ts)
    } else {
        ts.clone()
    };
    // Per-record extra info (ChangeContext::record_extra) of a row, '{}' when none.
    let rx = |alias: &Sql| {
        sql_format!(
            "CASE WHEN {} IS NULL THEN '{{}}'::pg_catalog.jsonb ELSE chrononaut.record_extra({}, {}) END",
            rec,
            rec,
            key_expr(alias)
        )
    };
    // extra_info: the context's, the record's, and the hidden columns that changed (or were
    // set, for an insert). `quiet` is true when the row has none of the latter: no per-record
    // extras in this statement and no hidden column to note. Then the row's extra_info is the
    // context's as it is, without building and merging the per-row parts (the common case;
    // about 1.3 µs per row less, BENCHMARKS.md "Capture cost, issue 8 part 2").
    let extra = |alias: &Sql, hidden_names: Option<(Sql, Sql)>| {
        let base = sql_format!("{}.extra_info OPERATOR(pg_catalog.||) {}", ctx, rx(alias));
        let (full, quiet) = match hidden_names {
            None => (base, sql_format!("{} IS NULL", rec)),
            Some((names, any)) => (
                sql_format!(
                    "{} OPERATOR(pg_catalog.||) pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(\
                     'hidden_cols_changed', NULLIF({}, '{{}}'::pg_catalog.text[])))",
                    base,
                    names
                ),
                sql_format!("{} IS NULL AND NOT ({})", rec, any),
            ),
        };
        sql_format!(
            "CASE WHEN {} THEN {}.extra_info ELSE {} END",
            quiet,
            ctx,
            full
        )
    };
    let (hidden_set_n, hidden_changed) = if hidden.is_empty() {
        (None, None)
    } else {
        let any_set = Sql::join(
            hidden
                .iter()
                .map(|c| sql_format!("{} IS NOT NULL", col(&n, &c.name))),
            " OR ",
        );
        (
            Some((
                names_where(&hidden, |c| sql_format!("{} IS NOT NULL", col(&n, &c.name))),
                any_set,
            )),
            Some((
                names_where(&hidden, |c| differs(&o, &n, &[c])),
                differs(&o, &n, &hidden),
            )),
        )
    };
    // Zoned values (timestamptz, timetz, arrays or composites holding them) and naive
    // timestamps render in UTC only when the function runs in UTC.
    let zoned = cols.iter().any(|c| c.zoned || c.naive_ts || c.tstz);
    const DEFINER_SETTINGS: &str = "SET search_path = pg_catalog, pg_temp\n\
        SET enable_seqscan = off\nSET enable_sort = off\nSET jit = off";
    const DEFINER_SETTINGS_UTC: &str = "SET search_path = pg_catalog, pg_temp\n\
        SET enable_seqscan = off\nSET enable_sort = off\nSET jit = off\nSET TimeZone = 'UTC'";
    let definer_settings = Sql::code(if zoned {
        DEFINER_SETTINGS_UTC
    } else {
        DEFINER_SETTINGS
    });
    let names = FunctionNames::new(suffix);
    let record_changes_trigger = if opts.record_changes {
        template::fill(sql::RECORD_CHANGES, &[("table", &table.quoted_sql())])?
    } else {
        Sql::default()
    };
    let version_plus_one = sql_format!("COALESCE({}.version, 0) OPERATOR(pg_catalog.+) 1", o);

    let table_sql = table.quoted_sql();
    let table_name = Sql::literal(&table.history_name);
    let relid = Sql::int(table.oid);
    let strict = Sql::code(if strict { "true" } else { "false" });
    let key_n = key_expr(&n);
    let key_o = key_expr(&o);
    let key_old = key_expr(&old);
    let key_r = key_expr(&r);
    let data_n = data_expr(&n, sql_format!("{}.version", n));
    let data_n_v = data_expr(&n, sql_format!("{}.version", v));
    let data_o_v = data_expr(&o, version_plus_one);
    let rx_n = rx(&n);
    let rx_o = rx(&o);
    let extra_insert = extra(&n, hidden_set_n);
    let extra_update = extra(&n, hidden_changed);
    let extra_delete = extra(&o, None);
    let changed_o_n = differs(&o, &n, &compared);
    let when_changed = differs(&old, &new, &compared);
    let fn_key_name = Sql::literal(&names.key_text);
    let fn_lock_triggers_signature =
        Sql::literal(&format!("{}(boolean, boolean)", names.lock_triggers_text));
    let values: Vec<(&str, &Sql)> = vec![
        ("fn_insert", &names.insert),
        ("fn_update", &names.update),
        ("fn_delete", &names.delete),
        ("fn_version", &names.version),
        ("fn_key", &names.key),
        ("fn_lock_check", &names.lock_check),
        ("fn_lock_triggers", &names.lock_triggers),
        ("fn_key_name", &fn_key_name),
        ("fn_lock_triggers_signature", &fn_lock_triggers_signature),
        ("definer_settings", &definer_settings),
        ("table", &table_sql),
        ("relid", &relid),
        ("activity", activity),
        ("table_name", &table_name),
        ("strict", &strict),
        ("ctx", &ctx),
        ("rec", &rec),
        ("ts", &ts),
        ("cnt", &cnt),
        ("fix", &fix),
        ("lk", &lk),
        ("n", &n),
        ("o", &o),
        ("s", &s),
        ("p", &p),
        ("v", &v),
        ("w", &w),
        ("t", &t),
        ("h", &h),
        ("key_n", &key_n),
        ("key_o", &key_o),
        ("key_old", &key_old),
        ("key_r", &key_r),
        ("data_n", &data_n),
        ("data_n_v", &data_n_v),
        ("data_o_v", &data_o_v),
        ("rx_n", &rx_n),
        ("rx_o", &rx_o),
        ("extra_insert", &extra_insert),
        ("extra_update", &extra_update),
        ("extra_delete", &extra_delete),
        ("changed_o_n", &changed_o_n),
        ("when_changed", &when_changed),
        ("pk_join_o_n", &pk_join_o_n),
        ("pk_join_t_s", &pk_join_t_s),
        ("pk_cols_n", &pk_cols_n),
        ("o_missing", &o_missing),
        ("changed_at_n", &changed_at_n),
        ("record_changes_trigger", &record_changes_trigger),
    ];
    // The hash chain (chain/*.sql), or none (--no-chain).
    let chain_link = |prev: Sql, changed: &Sql, op: &str| -> Result<Sql> {
        if opts.no_chain {
            return Ok(Sql::code("NULL, NULL"));
        }
        let op = Sql::literal(op);
        let mut with = values.clone();
        with.extend([("prev", &prev), ("changed", changed), ("op", &op)]);
        template::fill_some(sql::CHAIN_LINK, &with)
    };
    let changed_at = sql_format!("{}.changed_at", s);
    let chain_insert = chain_link(sql_format!("{}.prev", s), &changed_at, "insert")?;
    let chain_update = chain_link(sql_format!("{}.hash", p), &changed_at, "update")?;
    let chain_delete = chain_link(sql_format!("{}.hash", p), &ts, "delete")?;
    // Where a record's previous row comes from: the history index, or (partitioned activity
    // table) the record's head, which every history INSERT then moves.
    let (latest, insert_probe, fixup_probe) = if heads {
        (sql::HEADS_LATEST, sql::HEADS_INSERT, sql::HEADS_FIXUP)
    } else {
        (sql::CHAIN_PROBE, sql::PROBE_INSERT, sql::PROBE_FIXUP)
    };
    let chain_probe = if opts.no_chain {
        Sql::default()
    } else {
        template::fill_some(latest, &values)?
    };
    let insert_probe = template::fill_some(insert_probe, &values)?;
    let fixup_probe = template::fill_some(fixup_probe, &values)?;
    let heads_write = if heads {
        template::fill_some(sql::HEADS_WRITE, &values)?
    } else {
        Sql::default()
    };
    let mut values = values;
    values.extend([
        ("chain_insert", &chain_insert),
        ("chain_update", &chain_update),
        ("chain_delete", &chain_delete),
        ("chain_probe", &chain_probe),
        ("insert_probe", &insert_probe),
        ("fixup_probe", &fixup_probe),
        ("heads_write", &heads_write),
    ]);
    // The delete rows are written from three sources (capture_delete_rows.sql).
    let delete_rows = |source: &Sql| {
        let mut with_source = values.clone();
        with_source.push(("source", source));
        template::fill_some(sql::CAPTURE_DELETE_ROWS, &with_source)
    };
    let vanished = sql_format!(
        "(SELECT {}.* FROM chrononaut_old AS {} WHERE NOT EXISTS \
         (SELECT 1 FROM chrononaut_new AS {} WHERE {}))",
        x,
        x,
        y,
        pk_join_x_y
    );
    let from_table = delete_rows(&table_sql)?;
    let from_old = delete_rows(&Sql::code("chrononaut_old"))?;
    let from_vanished = delete_rows(&vanished)?;
    let mut all = values.clone();
    all.extend([
        ("delete_rows_from_table", &from_table),
        ("delete_rows_from_old", &from_old),
        ("delete_rows_from_vanished", &from_vanished),
    ]);
    template::fill_some(sql::CAPTURE, &all)
}

/// A fingerprint of a table's generated DDL: when it differs from the one recorded at its last
/// `track`, the installed functions are out of date. FNV-1a, so that it is the same across
/// builds and Rust versions.
pub(crate) fn fingerprint(ddl: &Sql) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in ddl.as_str().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The DDL that removes a table's triggers and capture functions.
pub(crate) fn untrack_ddl(table: &Table, suffix: &str) -> Result<Sql> {
    let names = FunctionNames::new(suffix);
    template::fill(
        sql::UNTRACK,
        &[
            ("table", &table.quoted_sql()),
            ("fn_key", &names.key),
            ("fn_lock_check", &names.lock_check),
            ("fn_lock_triggers", &names.lock_triggers),
            ("fn_insert", &names.insert),
            ("fn_update", &names.update),
            ("fn_delete", &names.delete),
            ("fn_version", &names.version),
        ],
    )
}
