//! Quoting of identifiers and literals: every name that reaches SQL text goes through here.

/// Quotes an identifier for SQL: `a"b` becomes `"a""b"`.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal for SQL: `it's` becomes `'it''s'`. A value with a backslash becomes
/// an escape string with the backslash doubled (`E'bs\\'`), which reads the same whether the
/// session that parses it (or compiles a function body holding it) has
/// `standard_conforming_strings` on or off.
///
/// Used only for names that the library itself read from the catalog and embeds in
/// generated trigger functions; values from users travel as bind parameters.
pub(crate) fn quote_literal(value: &str) -> String {
    let quoted = value.replace('\'', "''");
    if quoted.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

/// A `text[]` literal of the given strings, e.g. `ARRAY['a','b']::text[]`.
pub(crate) fn text_array(values: &[String]) -> String {
    let items: Vec<String> = values.iter().map(|v| quote_literal(v)).collect();
    format!("ARRAY[{}]::text[]", items.join(", "))
}

/// A name that is not in `taken`: `base`, else `base_1`, `base_2`, ...
pub(crate) fn fresh_name(base: &str, taken: &[String]) -> String {
    let mut candidate = base.to_owned();
    let mut n = 0;
    while taken.iter().any(|t| t.eq_ignore_ascii_case(&candidate)) {
        n += 1;
        candidate = format!("{base}_{n}");
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(quote_ident("Odd \"Name\""), "\"Odd \"\"Name\"\"\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal(r"bs\'"), r"E'bs\\'''");
        assert_eq!(
            text_array(&["a".into(), "b'c".into()]),
            "ARRAY['a', 'b''c']::text[]"
        );
        assert_eq!(text_array(&[]), "ARRAY[]::text[]");
    }

    #[test]
    fn fresh_names_avoid_columns() {
        let taken = vec!["n".to_owned(), "N_1".to_owned()];
        assert_eq!(fresh_name("n", &taken), "n_2");
        assert_eq!(fresh_name("o", &taken), "o");
    }
}
