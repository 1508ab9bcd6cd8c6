//! The edge gateway: decides, for each request in front of an origin, whether it
//! passes, with which claims, or which RFC 6750 refusal it gets.
//!
//! Sans-I/O like the rest of the crate: the host (the `gatehouse-gateway` worker)
//! reads the few request headers that matter into an [`Inbound`], performs the
//! fetches the [`JwksCache`] asks for, calls the verifier with its [`crate::Verifier`],
//! and forwards or answers as told. Every decision is here and tested natively.
//!
//! One request, as the host drives it:
//!
//! 1. [`Gateway::begin`] routes the request and answers preflights, public routes,
//!    missing or malformed tokens, and tokens already in the [`TokenCache`].
//! 2. For a token it has not seen, [`Gateway::keys`] says to use the cached JWKS, to
//!    fetch (discovery, then the JWKS), or to wait for a fetch in flight.
//! 3. [`verify_pending`] checks the token; [`Gateway::finish`] caches it and applies
//!    the route's requirements.
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`config`] | the TOML configuration, validated with line numbers |
//! | [`route`] | route rules and requirements |
//! | [`jwks`] | the JWKS fetch and cache policy |
//! | [`cache`] | the verified-token cache |

pub mod cache;
pub mod config;
pub mod jwks;
pub mod route;

use std::borrow::Cow;
use std::sync::Arc;

use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

pub use cache::{TokenCache, TokenKey, token_key};
pub use config::{ClaimHeaders, ConfigError, Cors, GatewayConfig, Unmatched};
pub use jwks::{CappedBody, FetchError, FetchTarget, Fetched, JwksCache, KeysPlan, TooLarge};
pub use route::{Ambiguity, Requirement, Route, Shortfall, is_canonical_method, normalize_path};

use crate::error::{BearerChallenge, ErrorCode};
use crate::http::bearer::{self, Bearer};
use crate::http::{Response, json_response};
use crate::jose::Jwks;
use crate::platform::Verifier;
use crate::types::UnixTime;
use crate::verify::{VerifiedAccessToken, VerifyError, verify_access_token_full};

/// The request headers and line the gateway decides on. `authorization` is the
/// header's value as the host reports it (several headers joined with `, `, which no
/// valid bearer credential contains).
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    /// The method, as the caller spelled it (a lower-case one is refused).
    pub method: &'a Method,
    /// The path as received, still percent-encoded, without the query
    /// ([`normalize_path`] is applied by [`Gateway::begin`]).
    pub path: &'a str,
    /// `Authorization`.
    pub authorization: Option<&'a str>,
    /// `Origin`.
    pub origin: Option<&'a str>,
    /// `Access-Control-Request-Method` (a preflight).
    pub request_method: Option<&'a str>,
    /// `Access-Control-Request-Headers` (a preflight).
    pub request_headers: Option<&'a str>,
}

/// How to send an admitted request on to the origin.
#[derive(Debug, Clone, Default)]
pub struct Forward {
    /// The normalized path that was matched, when it differs from the request's path
    /// (`None`: forward the request's path as it is). See [`Forward::target`].
    pub path: Option<String>,
    /// Remove these request headers (the claim headers not in `set`, and
    /// `Authorization` unless it is forwarded).
    pub strip: Vec<HeaderName>,
    /// Set these, replacing any incoming header of the same name.
    pub set: Vec<(HeaderName, HeaderValue)>,
    /// Add these to the origin's response (CORS).
    pub response_headers: Vec<(HeaderName, HeaderValue)>,
}

impl Forward {
    /// The URL to send the request to: `origin`, then exactly the path the routes
    /// matched (the normalized one, or `request_path` when it was already normal),
    /// then the request's `query` unchanged.
    #[must_use]
    pub fn target(&self, origin: &str, request_path: &str, query: Option<&str>) -> String {
        let path = self.path.as_deref().unwrap_or(request_path);
        let mut url =
            String::with_capacity(origin.len() + path.len() + query.map_or(0, |q| q.len() + 1));
        url.push_str(origin);
        url.push_str(path);
        if let Some(query) = query {
            url.push('?');
            url.push_str(query);
        }
        url
    }
}

