//! Generated SQL: templates filled in one pass, strictly, from values that only the quoting
//! helpers below can build.
//!
//! The `.sql` files under `sql/` hold `{{name}}` placeholders. [`fill`] replaces each of them in
//! a single left-to-right pass: a value inserted for one placeholder is never scanned again, so
//! an identifier that happens to contain `{{other}}` stays what it is. A placeholder without a
//! value, a value without a placeholder, or a malformed `{{` is an error (in release builds
//! too): a template and its filler that drift apart fail loudly instead of producing SQL that
//! means something else.
//!
//! Function bodies in templates are dollar-quoted with the tag `$chrononaut$`. Since values
//! (quoted identifiers, literals) can contain any text, [`fill`] picks a tag that occurs in no
//! value and in no other part of the template (`$chrononaut$`, else `$chrononaut_1$`, ...) and
//! writes that tag in place of every `$chrononaut$` of the template, so no value can close a
//! body early. Templates use no other dollar-quote tags ([`fill`] refuses `$$` and other tags,
//! which a value could close).
//!
//! Values are [`Sql`]: made only from quoted identifiers, escaped literals, numbers, fixed text
//! written in this crate (`&'static str`) and compositions of those, never from a runtime string
//! as is.

use std::fmt::Write as _;

use crate::error::{Error, Result};

/// The dollar-quote tag that templates write around function bodies.
const BODY_TAG: &str = "$chrononaut$";

/// A piece of SQL text that is safe to splice into a template.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Sql(String);

impl std::fmt::Display for Sql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Sql {
    /// A quoted identifier: `a"b` becomes `"a""b"`.
    pub(crate) fn ident(name: &str) -> Sql {
        Sql(crate::ident::quote_ident(name))
    }

    /// A schema-qualified, quoted name: `"billing"."accounts"`.
    pub(crate) fn qualified(schema: &str, name: &str) -> Sql {
        Sql(format!(
            "{}.{}",
            crate::ident::quote_ident(schema),
            crate::ident::quote_ident(name)
        ))
    }

    /// A string literal that reads the same whatever `standard_conforming_strings` says (see
    /// [`crate::ident::quote_literal`]).
    pub(crate) fn literal(value: &str) -> Sql {
        Sql(crate::ident::quote_literal(value))
    }

    /// An operator name (`=`, `~=~`), which SQL cannot quote: `None` unless it is made of
    /// operator characters only (as every name in pg_operator is).
    pub(crate) fn operator_name(name: &str) -> Option<Sql> {
        (!name.is_empty() && name.bytes().all(|b| b"+-*/<>=~!@#%^&|`?".contains(&b)))
            .then(|| Sql(name.to_owned()))
    }

    /// An integer.
    pub(crate) fn int(value: i64) -> Sql {
        Sql(value.to_string())
    }

    /// Fixed SQL text written in this crate's source.
    pub(crate) fn code(text: &'static str) -> Sql {
        Sql(text.to_owned())
    }

    /// The items, separated by `separator` (fixed text).
    pub(crate) fn join<I: IntoIterator<Item = Sql>>(items: I, separator: &'static str) -> Sql {
        let mut out = String::new();
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                out.push_str(separator);
            }
            out.push_str(&item.0);
        }
        Sql(out)
    }

    /// The text, to splice into a format string of fixed SQL (see [`sql_format`]).
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, for running it.
    pub(crate) fn into_string(self) -> String {
        self.0
    }

    /// Wraps text that [`sql_format`] assembled from a fixed format string and [`Sql`]
    /// arguments. Not for anything else.
    pub(crate) fn assembled(text: String) -> Sql {
        Sql(text)
    }
}

/// `format!` for SQL: the format string is fixed text of this crate, every argument an [`Sql`]
/// (anything else does not compile). Use positional `{}` only: an inline `{name}` capture would
/// bypass the type check.
macro_rules! sql_format {
    ($fmt:literal $(, $arg:expr)* $(,)?) => {
        $crate::template::Sql::assembled(format!($fmt $(, $crate::template::Sql::as_str(&$arg))*))
    };
}
pub(crate) use sql_format;

/// Fills the `{{name}}` placeholders of `template` with `values`, in one pass, strictly (see the
/// module documentation).
pub(crate) fn fill(template: &str, values: &[(&str, &Sql)]) -> Result<Sql> {
    let values: Vec<(&str, &str)> = values.iter().map(|(n, v)| (*n, v.as_str())).collect();
    fill_text(template, &values).map(Sql)
}

/// [`fill`] with those of `values` whose placeholder `template` has.
pub(crate) fn fill_some(template: &str, values: &[(&str, &Sql)]) -> Result<Sql> {
    let values: Vec<(&str, &str)> = values.iter().map(|(n, v)| (*n, v.as_str())).collect();
    fill_text_some(template, &values).map(Sql)
}

