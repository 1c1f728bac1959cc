//! Outbound webhook delivery, independent of storage: how a delivery is signed (Standard
//! Webhooks), which addresses it may reach (SSRF protection), how it is sent (a pinned, bounded
//! HTTP client) and when a failure is tried again (the retry schedule).

pub mod client;
pub mod schedule;
pub mod signing;
pub mod ssrf;

pub use client::{
    default_lookup, ClientConfig, Deliverer, Lookup, OsLookup, Outcome, Outgoing, SystemLookup,
};
pub use signing::{Secret, SigningError};
pub use ssrf::{AddressPolicy, Blocked, Cidr, UrlError};
