//! The tower layer: one per-request state in the request's extensions, and the commit or
//! rollback of the request's transaction once the response is known.

use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::response::{IntoResponse, Response};
use chrononaut::Chrononaut;
use futures_util::future::BoxFuture;
use http::request::Parts;
use http::{HeaderName, HeaderValue, Request, StatusCode};
use ipnet::IpNet;
use serde_json::json;
use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::Mutex;
use tower_layer::Layer;
use tower_service::Service;

use crate::proxy::{Proxies, ProxyHeader};

type UserResolver = Arc<dyn Fn(&Parts) -> Option<String> + Send + Sync>;
type CommitRule = Arc<dyn Fn(StatusCode) -> bool + Send + Sync>;
type CommitErrorResponse = Arc<dyn Fn(&chrononaut::Error) -> Response + Send + Sync>;

/// The request header a request id is read from unless configured otherwise.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What the layer was configured with; shared by every request.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) pool: PgPool,
    pub(crate) chrononaut: Chrononaut,
    pub(crate) user: Option<UserResolver>,
    pub(crate) proxies: Proxies,
    pub(crate) request_id_header: HeaderName,
    pub(crate) rationale_header: Option<HeaderName>,
    commit_when: CommitRule,
    on_commit_error: CommitErrorResponse,
}

/// A tower [`Layer`] that gives every request a change context and a lazily begun
/// transaction, taken by handlers with the [`Tx`](crate::Tx) extractor.
///
/// The transaction commits when the response's status is below 400 (see
/// [`commit_when`](Self::commit_when)) and rolls back otherwise; a failed commit turns the
/// response into a 500. A request whose handler takes no `Tx` costs no database work.
///
/// ```no_run
/// use std::net::SocketAddr;
/// use axum::{Router, routing::post};
/// use chrononaut_axum::{ChrononautLayer, ProxyHeader};
///
/// # async fn f(pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
/// # async fn refund() {}
/// let layer = ChrononautLayer::new(pool)
///     .user(|parts| parts.headers.get("x-user").and_then(|v| v.to_str().ok()).map(str::to_owned))
///     .trusted_proxies(["10.0.0.0/8".parse()?])
///     .proxy_header(ProxyHeader::XForwardedFor)
///     .rationale_header(http::HeaderName::from_static("x-change-rationale"));
/// let app = Router::new().route("/invoices/{id}/refund", post(refund)).layer(layer);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// // ConnectInfo gives the layer the peer address
/// axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ChrononautLayer {
    config: Arc<Config>,
}

impl std::fmt::Debug for ChrononautLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChrononautLayer")
            .field("user_resolver", &self.config.user.is_some())
            .field("trusted_proxies", &self.config.proxies.trusted)
            .field("proxy_header", &self.config.proxies.header)
            .field("request_id_header", &self.config.request_id_header)
            .field("rationale_header", &self.config.rationale_header)
            .finish_non_exhaustive()
    }
}

impl ChrononautLayer {
    /// A layer whose transactions come from `pool`: no user resolver (`user_id` null), no
    /// trusted proxy (the address is the TCP peer's), request ids from `x-request-id`, no
    /// rationale header.
    pub fn new(pool: PgPool) -> Self {
        Self {
            config: Arc::new(Config {
                pool,
                chrononaut: Chrononaut::new(),
                user: None,
                proxies: Proxies::default(),
                request_id_header: HeaderName::from_static(REQUEST_ID_HEADER),
                rationale_header: None,
                commit_when: Arc::new(|status: StatusCode| status.as_u16() < 400),
                on_commit_error: Arc::new(default_commit_error),
            }),
        }
    }

    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// The chrononaut handle whose context providers are applied too (default:
    /// `Chrononaut::new()`).
    pub fn chrononaut(mut self, chrononaut: Chrononaut) -> Self {
        self.config().chrononaut = chrononaut;
        self
    }