/// [`fill`] for values that are SQL text already quoted by [`crate::ident`] (the runtime
/// queries of history reads, integrity and conversion). Same single strict pass.
pub(crate) fn fill_text(template: &str, values: &[(&str, &str)]) -> Result<String> {
    let tag = body_tag(template, values)?;
    let mut out = String::with_capacity(template.len() + 256);
    let mut used = vec![false; values.len()];
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start].replace(BODY_TAG, &tag));
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| bad(template, "a `{{` without `}}`"))?;
        let name = &after[..end];
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(bad(
                template,
                &format!("malformed placeholder {{{{{name}}}}}"),
            ));
        }
        let index = values
            .iter()
            .position(|(n, _)| *n == name)
            .ok_or_else(|| bad(template, &format!("no value for {{{{{name}}}}}")))?;
        used[index] = true;
        out.push_str(values[index].1);
        rest = &after[end + 2..];
    }
    out.push_str(&rest.replace(BODY_TAG, &tag));
    if let Some(((name, _), _)) = values.iter().zip(&used).find(|(_, u)| !**u) {
        return Err(bad(template, &format!("{{{{{name}}}}} does not occur")));
    }
    Ok(out)
}

/// [`fill_text`] with those of `values` whose placeholder `template` has: for one set of values
/// that serves several templates. A placeholder without a value is still an error.
pub(crate) fn fill_text_some(template: &str, values: &[(&str, &str)]) -> Result<String> {
    let used: Vec<(&str, &str)> = values
        .iter()
        .copied()
        .filter(|(name, _)| template.contains(&format!("{{{{{name}}}}}")))
        .collect();
    fill_text(template, &used)
}

/// A dollar-quote tag for the function bodies of `template` that no value contains. Other tags
/// of the template (`$$`, `$x$`) cannot be renamed: a value holding one of them is refused.
fn body_tag(template: &str, values: &[(&str, &str)]) -> Result<String> {
    let without_ours = template.replace(BODY_TAG, " ");
    for found in foreign_tags(&without_ours) {
        if let Some((name, _)) = values.iter().find(|(_, v)| v.contains(found.as_str())) {
            return Err(Error::InvalidOptions(format!(
                "the value of {{{{{name}}}}} contains {found}, which would end a function body of the SQL it goes into; rename it"
            )));
        }
    }
    let mut tag = BODY_TAG.to_owned();
    let mut n = 0;
    while values.iter().any(|(_, v)| v.contains(tag.as_str())) || without_ours.contains(&tag) {
        n += 1;
        tag.clear();
        let _ = write!(tag, "$chrononaut_{n}$");
    }
    Ok(tag)
}

/// The dollar-quote tags (`$$`, `$name$`) in `text`, outside `--` comments.
fn foreign_tags(text: &str) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for line in text.lines() {
        let code = line.split("--").next().unwrap_or_default();
        let bytes = code.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if b != b'$'
                || (i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'))
            {
                continue;
            }
            let tail = &code[i + 1..];
            let len = tail
                .bytes()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                .count();
            let name = &tail[..len];
            let tag = format!("${name}$");
            if tail[len..].starts_with('$')
                && !name.bytes().next().is_some_and(|c| c.is_ascii_digit())
                && !tags.contains(&tag)
            {
                tags.push(tag);
            }
        }
    }
    tags
}

fn bad(template: &str, what: &str) -> Error {
    let first = template.lines().next().unwrap_or_default();
    Error::Internal(format!("SQL template ({first}): {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_strict() {
        let a = Sql::ident("{{b}}");
        let b = Sql::ident("x");
        let out = fill("SELECT {{a}}, {{b}}", &[("a", &a), ("b", &b)]).expect("filled");
        assert_eq!(out.as_str(), "SELECT \"{{b}}\", \"x\"");
        assert!(fill("SELECT {{a}}", &[]).is_err(), "missing value");
        assert!(
            fill("SELECT 1", &[("a", &a)]).is_err(),
            "value without placeholder"
        );
        assert!(fill("SELECT {{A}}", &[]).is_err(), "malformed");
        assert!(fill("SELECT {{a", &[("a", &a)]).is_err(), "unclosed");
    }

    #[test]
    fn body_tags_cannot_be_closed_by_values() {
        let hostile = Sql::ident("a$chrononaut$b");
        let out = fill(
            "CREATE FUNCTION f() AS $chrononaut$ SELECT {{x}} $chrononaut$;",
            &[("x", &hostile)],
        )
        .expect("filled");
        assert_eq!(
            out.as_str(),
            "CREATE FUNCTION f() AS $chrononaut_1$ SELECT \"a$chrononaut$b\" $chrononaut_1$;"
        );
        // other tags stay, but no value may hold them
        let dollars = Sql::ident("x$$y");
        assert!(fill("DO $$ SELECT {{x}} $$", &[("x", &dollars)]).is_err());
        assert!(fill("DO $x$ SELECT {{x}} $x$", &[("x", &dollars)]).is_ok());
        // positional parameters and `--` comments are not tags
        let text = fill_text(
            "SELECT $1::text, {{x}} -- costs $$ here",
            &[("x", "\"x$$y\"")],
        );
        assert!(text.is_ok(), "{text:?}");
    }

    #[test]
    fn format_takes_sql_only() {
        let t = Sql::qualified("s", "t\"x");
        let q = sql_format!("SELECT * FROM {} WHERE {}", t, Sql::code("true"));
        assert_eq!(q.as_str(), "SELECT * FROM \"s\".\"t\"\"x\" WHERE true");
    }
}
