//! `#[derive(Versioned)]` for [chrononaut](https://docs.rs/chrononaut): implements
//! `chrononaut::Versioned` for a struct that mirrors a tracked table, so its history reads
//! come back typed. Use it through the `chrononaut` crate (feature `derive`, on by default):
//!
//! ```
//! use chrononaut::Versioned;
//!
//! #[derive(serde::Deserialize, Versioned)]
//! #[chrononaut(table = "billing.accounts")]   // default: the struct name in snake_case
//! struct Account {
//!     #[chrononaut(key)]                        // default: the field named `id`
//!     number: i32,
//!     owner: String,
//! }
//!
//! assert_eq!(Account::TABLE, "billing.accounts");
//! let account = Account { number: 7, owner: "alice".into() };
//! assert_eq!(account.key()?, serde_json::json!({"number": 7}));
//! # Ok::<(), chrononaut::Error>(())
//! ```
//!
//! Attributes:
//!
//! - on the struct, `#[chrononaut(table = "schema.table")]`: the table (any name SQL accepts;
//!   default: the struct's name in snake_case, `AccountEntry` → `account_entry`);
//! - on fields, `#[chrononaut(key)]`: the primary-key fields (all of them, for a composite
//!   key). Without any, a field named `id` is the key. A key field's column is its
//!   `#[serde(rename = "...")]` name when it has one, else the field's name.

use heck::ToSnakeCase;
use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    Attribute, Data, DeriveInput, Expr, ExprLit, Fields, Ident, Lit, LitStr, parse_macro_input,
};

/// Implements `chrononaut::Versioned` (typed history reads) for a struct with named fields.
/// See the `chrononaut::Versioned` trait for the methods it brings.
///
/// ```
/// #[derive(serde::Deserialize, chrononaut::Versioned)]
/// struct OrderLine {
///     #[chrononaut(key)]
///     order_id: i64,
///     #[chrononaut(key)]
///     line: i32,
///     qty: i32,
/// }
///
/// use chrononaut::Versioned;
/// assert_eq!(OrderLine::TABLE, "order_line");
/// assert_eq!(OrderLine::KEY_COLUMNS, ["order_id", "line"]);
/// ```
#[proc_macro_derive(Versioned, attributes(chrononaut))]
pub fn derive_versioned(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Gathers several errors into one (each keeps its own span).
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

struct KeyField<'a> {
    member: &'a Ident,
    column: String,
    ty: &'a syn::Type,
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) => named,
            Fields::Unnamed(unnamed) => {
                return Err(syn::Error::new(
                    unnamed.span(),
                    format!(
                        "#[derive(Versioned)] needs named fields (the table's columns); `{name}` is a tuple struct"
                    ),
                ));
            }
            Fields::Unit => {
                return Err(syn::Error::new(
                    name.span(),
                    format!(
                        "#[derive(Versioned)] needs named fields (the table's columns); `{name}` has none"
                    ),
                ));
            }
        },
        Data::Enum(e) => {
            return Err(syn::Error::new(
                e.enum_token.span,
                format!(
                    "#[derive(Versioned)] works on structs with named fields (one per column); `{name}` is an enum"
                ),
            ));
        }
        Data::Union(u) => {
            return Err(syn::Error::new(
                u.union_token.span,
                format!(
                    "#[derive(Versioned)] works on structs with named fields (one per column); `{name}` is a union"
                ),
            ));
        }
    };

    let mut errors = Errors::default();
    let table = match container_table(&input.attrs) {
        Ok(Some(table)) => table.value(),
        Ok(None) => name.unraw().to_string().to_snake_case(),
        Err(e) => {
            errors.push(e);
            String::new()
        }
    };

    let mut keys = Vec::new();
    for field in &fields.named {
        let Some(member) = &field.ident else { continue };
        match is_key(&field.attrs) {
            Ok(true) => keys.push(KeyField {
                member,
                column: column_name(field),
                ty: &field.ty,
            }),
            Ok(false) => {}
            Err(e) => errors.push(e),
        }
    }
    errors.finish()?;

    if keys.is_empty() {
        match fields
            .named
            .iter()
            .find(|f| f.ident.as_ref().is_some_and(|i| i.unraw() == "id"))
        {
            Some(
                field @ syn::Field {
                    ident: Some(member),
                    ..
                },
            ) => keys.push(KeyField {
                member,
                column: column_name(field),
                ty: &field.ty,
            }),
            _ => {
                return Err(syn::Error::new(
                    name.span(),
                    format!(
                        "`{name}` has no key field: mark the primary-key field(s) with #[chrononaut(key)], or name the key field `id`"
                    ),
                ));
            }
        }
    }

    let columns = keys.iter().map(|k| &k.column);
    let pushes = keys.iter().map(|k| {
        let member = k.member;
        let column = &k.column;
        quote_spanned! {k.ty.span()=>
            key.field(#column, &self.#member)?;
        }
    });
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    // A generic struct is versioned where its parameters let it be (as serde's own bounds).
    let mut where_clause = where_clause.cloned();
    if input.generics.type_params().next().is_some() {
        where_clause
            .get_or_insert_with(|| syn::parse_quote!(where))
            .predicates
            .push(syn::parse_quote!(
                #name #ty_generics: ::chrononaut::__private::DeserializeOwned
                    + ::core::marker::Send
                    + ::core::marker::Sync
            ));
    }
    let table_lit = LitStr::new(&table, Span::call_site());
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics ::chrononaut::Versioned for #name #ty_generics #where_clause {
            const TABLE: &'static str = #table_lit;
            const KEY_COLUMNS: &'static [&'static str] = &[#(#columns),*];

            fn key(&self) -> ::chrononaut::Result<::chrononaut::__private::Value> {
                let mut key = ::chrononaut::KeyBuilder::new(#table_lit);
                #(#pushes)*
                ::chrononaut::Result::Ok(key.finish())
            }
        }
    })
}

