//! The change context of a request: who (the user resolver), from where (peer address or
//! trusted proxies), which request (request id, method, route) and why (rationale header).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath};
use chrononaut::ChangeContext;
use http::request::Parts;
use serde_json::{Map, Value};

use crate::HttpError;
use crate::layer::RequestState;

/// The longest user id recorded (the database's limit on `chrononaut.user_id`); the user
/// resolver returning a longer one is a 500, never a shortened id.
pub const USER_ID_MAX_BYTES: usize = 256;

/// The longest request id taken from a request. A request id is 1 to this many bytes of
/// `A-Z a-z 0-9 - _ . : / + = @`; any other value (longer, other characters, non-UTF-8, the
/// header given twice) is ignored and a fresh id (a UUID) is generated instead.
pub const REQUEST_ID_MAX_BYTES: usize = 128;

/// The longest rationale header accepted (bytes of UTF-8): longer is a 400, never a
/// shortened rationale. Twice this, its most escaped JSON, stays within the database's limit
/// of 8192 bytes on `chrononaut.extra`.
pub const RATIONALE_HEADER_MAX_BYTES: usize = 2048;

/// The longest HTTP method recorded; a longer (extension) method is a 400 for handlers that
/// take a `Tx`.
const METHOD_MAX_BYTES: usize = 32;

/// The context of one request, resolved when its handler takes its `Tx`.
pub(crate) struct Resolved {
    /// user, address, rationale
    pub(crate) ctx: ChangeContext,
    /// request id, method, route: `extra_info` fields that do not satisfy strict mode
    pub(crate) auto: Map<String, Value>,
    pub(crate) request_id: String,
}

pub(crate) fn resolve(parts: &Parts, state: &RequestState) -> Result<Resolved, HttpError> {
    let config = &state.config;
    let mut ctx = ChangeContext::new();

    let user = config.user.as_ref().and_then(|resolve| resolve(parts));
    if let Some(user) = user.filter(|u| !u.is_empty()) {
        if user.len() > USER_ID_MAX_BYTES {
            return Err(HttpError::internal(format!(
                "the user resolver returned a user id of {} bytes; at most {USER_ID_MAX_BYTES} are recorded",
                user.len()
            )));
        }
        ctx = ctx.user(user);
    }

    if let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        let addr = config.proxies.client_addr(peer.ip(), &parts.headers);
        ctx = ctx.remote_addr(addr.to_string());
    }

    if let Some(name) = &config.rationale_header {
        let mut values = parts.headers.get_all(name).iter();
        if let Some(value) = values.next() {
            if values.next().is_some() {
                return Err(HttpError::bad_request(format!(
                    "{name} is given more than once"
                )));
            }
            let Ok(text) = std::str::from_utf8(value.as_bytes()) else {
                return Err(HttpError::bad_request(format!("{name} is not UTF-8")));
            };
            if text.len() > RATIONALE_HEADER_MAX_BYTES {
                return Err(HttpError::bad_request(format!(
                    "{name} is {} bytes long; at most {RATIONALE_HEADER_MAX_BYTES} are accepted",
                    text.len()
                )));
            }
            let text = text.trim();
            if !text.is_empty() {
                ctx = ctx.rationale(text);
            }
        }
    }

    let method = parts.method.as_str();
    if method.len() > METHOD_MAX_BYTES {
        return Err(HttpError::bad_request(format!(
            "HTTP method of {} bytes; at most {METHOD_MAX_BYTES} are recorded",
            method.len()
        )));
    }
    let request_id = state
        .request_id
        .get_or_init(|| request_id(parts, state))
        .0
        .clone();
    let mut auto = Map::new();
    auto.insert("request_id".into(), Value::String(request_id.clone()));
    auto.insert("method".into(), Value::String(method.to_owned()));
    if let Some(route) = parts.extensions.get::<MatchedPath>() {
        auto.insert("route".into(), Value::String(route.as_str().to_owned()));
    }
    Ok(Resolved {
        ctx,
        auto,
        request_id,
    })
}

/// The request id: tower-http's `RequestId` extension, else the configured header, if valid
/// (see [`REQUEST_ID_MAX_BYTES`]); else a new UUID (`true`: generated).
fn request_id(parts: &Parts, state: &RequestState) -> (String, bool) {
    let from_layer = parts
        .extensions
        .get::<tower_http::request_id::RequestId>()
        .map(|id| id.header_value().as_bytes());
    let mut header = parts
        .headers
        .get_all(&state.config.request_id_header)
        .iter();
    let from_header = match (header.next(), header.next()) {
        (Some(one), None) => Some(one.as_bytes()),
        _ => None,
    };
    from_layer
        .and_then(valid_request_id)
        .or_else(|| from_header.and_then(valid_request_id))
        .map(|id| (id.to_owned(), false))
        .unwrap_or_else(|| (uuid::Uuid::new_v4().to_string(), true))
}

fn valid_request_id(bytes: &[u8]) -> Option<&str> {
    let ok = (1..=REQUEST_ID_MAX_BYTES).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(b));
    // only ASCII passed, so this cannot fail
    ok.then(|| std::str::from_utf8(bytes).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::valid_request_id;

    #[test]
    fn request_ids() {
        assert_eq!(
            valid_request_id(b"req-1_a.b:c/d+e=f@g"),
            Some("req-1_a.b:c/d+e=f@g")
        );
        assert_eq!(valid_request_id(&[b'a'; 128]).map(str::len), Some(128));
        assert_eq!(valid_request_id(&[b'a'; 129]), None);
        assert_eq!(valid_request_id(b""), None);
        assert_eq!(valid_request_id(b"a b"), None);
        assert_eq!(valid_request_id(b"caf\xc3\xa9"), None);
        assert_eq!(valid_request_id(b"x'; DROP"), None);
    }
}