/// A token that needs verifying before the request can go on.
#[derive(Debug, Clone)]
pub struct PendingToken {
    token: String,
    key: TokenKey,
    kid: Option<String>,
    route: usize,
    path: Option<String>,
    cors: Vec<(HeaderName, HeaderValue)>,
}

impl PendingToken {
    /// The token.
    #[must_use]
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The `kid` the token names (unverified), for [`Gateway::keys`].
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
}

/// What the host does next with a request.
#[derive(Debug)]
pub enum Step {
    /// Answer with this response (a refusal, a preflight, an unmatched path).
    Respond(Response),
    /// Send the request to the origin.
    Forward(Forward),
    /// Verify this token first.
    Verify(PendingToken),
}

/// The gateway of one isolate: configuration, JWKS cache and verified-token cache.
#[derive(Debug, Clone)]
pub struct Gateway {
    config: Arc<GatewayConfig>,
    keys: JwksCache,
    tokens: TokenCache,
}

/// Claim values are percent-encoded where HTTP header values cannot carry them
/// (controls, non-ASCII) and at `%` itself, so the encoding is reversible.
const HEADER_UNSAFE: &AsciiSet = &CONTROLS.add(b'%');

impl Gateway {
    /// A gateway with empty caches.
    #[must_use]
    pub fn new(config: GatewayConfig) -> Self {
        let keys = JwksCache::new(
            &config.issuer,
            config.discovery_url(),
            config.refetch_cooldown_secs,
            config.max_stale_secs,
        );
        let tokens = TokenCache::new(config.token_cache_entries);
        Self { config: Arc::new(config), keys, tokens }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Arc<GatewayConfig> {
        &self.config
    }

    /// The verified-token cache.
    #[must_use]
    pub fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    /// The keys usable at `now` without fetching (fresh, or stale within `max_stale`).
    #[must_use]
    pub fn jwks_usable(&self, now: UnixTime) -> Option<Arc<Jwks>> {
        self.keys.usable(now).cloned()
    }

    /// The JWKS cache.
    #[must_use]
    pub fn jwks(&self) -> &JwksCache {
        &self.keys
    }

    /// Takes the outcome of a fetch that [`Gateway::keys`] asked for (see
    /// [`JwksCache::fetched`]) and returns the next document to fetch in the same
    /// round, if any. When a new JWKS arrives, verified tokens whose key it no longer
    /// holds leave the token cache at once: a key withdrawn at the issuer stops
    /// admitting anything at the gateway's next JWKS refresh.
    pub fn fetched(
        &mut self,
        target: &FetchTarget,
        result: Result<Fetched, FetchError>,
        now: UnixTime,
    ) -> Option<FetchTarget> {
        let before = self.keys.generation();
        let next = self.keys.fetched(target, result, now);
        if self.keys.generation() != before
            && let Some(jwks) = self.keys.current()
        {
            self.tokens.retain(|token| jwks.find(&token.kid).is_some());
        }
        next
    }

    /// Forgets an in-flight fetch (the host abandoned it).
    pub fn abandon(&mut self) {
        self.keys.abandon();
    }

    /// Routes `req` and settles everything that needs no signature check.
    pub fn begin(&mut self, req: &Inbound<'_>, now: UnixTime) -> Step {
        let cors = self.cors_headers(req.origin);
        if req.method == Method::OPTIONS
            && req.request_method.is_some()
            && self.config.cors.enabled()
        {
            return Step::Respond(self.preflight(req));
        }
        let (index, path) = match self.route(req.method, req.path) {
            Ok(Some(found)) => found,
            Ok(None) => {
                let response = match self.config.unmatched {
                    Unmatched::NotFound => {
                        error_response(StatusCode::NOT_FOUND, "not_found", "no route for this path")
                    }
                    Unmatched::Forbidden => {
                        error_response(StatusCode::FORBIDDEN, "forbidden", "no route for this path")
                    }
                };
                return Step::Respond(with_headers(response, &cors));
            }
            Err(_) => return Step::Respond(with_headers(ambiguous_request(), &cors)),
        };
        let Some(route) = self.config.routes.routes().get(index) else {
            return Step::Respond(with_headers(ambiguous_request(), &cors));
        };
        // Forward exactly what was matched: the normalized path when it differs.
        let path = match path {
            Cow::Borrowed(_) => None,
            Cow::Owned(normal) => Some(normal),
        };
        if route.public {
            return Step::Forward(self.forward(None, path, cors));
        }
        let token = match bearer::parse(req.authorization) {
            Bearer::Missing => return Step::Respond(with_headers(challenge(None), &cors)),
            Bearer::Malformed => {
                return Step::Respond(with_headers(challenge(Some(VerifyError::Malformed)), &cors));
            }
            Bearer::Token(token) => token,
        };
        let key = token_key(token);
        if let Some(verified) = self.tokens.get(&key, now) {
            // A cached token is good only while its key is still published and the
            // keys are fresh (or cannot be refreshed now): once they are due for a
            // refresh, the request takes the verifying path, which fetches them.
            if self.keys.admits(&verified.kid, now) {
                return self.authorize(index, &verified, path, cors);
            }
            self.tokens.remove(&key);
        }
        Step::Verify(PendingToken {
            token: token.to_owned(),
            key,
            kid: crate::verify::peek_kid(token),
            route: index,
            path,
            cors,
        })
    }

    /// The index of the rule that decides `method` on `path`, and the normalized path
    /// it was matched on (borrowed when `path` was already normal); `None` when no rule
    /// matches.
    ///
    /// # Errors
    ///
    /// [`Ambiguity`] for a method with lower-case letters or a path
    /// [`normalize_path`] refuses: answered 400 before any rule is looked at.
    pub fn route<'p>(
        &self,
        method: &Method,
        path: &'p str,
    ) -> Result<Option<(usize, Cow<'p, str>)>, Ambiguity> {
        if !is_canonical_method(method) {
            return Err(Ambiguity::Method);
        }
        let path = normalize_path(path)?;
        let found = self.config.routes.routes().iter().position(|r| r.matches(method, &path));
        Ok(found.map(|index| (index, path)))
    }

