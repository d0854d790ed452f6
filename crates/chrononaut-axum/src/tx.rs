//! The `Tx` extractor: the request's transaction, begun on first use with the request's
//! context applied.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use axum::extract::FromRequestParts;
use chrononaut::{ChangeContext, Chrononaut};
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use http::request::Parts;
use serde_json::Value;
use sqlx::postgres::{PgQueryResult, PgRow, PgStatement, PgTypeInfo};
use sqlx::{Describe, Either, Execute, Executor, PgConnection, Postgres, SqlStr};
use tokio::sync::OwnedMutexGuard;

use crate::HttpError;
use crate::context::resolve;
use crate::layer::{Handle, RequestState, Slot};

/// The request's transaction, for handlers behind a [`ChrononautLayer`](crate::ChrononautLayer).
///
/// ```no_run
/// use axum::extract::Path;
/// use chrononaut_axum::{HttpError, Tx};
///
/// async fn refund(mut tx: Tx, Path(id): Path<i64>) -> Result<&'static str, HttpError> {
///     tx.rationale("refund requested by the customer"); // optional; before the first write
///     sqlx::query("UPDATE invoices SET amount = 0 WHERE id = $1")
///         .bind(id)
///         .execute(&mut *tx)
///         .await?;
///     Ok("refunded")
/// }
/// ```
///
/// Nothing touches the database until the first statement: then one connection is taken
/// from the pool and the transaction begins with the request's context applied (user,
/// address, request id, method, route, rationale), as `Chrononaut::begin` does. The layer
/// commits or rolls back when the handler's response is known; a handler never commits.
/// `&mut *tx` is an sqlx [`Executor`]; [`conn`](TxConn::conn) gives the
/// `&mut PgConnection` that chrononaut's own calls take.
///
/// A statement through the `Tx` that fails with a database error aborts the transaction,
/// and PostgreSQL would answer a later COMMIT with a silent rollback: the layer then rolls
/// back and answers 500 even if the handler answered success. Handle expected conflicts in
/// SQL (`ON CONFLICT`) or in a savepoint (`tx.conn().await?.begin()`), whose statements run
/// on the savepoint, not through the `Tx`.
///
/// One `Tx` per request; it must not outlive the handler (sent to a spawned task, it is
/// rolled back and the response becomes a 500).
#[derive(Debug)]
pub struct Tx {
    conn: TxConn,
}

/// What a [`Tx`] dereferences to: the request's connection and context. `&mut TxConn` is an
/// sqlx [`Executor`] that begins the transaction on its first statement.
pub struct TxConn {
    slot: OwnedMutexGuard<Slot>,
    state: Arc<RequestState>,
    ctx: ChangeContext,
    chrononaut: Chrononaut,
    request_id: String,
    /// The context changed since it was applied (or was never applied).
    dirty: bool,
}

impl std::fmt::Debug for TxConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let begun = matches!(*self.slot, Slot::Open(_));
        f.debug_struct("TxConn")
            .field("begun", &begun)
            .field("request_id", &self.request_id)
            .field("context", &self.ctx)
            .finish_non_exhaustive()
    }
}

