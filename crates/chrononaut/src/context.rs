//! The change context: who makes a change, from where and why.
//!
//! A context reaches the capture triggers through transaction-local settings
//! (`set_config(name, value, true)`), applied in one round trip. They end with the
//! transaction, so a pooled connection never carries one user's context to the next user.
//! Any client can set them too, e.g. from psql or a Python service:
//!
//! ```sql
//! BEGIN;
//! SELECT set_config('chrononaut.user_id', 'alice@example.com', true),
//!        set_config('chrononaut.remote_addr', '10.0.0.7', true),
//!        set_config('chrononaut.extra', '{"rationale": "customer asked"}', true);
//! UPDATE invoices SET amount = 12 WHERE id = 1;
//! COMMIT;
//! ```
//!
//! | setting | meaning |
//! |---|---|
//! | `chrononaut.user_id` | `user_info.user_id` |
//! | `chrononaut.remote_addr` | `user_info.remote_addr` |
//! | `chrononaut.extra` | JSON object merged into `extra_info`; satisfies strict mode |
//! | `chrononaut.extra_auto` | JSON object from context providers; does not satisfy strict mode |
//! | `chrononaut.record_extra` | JSON array of `{"table", "key", "extra"}`: extra info for single records |
//! | `chrononaut.suppress` | `on`: record nothing, bump no version (members of `chrononaut_admin` only) |
//! | `chrononaut.allow_delete_history` | `on`: allow deleting history (members of `chrononaut_admin` only) |

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::{AssertSqlSafe, PgConnection};

use crate::error::{Error, Result};
use crate::ident::quote_literal;
use crate::sql;
use crate::template;

/// Who makes a change, from where, and why; applied to one transaction.
///
/// ```
/// use chrononaut::ChangeContext;
/// use serde_json::json;
///
/// let ctx = ChangeContext::new()
///     .user("alice@example.com")
///     .remote_addr("10.0.0.7")
///     .rationale("customer asked for a refund")
///     .extra("ticket", json!(1732))
///     .record_extra("invoices", json!({"id": 5}), json!({"approved_by": "bob"}));
/// assert_eq!(ctx.extra_info()["rationale"], "customer asked for a refund");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangeContext {
    user_id: Option<String>,
    remote_addr: Option<String>,
    extra: Map<String, Value>,
    record_extra: Vec<RecordExtra>,
    suppress_versioning: bool,
    allow_deleting_history: bool,
}

/// Extra info for one record only (like the Python library's `append_change_info`, but it
/// applies to this transaction alone and never leaks into later versions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RecordExtra {
    table: String,
    key: Value,
    extra: Value,
}