    /// How `pending` gets its keys at `now`.
    pub fn keys(&mut self, pending: &PendingToken, now: UnixTime) -> KeysPlan {
        self.keys.plan(pending.kid(), now)
    }

    /// Takes the verification outcome (`None`: no keys could be had) and decides.
    pub fn finish(
        &mut self,
        pending: PendingToken,
        outcome: Option<Result<VerifiedAccessToken, VerifyError>>,
        now: UnixTime,
    ) -> Step {
        match outcome {
            None => {
                let mut response = error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "the issuer's keys cannot be fetched",
                );
                let retry = HeaderValue::from(self.config.refetch_cooldown_secs.max(1));
                response.headers_mut().insert(header::RETRY_AFTER, retry);
                Step::Respond(with_headers(response, &pending.cors))
            }
            Some(Err(why)) => Step::Respond(with_headers(challenge(Some(why)), &pending.cors)),
            // Verified with keys that a newer JWKS has since replaced without this key
            // (the fetch landed while the signature was being checked): refused.
            Some(Ok(verified))
                if self.keys.current().is_some_and(|jwks| jwks.find(&verified.kid).is_none()) =>
            {
                Step::Respond(with_headers(challenge(Some(VerifyError::UnknownKey)), &pending.cors))
            }
            Some(Ok(verified)) => {
                let verified = Arc::new(verified);
                let until = verified.claims.exp.plus(self.config.policy.leeway_secs());
                self.tokens.insert(pending.key, Arc::clone(&verified), until, now);
                self.authorize(pending.route, &verified, pending.path, pending.cors)
            }
        }
    }

    fn authorize(
        &self,
        route: usize,
        token: &VerifiedAccessToken,
        path: Option<String>,
        cors: Vec<(HeaderName, HeaderValue)>,
    ) -> Step {
        let Some(route) = self.config.routes.routes().get(route) else {
            return Step::Respond(with_headers(challenge(Some(VerifyError::Claims)), &cors));
        };
        let audience = route
            .audience
            .as_deref()
            .or_else(|| self.config.policy.audiences().first().map(String::as_str));
        if audience.is_some_and(|a| !token.claims.aud.contains(a)) {
            return Step::Respond(with_headers(challenge(Some(VerifyError::Audience)), &cors));
        }
        if let Some(shortfall) = route.requirements.iter().find_map(|r| r.check(token)) {
            return Step::Respond(with_headers(insufficient(&shortfall), &cors));
        }
        Step::Forward(self.forward(Some((token, route)), path, cors))
    }

    fn forward(
        &self,
        token: Option<(&VerifiedAccessToken, &Route)>,
        path: Option<String>,
        cors: Vec<(HeaderName, HeaderValue)>,
    ) -> Forward {
        let names = &self.config.headers;
        let mut set: Vec<(HeaderName, HeaderValue)> = Vec::new();
        if let Some((token, route)) = token {
            let scope = token.claims.scope.to_string();
            let pairs = [
                (&names.sub, token.claims.sub.clone()),
                (&names.client_id, token.claims.client_id.clone()),
                (&names.scope, scope),
                (&names.permissions, token.permissions.join(" ")),
                (&names.roles, token.roles.join(" ")),
            ];
            let kept = route.forward_claims.iter().filter_map(|(header, claim)| {
                let (_, value) = token.kept.iter().find(|(name, _)| name == claim)?;
                Some((header, value.as_str()))
            });
            for (name, value) in pairs.iter().map(|(n, v)| (*n, v.as_str())).chain(kept) {
                if value.is_empty() {
                    continue;
                }
                let encoded = utf8_percent_encode(value, HEADER_UNSAFE).to_string();
                if let Ok(value) = HeaderValue::from_str(&encoded) {
                    set.push((name.clone(), value));
                }
            }
        }
        // A header that is set replaces whatever came in; the others are removed.
        let mut strip: Vec<HeaderName> = names
            .all()
            .into_iter()
            .chain(&self.config.forward_claim_headers)
            .filter(|name| !set.iter().any(|(n, _)| n == *name))
            .cloned()
            .collect();
        if !self.config.forward_authorization {
            strip.push(header::AUTHORIZATION);
        }
        Forward { path, strip, set, response_headers: cors }
    }

    /// The CORS headers for a response to `origin`, if it is allowed.
    fn cors_headers(&self, origin: Option<&str>) -> Vec<(HeaderName, HeaderValue)> {
        let cors = &self.config.cors;
        let Some(origin) = origin.filter(|o| cors.enabled() && cors.allows_origin(o)) else {
            return Vec::new();
        };
        let Ok(value) = HeaderValue::from_str(origin) else { return Vec::new() };
        let mut out = vec![
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, value),
            (header::VARY, HeaderValue::from_static("Origin")),
        ];
        if !cors.expose_headers.is_empty()
            && let Ok(expose) = HeaderValue::from_str(&cors.expose_headers.join(", "))
        {
            out.push((header::ACCESS_CONTROL_EXPOSE_HEADERS, expose));
        }
        out
    }

    /// A CORS preflight (Fetch standard, CORS protocol): 204 with the allowed methods
    /// and headers when the origin, method and headers are all allowed; 403 otherwise.
    fn preflight(&self, req: &Inbound<'_>) -> Response {
        let cors = &self.config.cors;
        let origin_ok = req.origin.is_some_and(|o| cors.allows_origin(o));
        let method_ok = req
            .request_method
            .and_then(|m| Method::from_bytes(m.trim().as_bytes()).ok())
            .is_some_and(|m| cors.methods.contains(&m));
        let headers_ok = req
            .request_headers
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .all(|h| {
                let h = h.to_ascii_lowercase();
                cors.headers.contains(&h)
            });
        if !(origin_ok && method_ok && headers_ok) {
            return error_response(
                StatusCode::FORBIDDEN,
                "forbidden",
                "cross-origin request not allowed",
            );
        }
        let mut response = Response::new(Vec::new());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let methods = cors.methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
        let pairs = self.cors_headers(req.origin).into_iter().chain(
            [
                (header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_str(&methods).ok()),
                (
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_str(&cors.headers.join(", ")).ok(),
                ),
                (header::ACCESS_CONTROL_MAX_AGE, Some(HeaderValue::from(cors.max_age))),
            ]
            .into_iter()
            .filter_map(|(n, v)| v.map(|v| (n, v))),
        );
        for (name, value) in pairs {
            response.headers_mut().append(name, value);
        }
        response
    }
}

