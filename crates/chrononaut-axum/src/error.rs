//! chrononaut's errors as HTTP responses.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use crate::tx::uncarry;

/// A [`chrononaut::Error`] with the HTTP status it answers with: the `Tx` extractor's
/// rejection, and a ready error type for handlers (`?` converts `sqlx::Error` and
/// `chrononaut::Error`).
///
/// The body is JSON, `{"error": message}`, plus `"code": "CN001"` (the SQLSTATE) for
/// errors the database raised with one. Server-side errors (5xx) answer with a generic
/// message and log the detail with `tracing`, so a client never sees SQL or table details.
///
/// | error | status |
/// |---|---|
/// | `StrictMode` (`CN001`: no rationale for a strict table) | 422 Unprocessable Content |
/// | `StaleVersion` (`CN005`), `LockRefused` (`CN007`), `CannotRestore` | 409 Conflict |
/// | `RecordLocked` (`CN006`) | 423 Locked |
/// | `AppendOnly` (`CN002`), `PermissionDenied` (`42501`) | 403 Forbidden |
/// | `InvalidContext` (`CN004`), `InvalidKey`, `NotChronological` | 400 Bad Request |
/// | `RecordNotFound`, `NoHistory`, `VersionNotFound`, `sqlx::Error::RowNotFound` | 404 Not Found |
/// | `sqlx::Error::PoolTimedOut` | 503 Service Unavailable |
/// | anything else | 500 Internal Server Error |
#[derive(Debug)]
pub struct HttpError {
    status: StatusCode,
    error: chrononaut::Error,
}

impl HttpError {
    /// This error with another status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The status the response gets.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error.
    pub fn error(&self) -> &chrononaut::Error {
        &self.error
    }

    /// Unwraps the error.
    pub fn into_error(self) -> chrononaut::Error {
        self.error
    }

    pub(crate) fn bad_request(message: String) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: chrononaut::Error::InvalidContext(message.into()),
        }
    }

    pub(crate) fn internal(message: String) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: chrononaut::Error::InvalidContext(message.into()),
        }
    }
}

fn status_of(error: &chrononaut::Error) -> StatusCode {
    use chrononaut::Error as E;
    match error {
        E::StrictMode(_) => StatusCode::UNPROCESSABLE_ENTITY,
        E::StaleVersion(_) | E::LockRefused(_) | E::CannotRestore(_) => StatusCode::CONFLICT,
        E::RecordLocked(_) => StatusCode::LOCKED,
        E::AppendOnly(_) | E::PermissionDenied(_) => StatusCode::FORBIDDEN,
        E::InvalidContext(_) | E::InvalidKey { .. } | E::NotChronological(_) => {
            StatusCode::BAD_REQUEST
        }
        E::RecordNotFound { .. } | E::NoHistory { .. } | E::VersionNotFound { .. } => {
            StatusCode::NOT_FOUND
        }
        E::Database(sqlx::Error::RowNotFound) => StatusCode::NOT_FOUND,
        E::Database(sqlx::Error::PoolTimedOut) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The SQLSTATE of an error the database raised, if any.
fn sqlstate(error: &chrononaut::Error) -> Option<String> {
    use chrononaut::Error as E;
    let code = match error {
        E::StrictMode(_) => chrononaut::SQLSTATE_STRICT,
        E::AppendOnly(_) => chrononaut::SQLSTATE_APPEND_ONLY,
        E::StaleVersion(_) => chrononaut::SQLSTATE_STALE_VERSION,
        E::RecordLocked(_) => chrononaut::SQLSTATE_RECORD_LOCKED,
        E::LockRefused(_) => chrononaut::SQLSTATE_LOCK_REFUSED,
        E::PermissionDenied(_) => chrononaut::SQLSTATE_PERMISSION,
        E::Database(err) => return err.as_database_error()?.code().map(|c| c.into_owned()),
        _ => return None,
    };
    Some(code.to_owned())
}

impl From<chrononaut::Error> for HttpError {
    fn from(error: chrononaut::Error) -> Self {
        // a context error that the Tx executor carried through sqlx comes back typed
        let error = match error {
            chrononaut::Error::Database(err) => uncarry(err),
            other => other,
        };
        Self {
            status: status_of(&error),
            error,
        }
    }
}

impl From<sqlx::Error> for HttpError {
    fn from(error: sqlx::Error) -> Self {
        uncarry(error).into()
    }
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.error, self.status)
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let message = if self.status.is_server_error() {
            tracing::error!(error = %self.error, status = %self.status, "request failed");
            self.status
                .canonical_reason()
                .unwrap_or("server error")
                .to_owned()
        } else {
            self.error.to_string()
        };
        let body = match sqlstate(&self.error) {
            Some(code) => json!({"error": message, "code": code}),
            None => json!({"error": message}),
        };
        (self.status, Json(body)).into_response()
    }
}