    /// Resolves the user (`user_info.user_id`) from the request, when a handler takes its
    /// `Tx` (so extensions that an auth layer or extractor added before are there). `None`
    /// or an empty string: `user_id` null. A user id longer than
    /// [`USER_ID_MAX_BYTES`](crate::USER_ID_MAX_BYTES) is refused with a 500 (it is the
    /// service's value, not cut short).
    pub fn user<F>(mut self, resolve: F) -> Self
    where
        F: Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    {
        self.config().user = Some(Arc::new(resolve));
        self
    }

    /// Takes the user from a request extension of type `T` that an auth layer put there
    /// (e.g. a `CurrentUser` type or axum-login's user); no such extension: `user_id` null.
    ///
    /// ```no_run
    /// #[derive(Clone)]
    /// struct CurrentUser { email: String }
    /// # fn f(pool: sqlx::PgPool) {
    /// let layer = chrononaut_axum::ChrononautLayer::new(pool)
    ///     .user_from_extension(|user: &CurrentUser| user.email.clone());
    /// # let _ = layer;
    /// # }
    /// ```
    pub fn user_from_extension<T, F>(self, user_id: F) -> Self
    where
        T: Send + Sync + 'static,
        F: Fn(&T) -> String + Send + Sync + 'static,
    {
        self.user(move |parts| parts.extensions.get::<T>().map(&user_id))
    }

    /// The proxies whose forwarding header is believed: the address recorded is then the
    /// right-most hop that is not one of them (see [`ProxyHeader`]). Without trusted proxies
    /// the address is always the TCP peer's, from axum's `ConnectInfo<SocketAddr>` (serve
    /// with `into_make_service_with_connect_info::<SocketAddr>()`; without it, `remote_addr`
    /// is null).
    pub fn trusted_proxies(mut self, proxies: impl IntoIterator<Item = IpNet>) -> Self {
        self.config().proxies.trusted = proxies.into_iter().collect();
        self
    }

    /// The header the trusted proxies write (default `X-Forwarded-For`). Only that one is
    /// read.
    pub fn proxy_header(mut self, header: ProxyHeader) -> Self {
        self.config().proxies.header = header;
        self
    }

    /// The header a request id is read from (default `x-request-id`). A tower-http
    /// `RequestId` extension (from its `SetRequestIdLayer`) comes first.
    pub fn request_id_header(mut self, header: HeaderName) -> Self {
        self.config().request_id_header = header;
        self
    }

    /// A header whose value becomes `extra_info.rationale` (UTF-8, at most
    /// [`RATIONALE_HEADER_MAX_BYTES`](crate::RATIONALE_HEADER_MAX_BYTES); longer, not UTF-8,
    /// or repeated: 400). A rationale satisfies strict mode; the handler's
    /// [`TxConn::rationale`](crate::TxConn::rationale) wins over the header.
    pub fn rationale_header(mut self, header: HeaderName) -> Self {
        self.config().rationale_header = Some(header);
        self
    }

    /// Decides from the response status whether the request's transaction commits (default:
    /// status below 400, so a redirect after a write keeps it).
    pub fn commit_when<F>(mut self, commit: F) -> Self
    where
        F: Fn(StatusCode) -> bool + Send + Sync + 'static,
    {
        self.config().commit_when = Arc::new(commit);
        self
    }

    /// The response sent instead of the handler's when the commit fails (default: 500 with
    /// `{"error": "could not commit the changes of this request", "code": SQLSTATE}`).
    /// Whatever it returns, a status below 500 is raised to 500: the client must not believe
    /// the write happened.
    pub fn on_commit_error<F>(mut self, respond: F) -> Self
    where
        F: Fn(&chrononaut::Error) -> Response + Send + Sync + 'static,
    {
        self.config().on_commit_error = Arc::new(respond);
        self
    }
}

fn default_commit_error(error: &chrononaut::Error) -> Response {
    let code = match error {
        chrononaut::Error::Database(err) => err
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned()),
        _ => None,
    };
    let mut body = json!({"error": "could not commit the changes of this request"});
    if let Some(code) = code {
        body["code"] = code.into();
    }
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}

