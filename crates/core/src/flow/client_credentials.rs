//! The client credentials grant (RFC 6749 section 4.4): a client gets a token for
//! itself, for the scopes it holds (of one resource).

use super::issue::{AccessGrant, Issued, access_token};
use crate::client_auth::AuthenticatedClient;
use crate::context::Context;
use crate::engine::Engine;
use crate::error::OAuthError;
use crate::http::Form;
use crate::platform::Platform;

/// What the grant issues to `client`.
pub(super) async fn issue<P: Platform>(
    engine: &Engine<P>,
    client: &AuthenticatedClient,
    form: &Form,
    cx: &mut Context<'_>,
) -> Result<Issued, OAuthError> {
    // RFC 6749 section 3.3: an omitted scope gets the client's default, which for
    // a server-to-server client is everything it holds (of one audience).
    let grant = super::audience::decide(engine, client, form, cx.now()).await?;
    let access = AccessGrant {
        subject: client.client_id.as_str(),
        audience: vec![grant.audience],
        scope: grant.scope,
        lifetime: grant.lifetime,
        alg: grant.alg,
        access: super::issue::UserAccess::default(),
    };
    access_token(engine, client, access, cx).await
}
