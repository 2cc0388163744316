//! The site's state: the releases it serves, its limits, and per-client budgets.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::Method;

use crate::cache::*;
use crate::handlers::*;
use crate::mirror::MirrorStatus;
use crate::store::Store;
use crate::subscriptions::Alerts;

/// Every limit a client meets; published at `/api/v1/config`.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Most cells one request may select.
    pub max_cells: u64,
    /// Requests one client may make a minute (bursts up to as many).
    pub requests_per_minute: u32,
    /// Longest query string accepted, in bytes.
    pub max_query_bytes: usize,
    /// How long a request may take before it is answered 503.
    pub request_timeout: Duration,
    /// Subscription forms one client may post an hour (bursts up to as many).
    pub subscriptions_per_hour: u32,
    /// Connections served at once; more are closed as they arrive.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_cells: 200_000,
            requests_per_minute: 600,
            max_query_bytes: 4096,
            request_timeout: Duration::from_secs(10),
            subscriptions_per_hour: 10,
            max_connections: 512,
        }
    }
}

/// The site: the releases it serves, its limits, and its counters.
pub struct Site {
    /// The releases served.
    pub store: Store,
    /// The limits clients meet.
    pub limits: Limits,
    /// Print one JSON line per request on standard error.
    pub access_log: bool,
    /// E-mail alerts, when the site takes subscriptions.
    pub alerts: Option<Arc<Alerts>>,
    /// The pulls, when the site is a mirror.
    pub mirror: Option<Arc<MirrorStatus>>,
    /// The site is being written out as a static copy (`site export`): its table pages
    /// say they show each table whole, and offer no selection a file server cannot make.
    pub static_copy: bool,
    /// The site's public address (`https://stats.example`), for what must be absolute:
    /// the sitemap, and the canonical and language links of each page.
    pub public_url: Option<String>,
    /// Rate limits per client: reads of the API and the alerts' pages, and posted forms.
    pub(crate) reads: Buckets,
    pub(crate) posts: Buckets,
    pub(crate) cache: ResponseCache,
    pub(crate) requests: [AtomicU64; 5],
    pub(crate) limited: AtomicU64,
    /// Permits for work made on the blocking pool (see `heavy`): pages one per core,
    /// data answers (an XLSX of the grid, say) half as many, so that downloads never
    /// take every core from pages.
    pub(crate) pages: Arc<tokio::sync::Semaphore>,
    pub(crate) downloads: Arc<tokio::sync::Semaphore>,
    /// Access-log lines dropped because the log's writer fell behind.
    pub(crate) log_dropped: AtomicU64,
}

impl Site {
    /// A site serving `store` within `limits`: no alerts, no mirroring, no access log.
    pub fn new(store: Store, limits: Limits) -> Site {
        Site {
            store,
            limits,
            access_log: false,
            alerts: None,
            mirror: None,
            public_url: None,
            static_copy: false,
            reads: Buckets::default(),
            posts: Buckets::default(),
            cache: ResponseCache::default(),
            requests: Default::default(),
            limited: AtomicU64::new(0),
            pages: Arc::new(tokio::sync::Semaphore::new(cores())),
            downloads: Arc::new(tokio::sync::Semaphore::new((cores() / 2).max(1))),
            log_dropped: AtomicU64::new(0),
        }
    }

    /// The wait and the limit, when `client` is over the limit for this request: API
    /// reads and the alerts' pages share one per-minute budget, posted subscription
    /// forms have a much smaller hourly one. Pages are not limited (they are cached).
    pub(crate) fn over_limit(
        &self,
        client: IpAddr,
        method: &Method,
        path: &str,
        form: bool,
    ) -> Option<(u64, String)> {
        // (bucket, tokens a minute, burst, the limit in words)
        let (budget, per_minute, burst, limit) = if method == Method::POST && form {
            let per_hour = f64::from(self.limits.subscriptions_per_hour);
            let limit = format!("{per_hour} subscription forms an hour");
            (&self.posts, per_hour / 60.0, per_hour, limit)
        } else if path.starts_with("/api/") || form {
            let per_minute = f64::from(self.limits.requests_per_minute);
            let limit = format!("{per_minute} requests a minute");
            (&self.reads, per_minute, per_minute, limit)
        } else {
            return None;
        };
        budget
            .admit(client, per_minute, burst)
            .err()
            .map(|wait| (wait, limit))
    }
}

/// A token bucket per client.
#[derive(Default)]
pub(crate) struct Buckets(pub(crate) Mutex<HashMap<IpAddr, (f64, Instant)>>);

impl Buckets {
    /// Takes one of `client`'s tokens, which come back at `per_minute` a minute up to
    /// `burst`; or returns the seconds to wait.
    pub(crate) fn admit(&self, client: IpAddr, per_minute: f64, burst: f64) -> Result<(), u64> {
        let rate = per_minute / 60.0;
        let mut buckets = self.0.lock().expect("bucket lock");
        if buckets.len() > 100_000 {
            buckets.clear();
        }
        let now = Instant::now();
        let (tokens, last) = buckets.entry(client).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}
