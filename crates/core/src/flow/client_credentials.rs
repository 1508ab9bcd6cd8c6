//! The client credentials grant (RFC 6749 section 4.4): a client gets a token for
//! itself, for the scopes it holds (of one resource).

use super::issue::{AccessGrant, Issued, access_token};
use crate::client_auth::AuthenticatedClient;
use crate::context::Context;
use crate::engine::Engine;
use crate::error::OAuthError;
use crate::http::Form;
use crate::model::token_claims::TokenKind;
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
        // The app's fixed values; user fields need a user, so none go in here.
        access: super::issue::UserAccess {
            claims: client.app.as_deref().map_or_else(Default::default, |app| {
                super::issue::extra_claims(app, TokenKind::Access, None)
            }),
            ..Default::default()
        },
    };
    access_token(engine, client, access, cx).await
}