/// Verifies `pending` with `jwks` under the gateway's policy.
///
/// # Errors
///
/// [`VerifyError`] naming the first check that failed.
pub async fn verify_pending<C: Verifier>(
    crypto: &C,
    config: &GatewayConfig,
    jwks: &Jwks,
    pending: &PendingToken,
    now: UnixTime,
) -> Result<VerifiedAccessToken, VerifyError> {
    verify_access_token_full(crypto, jwks, &config.policy, &pending.token, now).await
}

/// Splits an absolute request URL (as the runtime serializes it: WHATWG, dot segments
/// already resolved) into its path and query, without a full URL parser: the host
/// calls this on every request.
#[must_use]
pub fn split_url(url: &str) -> Option<(&str, Option<&str>)> {
    let after_scheme = url.split_once("://")?.1;
    let start = after_scheme.find('/')?;
    let rest = after_scheme.get(start..)?;
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    Some(match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    })
}

/// 400 for a request line the gateway and the origin could read differently
/// ([`Ambiguity`]): refused before any route is looked at.
#[must_use]
pub fn ambiguous_request() -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "the request path or method is ambiguous",
    )
}

/// A JSON error body with `Cache-Control: no-store`.
fn error_response(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(status, &serde_json::json!({ "error": error, "error_description": description }))
}

