//! Dispatch through the table of endpoints ([`crate::endpoints`]): the router
//! answers a CORS preflight (`OPTIONS`) and a method the endpoint does not serve
//! (405 with `Allow`) by itself, so a handler sees only the methods it serves.

use http::{Method, StatusCode};

use crate::context::Context;
use crate::discovery::Metadata;
use crate::endpoints::{Cors, Handler, find};
use crate::engine::{Engine, cache_for};
use crate::error::OAuthError;
use crate::http::{
    Request, Response, cors_any, json_response, method_not_allowed, not_found, preflight_response,
};
use crate::platform::Platform;

impl<P: Platform> Engine<P> {
    /// Handles one request. Every failure is already a response: RFC 6749 JSON on
    /// OAuth endpoints, with no detail about infrastructure faults. Afterwards the
    /// host batches [`Context::take_deferred`] and flushes what is due
    /// ([`Engine::flush_usage`]).
    pub async fn handle(&self, request: Request, cx: &mut Context<'_>) -> Response {
        let head = request.method() == Method::HEAD;
        let mut response = self.route(request, cx).await;
        if head {
            response.body_mut().clear();
        }
        response
    }

    async fn route(&self, request: Request, cx: &mut Context<'_>) -> Response {
        let prefix = self.config().issuer.path_prefix();
        let Some(path) = request.uri().path().strip_prefix(prefix).map(str::to_owned) else {
            return not_found();
        };
        let Some(endpoint) = find(&path) else {
            return not_found();
        };
        if endpoint.handler == Handler::Admin {
            return crate::admin::handle(self, request, &path, cx).await;
        }
        let method = request.method();
        if method == Method::OPTIONS && endpoint.cors != Cors::None {
            return preflight_response(&endpoint.allowed());
        }
        if !endpoint.methods.contains(method) {
            return method_not_allowed(&endpoint.allowed());
        }
        let mut response = match endpoint.handler {
            Handler::Metadata => {
                let mut response =
                    json_response(StatusCode::OK, &Metadata::new(&self.config().issuer));
                cache_for(&mut response, 3600);
                response
            }
            Handler::Jwks => self.jwks(cx).await.unwrap_or_else(OAuthError::into_response),
            Handler::Token => crate::flow::token(self, request, cx).await,
            Handler::Authorize => crate::flow::authorize(self, request, cx).await,
            Handler::Login => crate::flow::login(self, request, cx).await,
            Handler::Mfa => crate::flow::mfa_submit(self, request, cx).await,
            Handler::Register => crate::flow::register::start(self, request, cx).await,
            Handler::RegisterVerify => crate::flow::register::verify(self, request, cx).await,
            Handler::Consent => crate::flow::consent(self, request, cx).await,
            Handler::PolicyConsent => crate::flow::policy_consent(self, request, cx).await,
            Handler::UpstreamStart => crate::flow::upstream_start(self, request, cx).await,
            Handler::UpstreamCallback => crate::flow::upstream_callback(self, request, cx).await,
            Handler::Userinfo => crate::flow::userinfo(self, request, cx).await,
            Handler::Revoke => crate::flow::revoke(self, request, cx)
                .await
                .unwrap_or_else(OAuthError::into_response),
            Handler::Introspect => crate::flow::introspect(self, request, cx)
                .await
                .unwrap_or_else(OAuthError::into_response),
            Handler::Logout => crate::flow::logout(self, request, cx).await,
            Handler::DeviceAuthorization => crate::flow::device_authorization(self, request, cx)
                .await
                .unwrap_or_else(OAuthError::into_response),
            Handler::Device => crate::flow::device_page(self, request, cx).await,
            Handler::SimpleToken => crate::flow::simple_token(self, request, cx).await,
            Handler::SimpleAuthenticate => {
                crate::flow::simple_authenticate(self, request, cx).await
            }
            Handler::Admin => not_found(),
        };
        if endpoint.cors == Cors::Any {
            cors_any(&mut response);
        }
        response
    }
}