/// `table = "..."` from the struct's `#[chrononaut(...)]` attributes.
fn container_table(attrs: &[Attribute]) -> syn::Result<Option<LitStr>> {
    let mut table: Option<LitStr> = None;
    let mut errors = Errors::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("chrononaut")) {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("table") {
                let expr: Expr = meta.value()?.parse()?;
                let Expr::Lit(ExprLit {
                    lit: Lit::Str(lit), ..
                }) = expr
                else {
                    return Err(syn::Error::new(
                        expr.span(),
                        "`table` takes a string literal: #[chrononaut(table = \"schema.table\")]",
                    ));
                };
                if lit.value().trim().is_empty() {
                    return Err(syn::Error::new(lit.span(), "`table` must not be empty"));
                }
                if table.is_some() {
                    return Err(meta.error("`table` is given twice"));
                }
                table = Some(lit);
                Ok(())
            } else if meta.path.is_ident("key") {
                Err(meta.error(
                    "`key` goes on fields: put #[chrononaut(key)] on each primary-key field",
                ))
            } else {
                Err(meta.error(format!(
                    "unknown chrononaut attribute `{}`; the struct takes `table = \"schema.table\"`",
                    path_text(&meta.path)
                )))
            }
        });
        if let Err(e) = parsed {
            errors.push(e);
        }
    }
    errors.finish()?;
    Ok(table)
}

/// Whether a field carries `#[chrononaut(key)]`.
fn is_key(attrs: &[Attribute]) -> syn::Result<bool> {
    let mut key = false;
    let mut errors = Errors::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("chrononaut")) {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("key") {
                if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                    return Err(meta.error("`key` takes no value: #[chrononaut(key)]"));
                }
                key = true;
                Ok(())
            } else if meta.path.is_ident("table") {
                Err(meta
                    .error("`table` goes on the struct: #[chrononaut(table = \"schema.table\")]"))
            } else {
                Err(meta.error(format!(
                    "unknown chrononaut field attribute `{}`; a field takes `key`",
                    path_text(&meta.path)
                )))
            }
        });
        if let Err(e) = parsed {
            errors.push(e);
        }
    }
    errors.finish()?;
    Ok(key)
}

/// The column a field deserializes from: its `#[serde(rename = "...")]`, else its name.
fn column_name(field: &syn::Field) -> String {
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let mut rename = None;
        // Other serde options are serde's business: skip them, and on anything unexpected
        // fall back to the field name (serde reports its own attribute errors).
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") && meta.input.peek(syn::Token![=]) {
                let lit: LitStr = meta.value()?.parse()?;
                rename = Some(lit.value());
            } else if meta.input.peek(syn::Token![=]) {
                let _: Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let _: proc_macro2::Group = meta.input.parse()?;
            }
            Ok(())
        });
        if let Some(rename) = rename {
            return rename;
        }
    }
    field
        .ident
        .as_ref()
        .map(|i| i.unraw().to_string())
        .unwrap_or_default()
}

fn path_text(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}
