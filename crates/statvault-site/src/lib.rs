//! statvault's public site (DESIGN.md §3 SITE): the release calendar, releases and their
//! tables in Albanian and English, downloads, an API with selections by GET, an Atom
//! feed, and the office's key and transparency log for anyone to check. It holds no
//! microdata and no secret key and only reads; it serves only bundles that verify
//! against the office's key, and none before its release time.
//!
//! `router` is the whole site without a network, so tests call it directly;
//! `serve` puts it on a listener with graceful shutdown, and `metrics_router` serves
//! Prometheus metrics on another.

#![warn(missing_docs)]

/// `eprintln!` for a server: a line that cannot be written (a full disk or a closed
/// pipe under standard error) is lost and the server goes on, where `eprintln!` would
/// panic.
#[macro_export]
macro_rules! diagnostic {
    ($($line:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($line)*);
    }};
}

pub mod api;
pub mod charts;
pub mod compress;
pub mod export;
pub mod geo;
pub mod lang;
pub mod locale;
pub mod mail;
pub mod mirror;
pub mod pages;
pub mod pxweb;
pub mod search;
pub mod select;
pub mod store;
pub mod subscriptions;

mod cache;
mod handlers;
mod middleware;
mod reply;
mod router;
mod server;
mod state;

pub use handlers::http_date;
pub use reply::Reply;
pub use router::{metrics_router, router};
pub use server::serve;
pub use state::{Limits, Site};
