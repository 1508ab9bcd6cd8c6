//! The OAuth and OpenID Connect flows, one module per grant or endpoint. The token
//! endpoint ([`token`]) parses the form and the grant type once, authenticates the
//! client and writes the one token response; each grant only decides what to
//! issue. The authorization endpoint ([`authorize`]) validates the request and
//! hands it to the hosted steps ([`interaction`]: login, consent, the code).

mod audience;
mod authorize;
mod client_credentials;
mod code;
mod device;
mod interaction;
mod issue;
mod logout;
mod refresh;
mod revoke;
mod token;
mod userinfo;

pub(crate) use authorize::{Prompt, ResponseMode, authorize};
pub(crate) use device::{device_authorization, page as device_page};
pub(crate) use interaction::{consent, login};
pub(crate) use logout::logout;
pub(crate) use revoke::{introspect, revoke};
pub(crate) use token::{SERVED_GRANTS, token};
pub(crate) use userinfo::userinfo;
