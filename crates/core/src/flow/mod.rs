//! The OAuth and OpenID Connect flows, one module per grant or endpoint. The token
//! endpoint ([`token`]) parses the form and the grant type once, authenticates the
//! client ([`client`]) and writes the one token response; each grant only decides
//! what to issue ([`issue`]). The authorization endpoint ([`authorize`]) validates
//! the request ([`request`]) and hands it to the hosted steps ([`interaction`]:
//! login with [`signin`] (or registration first, [`register`]), the second factor with [`mfa`], the consent policy with
//! [`policy_consent`], consent, the code); [`respond`] answers the browser.
//!
//! Without the hosted pages, [`password`] signs a user in with the hosted login's
//! check for the simplified login API ([`simplelogin`]) and the legacy password
//! grant; the authorization endpoint hands a simplified app's request to
//! [`simplelogin`] instead of the login page.
//!
//! Who may use an app at all (its `allowed_roles`) is decided in one place,
//! [`admission`], which the sign-in steps, the refresh grant and the minting of a
//! user's tokens ask.
//!
//! Modules import downwards only: the endpoints (`authorize`, `token`, `device`,
//! `logout`, `revoke`, `userinfo`, `simplelogin`) use the steps (`interaction`),
//! the grants (`code`, `refresh`, `client_credentials`, `password`) and the shared
//! layers (`issue`, `admission`, `client`, `signin`, `respond`, `request`,
//! `audience`), never the other way.

mod admission;
mod audience;
mod authorize;
mod client;
mod client_credentials;
mod code;
mod device;
mod interaction;
mod issue;
mod logout;
mod mfa;
mod password;
mod policy_consent;
mod refresh;
pub(crate) mod register;
mod request;
mod respond;
mod revoke;
pub(crate) mod signin;
mod simplelogin;
mod steps;
mod token;
mod upstream;
mod userinfo;

pub(crate) use authorize::authorize;
pub(crate) use device::{device_authorization, page as device_page};
pub(crate) use logout::logout;
pub(crate) use mfa::{load_factor, reset_factor};
pub(crate) use request::{Prompt, ResponseMode};
pub(crate) use revoke::{introspect, revoke};
pub(crate) use simplelogin::{authenticate as simple_authenticate, token as simple_token};
pub(crate) use steps::{consent, login, mfa_submit, policy_consent};
pub(crate) use token::{SERVED_GRANTS, token};
pub(crate) use upstream::{callback as upstream_callback, start as upstream_start};
pub(crate) use userinfo::userinfo;
