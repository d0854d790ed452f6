//! The page layout and small pieces shared by the pages. Every value goes through maud's
//! `(...)` splices, which HTML-escape it; nothing here writes unescaped text from the database.

use axum::response::Html;
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::params::{key_text, time_text};

/// The style sheet: small, inline, no external requests.
const STYLE: &str = r#"
body { font-family: system-ui, sans-serif; margin: 0; color: #1d232a; background: #f7f8fa; }
header { background: #1d3557; color: #fff; padding: .6rem 1.2rem; display: flex; gap: 1.4rem; align-items: baseline; }
header a { color: #fff; text-decoration: none; } header .brand { font-weight: 700; }
main { padding: 1rem 1.4rem; max-width: 72rem; }
table { border-collapse: collapse; background: #fff; margin: .4rem 0 1rem; }
th, td { border: 1px solid #d7dce2; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #eef1f5; }
code, .mono { font-family: ui-monospace, monospace; font-size: .92em; }
.version { background: #fff; border: 1px solid #d7dce2; border-left: 4px solid #457b9d; margin: .8rem 0; padding: .5rem .8rem; }
.version.delete { border-left-color: #c1121f; } .version.insert { border-left-color: #2a9d8f; }
.lock { background: #fff8e1; border: 1px solid #e9c46a; border-left: 4px solid #e9a23b; margin: .8rem 0; padding: .5rem .8rem; }
.meta { color: #4a5560; font-size: .92em; }
.from { background: #fde2e4; } .to { background: #d8f3dc; }
.hidden { color: #6c757d; font-style: italic; }
.warn { color: #9c4400; font-weight: 600; } .error { color: #c1121f; font-weight: 600; } .ok { color: #2a7d3f; font-weight: 600; }
form.inline { display: inline; } form.filters { background: #fff; border: 1px solid #d7dce2; padding: .5rem .8rem; margin: .5rem 0; }
form.filters label { margin-right: .8rem; } input, select, button { font: inherit; }
.pager { margin: .6rem 0; }
"#;

/// A whole page: layout, navigation, `body`.
pub fn page(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · chrononaut" }
                    style { (maud::PreEscaped(STYLE)) }
                }
                body {
                    header {
                        span.brand { "chrononaut" }
                        a href="/activity" { "Activity" }
                        a href="/tables" { "Tables" }
                        a href="/integrity" { "Integrity" }
                    }
                    main { (body) }
                }
            }
        }
        .into_string(),
    )
}

/// `?a=1&b=2` from pairs, each part percent-encoded.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    format!("?{}", out.finish())
}

/// The link to a record's timeline.
pub fn record_href(table: &str, key: &Value) -> String {
    format!(
        "/record{}",
        query(&[("table", table), ("key", &key.to_string())])
    )
}

/// A record key for people, linked to its timeline.
pub fn record_link(table: &str, key: &Value) -> Markup {
    html! { a href=(record_href(table, key)) { code { (key_text(key)) } } }
}

/// A time for people (UTC, to the microsecond), in a `<time>` element.
pub fn time(t: DateTime<Utc>) -> Markup {
    html! { time datetime=(t.to_rfc3339()) { (time_text(t)) } }
}

/// A stored value as PostgreSQL printed it: strings bare, everything else as stored JSON.
pub fn raw(v: &RawValue) -> String {
    serde_json::from_str::<String>(v.get()).unwrap_or_else(|_| v.get().to_owned())
}

/// `-` for nothing.
pub fn or_dash(v: Option<&str>) -> &str {
    v.unwrap_or("-")
}
