//! Parsing what people type: record keys (`id=5`, `org=acme,num=7`, a JSON object) and times.
//! The command line and the web pages read them the same way.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value};

/// A record key as typed: `id=5`, `org=acme,num=7` (values as text; the library converts them
/// to the key columns' types) or a JSON object (`{"id": 5}`).
///
/// ```
/// let key = chrononaut_serve::parse_key("org=acme,num=7").unwrap();
/// assert_eq!(key, serde_json::json!({"org": "acme", "num": "7"}));
/// assert!(chrononaut_serve::parse_key("nonsense").is_err());
/// ```
pub fn parse_key(text: &str) -> Result<Value, String> {
    let text = text.trim();
    if text.starts_with('{') {
        return serde_json::from_str(text)
            .map_err(|e| format!("key {text:?} is not valid JSON: {e}"));
    }
    let mut key = Map::new();
    for part in text.split(',').filter(|p| !p.trim().is_empty()) {
        let (name, value) = part.split_once('=').ok_or_else(|| {
            format!("key {text:?}: expected column=value[,column=value...] or a JSON object")
        })?;
        key.insert(
            name.trim().to_owned(),
            Value::String(value.trim().to_owned()),
        );
    }
    if key.is_empty() {
        return Err("the key is empty: give column=value or a JSON object".into());
    }
    Ok(Value::Object(key))
}

/// A time: RFC 3339, or `YYYY-MM-DD HH:MM[:SS[.f]]`, `YYYY-MM-DDTHH:MM[:SS[.f]]` (what a
/// browser's `datetime-local` input sends) or `YYYY-MM-DD`, in UTC.
///
/// ```
/// let t = chrononaut_serve::parse_time("2024-05-01T12:00").unwrap();
/// assert_eq!(t.to_rfc3339(), "2024-05-01T12:00:00+00:00");
/// ```
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    Err(format!(
        "{text:?} is not a time: use RFC 3339 (2024-05-01T12:00:00Z) or YYYY-MM-DD HH:MM[:SS] (UTC)"
    ))
}

/// `{"id":5}` → `id=5`; composite keys `org=acme,num=7`.
pub fn key_text(key: &Value) -> String {
    match key {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", value_text(v)))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

/// A JSON value for people: strings bare, everything else as JSON.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A value as PostgreSQL printed it, for humans: strings bare, everything else as stored
/// (`350.00`, not the f64 `350.0` of a `Value`).
pub fn raw_text(v: &serde_json::value::RawValue) -> String {
    let text = v.get();
    if !text.trim_start().starts_with('"') {
        // a number, boolean, null, array or object: as stored (no failed string parse)
        return text.to_owned();
    }
    serde_json::from_str::<String>(text).unwrap_or_else(|_| text.to_owned())
}

/// `2024-05-01 12:00:00.123456` (UTC to the microsecond, as the CLI prints it: a time copied
/// from a page finds the same version).
pub fn time_text(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

/// A version as an entry of `chrononaut log TABLE KEY --json` (and of `/api/record`): its meta,
/// the columns it changed and the hidden columns it changed (names only).
pub fn version_json(
    snapshot: &chrononaut::Snapshot,
    changed_columns: impl serde::Serialize,
    hidden_changed: impl serde::Serialize,
) -> Value {
    let m = snapshot.meta();
    serde_json::json!({
        "version": m.version,
        "changed": m.changed,
        "operation": m.operation,
        "user_id": m.user_id(),
        "db_user": m.db_user(),
        "remote_addr": m.remote_addr(),
        "rationale": m.rationale(),
        "changed_columns": changed_columns,
        "hidden_changed": hidden_changed,
        "extra_info": m.extra_info,
    })
}

/// A lock or unlock event as an entry of `chrononaut log TABLE KEY --json`.
pub fn lock_json(l: &chrononaut::LockEvent) -> Value {
    serde_json::json!({
        "version": l.version,
        "changed": l.changed,
        "operation": l.operation,
        "user_id": l.user_id(),
        "remote_addr": l.remote_addr(),
        "rationale": l.rationale(),
        "db_user": l.db_user(),
        "reason": l.reason(),
        "extra_info": l.extra_info,
    })
}