fn with_headers(mut response: Response, headers: &[(HeaderName, HeaderValue)]) -> Response {
    for (name, value) in headers {
        response.headers_mut().append(name.clone(), value.clone());
    }
    response
}

/// 401 (RFC 6750 section 3): with no `error` when the request carried no bearer
/// token, `invalid_token` otherwise. The reason is never disclosed.
fn challenge(why: Option<VerifyError>) -> Response {
    match why {
        None => BearerChallenge {
            description: Some("a bearer access token is required"),
            ..BearerChallenge::default()
        },
        Some(_) => BearerChallenge {
            error: Some(ErrorCode::InvalidToken),
            description: Some("the access token is not valid"),
            ..BearerChallenge::default()
        },
    }
    .into_response()
}

/// 403 `insufficient_scope` (RFC 6750 section 3.1), naming what is missing: the
/// `scope` attribute for scopes, the description for permissions and roles.
fn insufficient(shortfall: &Shortfall) -> Response {
    let (description, scope) = match shortfall {
        Shortfall::Scope(s) => (format!("the access token needs scope {s}"), Some(s.as_str())),
        Shortfall::Permission(p) => (format!("the access token needs permission {p}"), None),
        Shortfall::Role(r) => (format!("the access token needs role {r}"), None),
    };
    BearerChallenge {
        error: Some(ErrorCode::InsufficientScope),
        description: Some(&description),
        scope,
        ..BearerChallenge::default()
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_splitting() {
        assert_eq!(split_url("https://a.example/x/y?q=1#f"), Some(("/x/y", Some("q=1"))));
        assert_eq!(split_url("http://127.0.0.1:8788/"), Some(("/", None)));
        assert_eq!(split_url("http://h/p#frag"), Some(("/p", None)));
        assert_eq!(split_url("http://h"), None);
        assert_eq!(split_url("nonsense"), None);
    }

    #[test]
    fn forward_target_is_the_matched_path_and_the_query_unchanged() {
        let plain = Forward::default();
        assert_eq!(plain.target("http://o:9", "/a/b", Some("x=%2f&y")), "http://o:9/a/b?x=%2f&y");
        assert_eq!(plain.target("http://o:9", "/", None), "http://o:9/");
        let normal = Forward { path: Some("/api/admin".into()), ..Forward::default() };
        assert_eq!(
            normal.target("http://o", "/api/%61dmin", Some("q=%61")),
            "http://o/api/admin?q=%61"
        );
    }
}
