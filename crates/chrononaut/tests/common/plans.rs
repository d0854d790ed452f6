//! Plans of the statements a test ran, as auto_explain reports them to the client (NOTICEs,
//! `log_nested_statements` for the statements inside chrononaut's functions), and the scans of
//! the activity table in one plan.

use std::sync::{Arc, Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{Layer, Registry};

/// The NOTICE messages sqlx logged (target `sqlx::postgres::notice`), for the whole process.
pub fn notices() -> Arc<Mutex<Vec<String>>> {
    static NOTICES: OnceLock<Arc<Mutex<Vec<String>>>> = OnceLock::new();
    NOTICES
        .get_or_init(|| {
            let store = Arc::new(Mutex::new(Vec::new()));
            let subscriber = Registry::default().with(Collect(store.clone()));
            tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
            store
        })
        .clone()
}

/// The SQL that makes a superuser's session report the plan of every statement it runs,
/// nested ones included, as NOTICEs.
pub const AUTO_EXPLAIN: &str = "LOAD 'auto_explain'; \
     SET auto_explain.log_min_duration = 0; \
     SET auto_explain.log_nested_statements = on; \
     SET auto_explain.log_level = notice; \
     SET client_min_messages = notice;";

struct Collect(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> Layer<S> for Collect {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "sqlx::postgres::notice" {
            return;
        }
        struct Message(String);
        impl Visit for Message {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
            fn record_str(&mut self, field: &Field, value: &str) {
                if field.name() == "message" {
                    self.0 = value.to_owned();
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message.0);
    }
}

/// One scan node of the activity table (or of one of its indexes) in a plan.
#[derive(Debug)]
pub struct HistoryScan {
    /// The node's line, e.g. `Index Scan using ... on chrononaut_activity a`.
    pub node: String,
    /// Its condition lines (`Index Cond: ...`, `Filter: ...`).
    pub conds: Vec<String>,
}

impl HistoryScan {
    pub fn is_seq_scan(&self) -> bool {
        self.node.starts_with("Seq Scan") || self.node.starts_with("Parallel Seq Scan")
    }

    /// Whether an index condition (or a bitmap's recheck) of this scan contains `text`.
    pub fn index_cond_has(&self, text: &str) -> bool {
        self.conds
            .iter()
            .any(|c| (c.contains("Index Cond") || c.contains("Recheck Cond")) && c.contains(text))
    }

    /// Whether a filter (a condition checked on each row the scan reads) contains `text`.
    pub fn filter_has(&self, text: &str) -> bool {
        self.conds
            .iter()
            .any(|c| c.trim_start().starts_with("Filter:") && c.contains(text))
    }
}

/// The scans of the activity table in one (text format) plan.
pub fn history_scans(plan: &str) -> Vec<HistoryScan> {
    let lines: Vec<&str> = plan.lines().collect();
    let mut scans = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let l = line.trim_start().trim_start_matches("->  ");
        let reads_history = l.contains(" Scan")
            && (l.contains(" on chrononaut_activity") || l.contains(" on ix_chrononaut_activity"));
        if !reads_history {
            continue;
        }
        // the condition lines of this scan node follow it, more indented
        let indent = line.len() - line.trim_start().len();
        let conds = lines[i + 1..]
            .iter()
            .take_while(|c| c.len() - c.trim_start().len() > indent && !c.contains("->"))
            .map(|c| c.trim().to_owned())
            .collect();
        scans.push(HistoryScan {
            node: l.to_owned(),
            conds,
        });
    }
    scans
}

/// Like [`AUTO_EXPLAIN`], in JSON, with each node's actual rows and buffers (no timing).
pub const AUTO_EXPLAIN_JSON: &str = "LOAD 'auto_explain'; \
     SET auto_explain.log_min_duration = 0; \
     SET auto_explain.log_nested_statements = on; \
     SET auto_explain.log_level = notice; \
     SET auto_explain.log_format = json; \
     SET auto_explain.log_analyze = on; \
     SET auto_explain.log_buffers = on; \
     SET auto_explain.log_timing = off; \
     SET client_min_messages = notice;";

/// Runs `sql` on `conn` (a session that ran [`AUTO_EXPLAIN_JSON`]) and returns the plans
/// (`{"Query Text": ..., "Plan": ...}`) of the statements it ran, nested ones included, whose
/// text names the activity table. The notices are the process's: only one test per test
/// binary may use auto_explain.
pub async fn plans_of(conn: &mut sqlx::PgConnection, sql: &str) -> Vec<serde_json::Value> {
    let store = notices();
    let before = store.lock().unwrap_or_else(|e| e.into_inner()).len();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let messages = store.lock().unwrap_or_else(|e| e.into_inner())[before..].to_vec();
    messages
        .iter()
        .filter_map(|m| m.split_once("plan:\n").map(|(_, json)| json))
        .filter_map(|json| serde_json::from_str::<serde_json::Value>(json).ok())
        .filter(|p| {
            p["Query Text"]
                .as_str()
                .is_some_and(|q| q.contains("chrononaut_activity"))
        })
        .collect()
}

/// Every node of a JSON plan (depth first).
pub fn nodes(plan: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = vec![plan];
    if let Some(children) = plan["Plans"].as_array() {
        for c in children {
            out.extend(nodes(c));
        }
    }
    out
}
