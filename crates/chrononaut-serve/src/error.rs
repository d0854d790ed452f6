//! Failures of a request: a status and a message a person can read, as an HTML page or as
//! JSON. Server errors say only that something failed (the details go to the log).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::view;

/// A failed request, answered as an HTML page.
#[derive(Debug)]
pub struct Failure {
    /// The status answered.
    pub status: StatusCode,
    /// What a person reads (never a database's internals for a server error).
    pub message: String,
}

impl Failure {
    /// A failure with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// A 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

/// SQLSTATE 57014: a statement cancelled, here by the statement timeout.
const QUERY_CANCELED: &str = "57014";

fn status_of(error: &chrononaut::Error) -> StatusCode {
    use chrononaut::Error as E;
    match error {
        E::UnknownTable(_)
        | E::NotTracked(_)
        | E::RecordNotFound { .. }
        | E::NoHistory { .. }
        | E::VersionNotFound { .. }
        | E::Database(sqlx::Error::RowNotFound) => StatusCode::NOT_FOUND,
        E::InvalidKey { .. }
        | E::UnknownColumn { .. }
        | E::NotChronological(_)
        | E::InvalidContext(_)
        | E::InvalidDigest(_)
        | E::NoPrimaryKey(_) => StatusCode::BAD_REQUEST,
        E::PermissionDenied(_) | E::AppendOnly(_) | E::HiddenColumn { .. } => StatusCode::FORBIDDEN,
        E::StrictMode(_) => StatusCode::UNPROCESSABLE_ENTITY,
        E::StaleVersion(_) | E::CannotRestore(_) | E::LockRefused(_) => StatusCode::CONFLICT,
        E::RecordLocked(_) => StatusCode::LOCKED,
        E::Database(sqlx::Error::PoolTimedOut) => StatusCode::SERVICE_UNAVAILABLE,
        E::Database(e)
            if e.as_database_error()
                .and_then(|d| d.code())
                .is_some_and(|c| c == QUERY_CANCELED) =>
        {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<chrononaut::Error> for Failure {
    fn from(error: chrononaut::Error) -> Self {
        let status = status_of(&error);
        let message = match &error {
            _ if status == StatusCode::SERVICE_UNAVAILABLE => {
                "the database did not answer in time (statement timeout or no free connection); try a narrower view".to_owned()
            }
            _ if status.is_server_error() => {
                tracing::error!(%error, "request failed");
                "something went wrong on the server; the details are in its log".to_owned()
            }
            // one line, whatever the database said
            e => e.to_string().lines().next().unwrap_or("failed").to_owned(),
        };
        Self { status, message }
    }
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Self {
        chrononaut::Error::from(error).into()
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("error").to_owned();
        let body = maud::html! {
            h1 { (self.status.as_u16()) " " (title) }
            p.error { (self.message) }
            p { a href="/tables" { "Tracked tables" } }
        };
        (self.status, view::page(&title, body)).into_response()
    }
}

/// A failed API request, answered as `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiFailure(pub Failure);

impl<E: Into<Failure>> From<E> for ApiFailure {
    fn from(error: E) -> Self {
        Self(error.into())
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        (self.0.status, Json(json!({"error": self.0.message}))).into_response()
    }
}
