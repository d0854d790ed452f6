//! The benchmark's SQL: `.sql` files next to the crate, filled by name.
//!
//! Placeholders are `{{name}}`; values are built only by [`ident`], [`literal`], [`int`] or
//! taken from the benchmark's own constant fragments, and a placeholder left unfilled (or a
//! value for none) is an error.

use crate::Res;

pub const TABLE: &str = include_str!("../sql/table.sql");
pub const FILL_TABLE: &str = include_str!("../sql/fill_table.sql");
pub const REFERENCE_MINIMAL: &str = include_str!("../sql/reference_minimal.sql");
pub const REFERENCE_ROWLEVEL: &str = include_str!("../sql/reference_rowlevel.sql");
pub const FILL_HISTORY: &str = include_str!("../sql/fill_history.sql");
pub const SERVER_UPDATE: &str = include_str!("../sql/server_update.sql");
pub const SERVER_INSERT: &str = include_str!("../sql/server_insert.sql");
pub const SERVER_DELETE: &str = include_str!("../sql/server_delete.sql");
pub const SERVER_BULK: &str = include_str!("../sql/server_bulk.sql");

/// A double-quoted identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A single-quoted string literal (standard_conforming_strings is on in PostgreSQL 15).
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// An integer literal.
pub fn int(value: i64) -> String {
    value.to_string()
}

/// Fills every `{{name}}` of `template` with its value; each value must be used.
pub fn fill(template: &str, values: &[(&str, String)]) -> Res<String> {
    let mut out = template.to_owned();
    for (name, value) in values {
        let placeholder = format!("{{{{{name}}}}}");
        if !out.contains(&placeholder) {
            return Err(format!("SQL template has no placeholder {placeholder}").into());
        }
        out = out.replace(&placeholder, value);
    }
    // Comments may mention placeholders in prose only as {{name}} of a filled value; an
    // unfilled one left anywhere is a bug in the caller.
    if let Some(at) = out.find("{{") {
        let rest: String = out[at..].chars().take(40).collect();
        return Err(format!("SQL template left unfilled: {rest}").into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_refuses_missing_and_unused_placeholders() {
        assert_eq!(
            fill(
                "SELECT {{a}} FROM {{t}}",
                &[("a", int(1)), ("t", ident("x\"y"))]
            )
            .expect("filled"),
            "SELECT 1 FROM \"x\"\"y\""
        );
        assert!(fill("SELECT {{a}}", &[]).is_err());
        assert!(fill("SELECT 1", &[("a", int(1))]).is_err());
        assert_eq!(literal("it's"), "'it''s'");
    }
}