impl ChangeContext {
    /// An empty context: `user_info = {"user_id": null, "remote_addr": null}`, `extra_info = {}`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets who makes the change (`user_info.user_id`).
    pub fn user(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// Sets the address the change comes from (`user_info.remote_addr`).
    pub fn remote_addr(mut self, addr: impl Into<String>) -> Self {
        self.remote_addr = Some(addr.into());
        self
    }

    /// Sets `extra_info.rationale`: why the change is made.
    pub fn rationale(self, why: impl Into<String>) -> Self {
        self.extra("rationale", Value::String(why.into()))
    }

    /// Adds one key to `extra_info`.
    pub fn extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// Merges a JSON object into `extra_info`. Anything but an object is refused.
    pub fn extra_json(mut self, extra: Value) -> Result<Self> {
        match extra {
            Value::Object(map) => {
                self.extra.extend(map);
                Ok(self)
            }
            other => Err(Error::InvalidContext(
                format!("extra change info must be a JSON object, got {other}").into(),
            )),
        }
    }

    /// Adds extra info for one record only: `table` as you would name it in SQL
    /// (`invoices`, `billing.invoices`), `key` its primary key as a JSON object, `extra` a JSON
    /// object merged into that record's `extra_info`.
    pub fn record_extra(mut self, table: impl Into<String>, key: Value, extra: Value) -> Self {
        self.record_extra.push(RecordExtra {
            table: table.into(),
            key,
            extra,
        });
        self
    }

    /// Suppresses versioning for the transaction: nothing is recorded and no version is
    /// bumped. Only members of the `chrononaut_admin` role may; anyone else's write fails with
    /// [`Error::PermissionDenied`].
    pub fn suppress_versioning(mut self) -> Self {
        self.suppress_versioning = true;
        self
    }

    /// Allows deleting rows of the activity table in this transaction. Only members of the
    /// `chrononaut_admin` role may.
    pub fn allow_deleting_history(mut self) -> Self {
        self.allow_deleting_history = true;
        self
    }

    pub(crate) fn has_record_extra(&self) -> bool {
        !self.record_extra.is_empty()
    }

    pub(crate) fn suppresses_versioning(&self) -> bool {
        self.suppress_versioning
    }

    /// The `user_info` object the history will get.
    pub fn user_info(&self) -> Value {
        serde_json::json!({"user_id": self.user_id, "remote_addr": self.remote_addr})
    }

    /// The explicit `extra_info` object (without context providers' fields).
    pub fn extra_info(&self) -> Value {
        Value::Object(self.extra.clone())
    }

    fn validate(&self) -> Result<()> {
        for entry in &self.record_extra {
            if !entry.key.is_object() || !entry.extra.is_object() {
                return Err(Error::InvalidContext(
                    format!(
                        "record extra info for {} needs a JSON object key and a JSON object extra",
                        entry.table
                    )
                    .into(),
                ));
            }
        }
        Ok(())
    }

    /// Applies this context to the open transaction on `conn`, in one round trip, adding the
    /// fields of `auto` (from context providers) under the explicit ones.
    ///
    /// The settings are transaction-local: call this after `BEGIN` (or use
    /// [`crate::Chrononaut::begin`]); outside a transaction they would last one statement.
    pub async fn apply(&self, conn: &mut PgConnection) -> Result<()> {
        self.apply_with(conn, &Map::new()).await
    }

    pub(crate) async fn apply_with(
        &self,
        conn: &mut PgConnection,
        auto: &Map<String, Value>,
    ) -> Result<()> {
        let statement = self.settings_sql(auto)?;
        sqlx::raw_sql(AssertSqlSafe(statement))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// `BEGIN` followed by the settings of this context (plus `auto`): one simple query, so that
    /// a transaction starts with its context in a single round trip.
    pub(crate) fn begin_sql(&self, auto: &Map<String, Value>) -> Result<String> {
        Ok(format!("BEGIN;\n{}", self.settings_sql(auto)?))
    }

    /// The `set_config` statement of this context (plus `auto`), every value checked (shape,
    /// size, no NUL character) and escaped as a literal.
    fn settings_sql(&self, auto: &Map<String, Value>) -> Result<String> {
        self.validate()?;
        let json = |v: &Value| {
            serde_json::to_string(v).map_err(|e| Error::InvalidContext(e.to_string().into()))
        };
        let extra = if self.extra.is_empty() {
            String::new()
        } else {
            json(&self.extra_info())?
        };
        let auto = if auto.is_empty() {
            String::new()
        } else {
            json(&Value::Object(auto.clone()))?
        };
        let records = if self.record_extra.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&self.record_extra)
                .map_err(|e| Error::InvalidContext(e.to_string().into()))?
        };
        let user = self.user_id.as_deref().unwrap_or("");
        let addr = self.remote_addr.as_deref().unwrap_or("");
        for (what, text, limit, is_json) in [
            ("the user", user, LIMIT_USER_ID, false),
            ("the remote address", addr, LIMIT_REMOTE_ADDR, false),
            ("the extra change info", extra.as_str(), LIMIT_EXTRA, true),
            (
                "the context providers' extra info",
                auto.as_str(),
                LIMIT_EXTRA,
                true,
            ),
            (
                "the per-record extra info",
                records.as_str(),
                LIMIT_RECORD_EXTRA,
                true,
            ),
        ] {
            if text.len() > limit {
                return Err(Error::InvalidContext(
                    format!(
                        "{what} is {} bytes long, more than the {limit} bytes chrononaut records",
                        text.len()
                    )
                    .into(),
                ));
            }
            // PostgreSQL text cannot hold NUL, nor jsonb a \u0000 escape.
            if text.contains('\0') || (is_json && text.contains("\\u0000")) {
                return Err(Error::InvalidContext(
                    format!("{what} contains a NUL character, which PostgreSQL text cannot hold")
                        .into(),
                ));
            }
        }
        let flag = |on: bool| if on { "on" } else { "" };
        let values = [
            ("user_id", quote_literal(user)),
            ("remote_addr", quote_literal(addr)),
            ("extra", quote_literal(&extra)),
            ("extra_auto", quote_literal(&auto)),
            ("record_extra", quote_literal(&records)),
            ("suppress", quote_literal(flag(self.suppress_versioning))),
            (
                "allow_delete_history",
                quote_literal(flag(self.allow_deleting_history)),
            ),
        ];
        let values: Vec<(&str, &str)> = values.iter().map(|(n, v)| (*n, v.as_str())).collect();
        template::fill_text(sql::APPLY_CONTEXT, &values)
    }
}

/// The most bytes of `user_id` a change context may carry (more is [`Error::InvalidContext`],
/// also when set by hand: SQLSTATE `CN004`).
pub const LIMIT_USER_ID: usize = 256;
/// The most bytes of `remote_addr` a change context may carry.
pub const LIMIT_REMOTE_ADDR: usize = 64;
/// The most bytes of JSON text of the extra change info, and separately of the context
/// providers' extra info: it is copied into every history row the transaction writes.
pub const LIMIT_EXTRA: usize = 8192;
/// The most bytes of JSON text of the per-record extra info (`chrononaut.record_extra`).
pub const LIMIT_RECORD_EXTRA: usize = 65536;

/// A hook that adds fields to every context applied through a [`crate::Chrononaut`] (like the
/// Python library's `CHRONONAUT_EXTRA_CHANGE_INFO_FUNC`). Explicit fields of the context win
/// over a provider's; provider fields do not satisfy strict mode.
pub type ContextProvider = std::sync::Arc<dyn Fn() -> Map<String, Value> + Send + Sync>;