impl Deref for Tx {
    type Target = TxConn;
    fn deref(&self) -> &TxConn {
        &self.conn
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut TxConn {
        &mut self.conn
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Tx {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, HttpError> {
        let Some(Handle(state)) = parts.extensions.get::<Handle>().cloned() else {
            return Err(HttpError::internal(
                "the Tx extractor needs a ChrononautLayer around the route".to_owned(),
            ));
        };
        let Ok(slot) = state.slot.clone().try_lock_owned() else {
            return Err(HttpError::internal(
                "a request has one Tx; this one is taken already".to_owned(),
            ));
        };
        if matches!(*slot, Slot::Finished) {
            return Err(HttpError::internal(
                "the request's transaction has ended".into(),
            ));
        }
        let resolved = resolve(parts, &state)?;
        let auto = resolved.auto;
        let chrononaut = state
            .config
            .chrononaut
            .clone()
            .with_context_provider(move || auto.clone());
        Ok(Tx {
            conn: TxConn {
                slot,
                state,
                ctx: resolved.ctx,
                chrononaut,
                request_id: resolved.request_id,
                dirty: true,
            },
        })
    }
}

impl TxConn {
    /// Sets `extra_info.rationale` for the writes that follow (it satisfies strict mode).
    /// Best before the first write: set later, the context is applied again (one more round
    /// trip) before the next statement.
    pub fn rationale(&mut self, why: impl Into<String>) -> &mut Self {
        self.ctx = std::mem::take(&mut self.ctx).rationale(why);
        self.dirty = true;
        self
    }

    /// Adds one key to `extra_info` for the writes that follow (it satisfies strict mode,
    /// like a rationale).
    pub fn extra(&mut self, key: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        self.ctx = std::mem::take(&mut self.ctx).extra(key, value);
        self.dirty = true;
        self
    }

    /// The explicit context the writes get: user, address, rationale and extras (the
    /// request id, method and route come from [`chrononaut`](Self::chrononaut)'s provider).
    pub fn context(&self) -> &ChangeContext {
        &self.ctx
    }

    /// A chrononaut handle whose context provider adds this request's id, method and route:
    /// pass it with [`context`](Self::context) to chrononaut calls that apply a context
    /// themselves (`restore`), so their versions carry the request too.
    pub fn chrononaut(&self) -> &Chrononaut {
        &self.chrononaut
    }

    /// The request id recorded in `extra_info.request_id`.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The transaction's connection, begun (with the context applied) if it was not yet,
    /// for chrononaut calls that take a `&mut PgConnection`.
    pub async fn conn(&mut self) -> chrononaut::Result<&mut PgConnection> {
        self.ready().await.map_err(uncarry)
    }

    async fn ready(&mut self) -> Result<&mut PgConnection, sqlx::Error> {
        if matches!(*self.slot, Slot::Idle) {
            let pool = &self.state.config.pool;
            let tx = self
                .chrononaut
                .begin(pool, &self.ctx)
                .await
                .map_err(carry)?;
            *self.slot = Slot::Open(tx);
            self.dirty = false;
        }
        match &mut *self.slot {
            Slot::Open(tx) => {
                if self.dirty {
                    self.chrononaut.apply(tx, &self.ctx).await.map_err(carry)?;
                    self.dirty = false;
                }
                Ok(&mut **tx)
            }
            Slot::Idle | Slot::Finished => Err(carry(chrononaut::Error::InvalidContext(
                "the request's transaction has ended".into(),
            ))),
        }
    }
}

/// A chrononaut error as an sqlx error (what an [`Executor`] returns); [`uncarry`] gets it
/// back.
fn carry(error: chrononaut::Error) -> sqlx::Error {
    match error {
        chrononaut::Error::Database(err) => err,
        other => sqlx::Error::Configuration(Box::new(other)),
    }
}

/// The chrononaut error an sqlx error stands for (one carried by [`carry`] or a database
/// error with a chrononaut SQLSTATE).
pub(crate) fn uncarry(error: sqlx::Error) -> chrononaut::Error {
    match error {
        sqlx::Error::Configuration(boxed) => match boxed.downcast::<chrononaut::Error>() {
            Ok(inner) => *inner,
            Err(other) => chrononaut::Error::Database(sqlx::Error::Configuration(other)),
        },
        other => chrononaut::Error::from(other),
    }
}

impl<'c> Executor<'c> for &'c mut TxConn {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let state = self.state.clone();
        futures_util::stream::once(async move { self.ready().await.map(|c| c.fetch_many(query)) })
            .try_flatten()
            .inspect_err(move |err| note_failure(&state, err))
            .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        Box::pin(async move {
            let state = self.state.clone();
            let result = async { self.ready().await?.fetch_optional(query).await }.await;
            result.inspect_err(|err| note_failure(&state, err))
        })
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement, sqlx::Error>>
    where
        'c: 'e,
    {
        Box::pin(async move {
            let state = self.state.clone();
            let result = async { self.ready().await?.prepare_with(sql, parameters).await }.await;
            result.inspect_err(|err| note_failure(&state, err))
        })
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        'c: 'e,
    {
        Box::pin(async move {
            let state = self.state.clone();
            let result = async { self.ready().await?.describe(sql).await }.await;
            result.inspect_err(|err| note_failure(&state, err))
        })
    }
}

/// Notes a database error of a statement: it aborted the transaction, which the layer then
/// rolls back whatever the handler answers.
fn note_failure(state: &RequestState, err: &sqlx::Error) {
    if let sqlx::Error::Database(db) = err {
        let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
        let _ = state.failed.set(code);
    }
}
