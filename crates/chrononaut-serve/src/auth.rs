//! Who may ask: the access token (bearer or cookie), and without one, loopback host names only.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// The cookie that carries the token.
pub const COOKIE: &str = "chrononaut_token";

/// Equal in time independent of where the texts differ.
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn presented(headers: &HeaderMap, token: &str) -> bool {
    let bearer = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix("Bearer "))
        .any(|t| same(t.trim(), token));
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == COOKIE && same(value, token));
    bearer || cookie
}

/// The host name of the `Host` header, without port (`[::1]` → `::1`).
fn host_name(headers: &HeaderMap) -> Option<&str> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map(|(name, _)| name);
    }
    Some(host.rsplit_once(':').map_or(host, |(name, _)| name))
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "401 Unauthorized\n",
    )
        .into_response()
}

/// Lets a request through when it carries the token (or no token is set and it names a
/// loopback host). `GET ...?token=T` with the right token sets the cookie and redirects to
/// the same address without it, so that the token leaves the address bar and the history.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(token) = state.options.token.as_deref() else {
        // no token: only for this machine, by a loopback name (a page of another site that
        // rebinds its DNS name to 127.0.0.1 names itself, and is refused)
        let loopback = host_name(request.headers()).is_some_and(|h| {
            h.eq_ignore_ascii_case("localhost")
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        if !loopback {
            return (
                StatusCode::FORBIDDEN,
                "403 Forbidden: without a token this server answers only to a loopback host name\n",
            )
                .into_response();
        }
        return next.run(request).await;
    };
    if presented(request.headers(), token) {
        return next.run(request).await;
    }
    if request.method() == Method::GET
        && let Some(query) = request.uri().query()
    {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        if pairs.iter().any(|(k, v)| k == "token" && same(v, token)) {
            let mut rest = form_urlencoded::Serializer::new(String::new());
            for (k, v) in pairs.iter().filter(|(k, _)| k != "token") {
                rest.append_pair(k, v);
            }
            let rest = rest.finish();
            let path = request.uri().path();
            let location = if rest.is_empty() {
                path.to_owned()
            } else {
                format!("{path}?{rest}")
            };
            let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
            return (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, location), (header::SET_COOKIE, cookie)],
            )
                .into_response();
        }
    }
    unauthorized()
}
