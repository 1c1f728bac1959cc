//! The one integration-test binary. Every test runs against SQLite, and against PostgreSQL too
//! when `SWITCHBOARD_TEST_POSTGRES` names the application role's database (CI sets it).
//! Helpers here are test code too: they fail by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod ai;
mod api_input;
mod attachments;
mod audit_log;
mod auth;
mod automation;
mod browser;
mod calendars;
mod channels;
mod cli;
mod console;
mod contacts;
mod conversation_tools;
mod conversations;
mod events;
mod isolation;
mod kb;
mod multinode;
mod realtime;
mod reports;
mod search;
mod sla;
mod store;
mod teams;
mod tenants;
mod triage;
mod webhooks;
mod widget;