impl<S> Layer<S> for ChrononautLayer {
    type Service = ChrononautService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ChrononautService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service [`ChrononautLayer`] wraps around an inner service.
#[derive(Clone)]
pub struct ChrononautService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for ChrononautService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChrononautService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// Where the request's transaction lives between the `Tx` extractor and the layer.
pub(crate) enum Slot {
    /// No statement ran yet: nothing begun.
    Idle,
    /// Begun, with the context applied.
    Open(Transaction<'static, Postgres>),
    /// Committed or rolled back by the layer.
    Finished,
}

/// The per-request state, in the request's extensions.
pub(crate) struct RequestState {
    pub(crate) config: Arc<Config>,
    pub(crate) slot: Arc<Mutex<Slot>>,
    /// The request id, once resolved (`true`: generated here).
    pub(crate) request_id: OnceLock<(String, bool)>,
    /// The SQLSTATE of the first database error a statement through the `Tx` met: the
    /// transaction is then aborted, and a COMMIT would silently roll it back.
    pub(crate) failed: OnceLock<String>,
}

/// The extension that carries [`RequestState`]; private, so no one else can make one.
#[derive(Clone)]
pub(crate) struct Handle(pub(crate) Arc<RequestState>);

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ChrononautService<S>
where
    S: Service<Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let state = Arc::new(RequestState {
            config: self.config.clone(),
            slot: Arc::new(Mutex::new(Slot::Idle)),
            request_id: OnceLock::new(),
            failed: OnceLock::new(),
        });
        request.extensions_mut().insert(Handle(state.clone()));
        let response = self.inner.call(request);
        Box::pin(async move {
            // an Err of the inner service drops the state: an open transaction rolls back
            let response = response.await?;
            Ok(finish(&state, response.map(Body::new)).await)
        })
    }
}

async fn rollback(tx: Transaction<'static, Postgres>) {
    if let Err(err) = tx.rollback().await {
        tracing::warn!(error = %err, "rollback of a request's transaction failed");
    }
}

/// Commits or rolls back the request's transaction, and names a generated request id in
/// the response.
async fn finish(state: &RequestState, mut response: Response) -> Response {
    let taken = match state.slot.try_lock() {
        Ok(mut slot) => std::mem::replace(&mut *slot, Slot::Finished),
        Err(_) => {
            // the handler sent its Tx elsewhere (a spawned task): nobody may commit it now;
            // it rolls back when that Tx is dropped
            tracing::error!(
                "a chrononaut Tx outlived its request's handler; its changes are rolled back"
            );
            return crate::HttpError::internal("a Tx outlived its request's handler".to_owned())
                .into_response();
        }
    };
    if let Slot::Open(tx) = taken {
        let commit = (state.config.commit_when)(response.status());
        match state.failed.get() {
            Some(code) if commit => {
                // PostgreSQL answers the COMMIT of an aborted transaction with a rollback,
                // not an error: the client must not get the handler's success
                tracing::error!(
                    sqlstate = %code,
                    status = %response.status(),
                    "a handler answered success after a statement of its Tx failed; its changes are rolled back"
                );
                rollback(tx).await;
                let body = json!({
                    "error": "a statement of this request failed, so its changes were rolled back",
                    "code": code,
                });
                response = (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response();
            }
            _ if commit => {
                if let Err(err) = tx.commit().await {
                    let err = chrononaut::Error::from(err);
                    tracing::error!(error = %err, "commit of a request's transaction failed");
                    let mut failed = (state.config.on_commit_error)(&err);
                    if !failed.status().is_server_error() {
                        *failed.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    response = failed;
                }
            }
            _ => rollback(tx).await,
        }
    }
    if let Some((id, true)) = state.request_id.get() {
        let name = &state.config.request_id_header;
        if !response.headers().contains_key(name)
            && let Ok(value) = HeaderValue::from_str(id)
        {
            response.headers_mut().insert(name.clone(), value);
        }
    }
    response
}
