//! Webhook tools (feature `webhooks`): calling a tool that runs behind an
//! HTTP endpoint, signed and within safe bounds.
//!
//! [`WebhookCaller::call`] posts one [`WebhookCall`] and returns the JSON the
//! webhook answered, or a [`WebhookError`] whose message can be shown to the
//! model as it is. The rules, unless [`WebhookPolicy::allow_private_networks`]:
//! `https` only; never a loopback, private, link-local or other non-global
//! address, judged on the URL's own address or, for a name, on every
//! address it resolves to when connecting; no redirects, no proxies. Always:
//! the target's timeout for the whole call, and answers up to
//! [`WebhookPolicy::max_response_bytes`].
//!
//! - `address`: which addresses are not global ([`AddressClass`]);
//! - `destination`: the URL's scheme and address, before sending;
//! - `resolver`: the address rules on resolved names, at connect time;
//! - `signature`: Standard Webhooks signing;
//! - `call`: the request body;
//! - `body`: reading the answer within the size limit;
//! - `caller`: the client and the call;
//! - `error`: what can go wrong.

mod address;
mod body;
mod call;
mod caller;
mod destination;
mod error;
mod resolver;
mod signature;

pub use address::AddressClass;
pub use call::WebhookCall;
pub use caller::{WebhookCaller, WebhookPolicy, DEFAULT_MAX_RESPONSE_BYTES};
pub use error::{Refusal, WebhookError};
