//! The OAuth flows, one module per grant or endpoint. The token endpoint
//! ([`token`]) parses the form and the grant type once, authenticates the client
//! and writes the one token response; each grant only decides what to issue.

mod audience;
mod client_credentials;
mod issue;
mod token;

pub(crate) use token::{SERVED_GRANTS, token};
