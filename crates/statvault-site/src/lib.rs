//! statvault's public site (DESIGN.md §3 SITE): the release calendar, releases and their
//! tables in Albanian and English, downloads, an API with selections by GET, an Atom
//! feed, and the office's key and transparency log for anyone to check. It holds no
//! microdata and no secret key and only reads; it serves only bundles that verify
//! against the office's key, and none before its release time.
//!
//! `router` is the whole site without a network, so tests call it directly;
//! `serve` puts it on a listener with graceful shutdown, and `metrics_router` serves
//! Prometheus metrics on another.

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
pub mod locale;
pub mod mail;
pub mod mirror;
pub mod pages;
pub mod pxweb;
pub mod search;
pub mod select;
pub mod store;
pub mod subscriptions;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use sha2::{Digest as _, Sha256};
use statvault_release::meta::utc_time;
use statvault_release::sign::{MANIFEST_FILE, PROOF_FILE, SIGNATURE_FILE};
use statvault_release::verify::read_checked;

use crate::mirror::MirrorStatus;
use crate::select::parse_query;
use crate::store::Store;
use crate::subscriptions::{Alerts, SubscriptionError, Subscriptions, TokenState};

/// Every limit a client meets; published at `/api/v1/config`.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_cells: u64,
    pub requests_per_minute: u32,
    pub max_query_bytes: usize,
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
    pub store: Store,
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
    reads: Buckets,
    posts: Buckets,
    cache: ResponseCache,
    requests: [AtomicU64; 5],
    limited: AtomicU64,
    /// Permits for work made on the blocking pool (see `heavy`): pages one per core,
    /// data answers (an XLSX of the grid, say) half as many, so that downloads never
    /// take every core from pages.
    pages: Arc<tokio::sync::Semaphore>,
    downloads: Arc<tokio::sync::Semaphore>,
    /// Access-log lines dropped because the log's writer fell behind.
    log_dropped: AtomicU64,
}

impl Site {
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
    fn over_limit(
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
struct Buckets(Mutex<HashMap<IpAddr, (f64, Instant)>>);

impl Buckets {
    /// Takes one of `client`'s tokens, which come back at `per_minute` a minute up to
    /// `burst`; or returns the seconds to wait.
    fn admit(&self, client: IpAddr, per_minute: f64, burst: f64) -> Result<(), u64> {
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

/// Answers already given, for the same address, catalog and set of public bundles:
/// bundles never change, so an answer changes only when the catalog is reread or a
/// release time passes. Whole-table downloads (the grid's XLSX takes seconds to make)
/// are kept too; when the budget is spent, the answers used longest ago go first, so
/// a client asking for many different selections cannot push out the common ones.
#[derive(Default)]
struct ResponseCache {
    entries: Mutex<CachedAnswers>,
    /// The answers being made, by key: one request makes an answer, the others asking
    /// for it meanwhile wait for it (else each miss, say after a release time, would
    /// make it once per waiting client).
    making: Mutex<HashMap<String, std::sync::Weak<tokio::sync::Mutex<()>>>>,
    /// Answers served from the cache, and answers made for it.
    hits: AtomicU64,
    made: AtomicU64,
}

#[derive(Default)]
struct CachedAnswers {
    /// Headers, body, and the tick of its last use.
    by_key: HashMap<String, (axum::http::HeaderMap, axum::body::Bytes, u64)>,
    bytes: usize,
    tick: u64,
}

impl ResponseCache {
    /// Most bytes kept.
    const BUDGET: usize = 256 << 20;
    /// Larger answers are not kept.
    const LARGEST: usize = 48 << 20;

    /// The key of the answer to `uri` from `catalog` at `now`.
    fn key(catalog: &Arc<store::Catalog>, now: u64, uri: &axum::http::Uri) -> String {
        // Bundles are sorted by release time: how many are public says which.
        let public = catalog.public(now).count();
        format!("{:p} {public} {uri}", Arc::as_ptr(catalog))
    }

    fn get(&self, key: &str) -> Option<Response> {
        let mut entries = self.entries.lock().expect("cache lock");
        entries.tick += 1;
        let tick = entries.tick;
        let (headers, body, used) = entries.by_key.get_mut(key)?;
        *used = tick;
        self.hits.fetch_add(1, Ordering::Relaxed);
        let mut response = Response::new(Body::from(body.clone()));
        *response.headers_mut() = headers.clone();
        Some(response)
    }

    /// The turn to make the answer for `key`: held while making it.
    fn turn(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut making = self.making.lock().expect("cache lock");
        if let Some(turn) = making.get(key).and_then(std::sync::Weak::upgrade) {
            return turn;
        }
        if making.len() > 4096 {
            making.retain(|_, turn| turn.strong_count() > 0);
        }
        let turn = Arc::new(tokio::sync::Mutex::new(()));
        making.insert(key.to_string(), Arc::downgrade(&turn));
        turn
    }

    async fn keep(&self, key: String, response: Response) -> Response {
        self.made.fetch_add(1, Ordering::Relaxed);
        if response.status() != StatusCode::OK {
            return response;
        }
        let (parts, body) = response.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
            return Reply::error(500, "the answer could not be read").into_response();
        };
        if bytes.len() <= Self::LARGEST {
            self.entries.lock().expect("cache lock").insert(
                key,
                parts.headers.clone(),
                bytes.clone(),
                Self::BUDGET,
            );
        }
        Response::from_parts(parts, Body::from(bytes))
    }
}

impl CachedAnswers {
    /// Keeps an answer, first removing those used longest ago until it fits `budget`.
    fn insert(
        &mut self,
        key: String,
        headers: axum::http::HeaderMap,
        body: axum::body::Bytes,
        budget: usize,
    ) {
        if self.bytes + body.len() > budget {
            let mut by_use: Vec<(u64, String)> = self
                .by_key
                .iter()
                .map(|(k, (_, _, used))| (*used, k.clone()))
                .collect();
            by_use.sort_unstable();
            // Down to three quarters, so that eviction (a sort) is not done per insert.
            for (_, old) in by_use {
                if self.bytes + body.len() <= budget / 4 * 3 {
                    break;
                }
                if let Some((_, gone, _)) = self.by_key.remove(&old) {
                    self.bytes -= gone.len();
                }
            }
        }
        self.tick += 1;
        self.bytes += body.len();
        if let Some((_, replaced, _)) = self.by_key.insert(key, (headers, body, self.tick)) {
            self.bytes -= replaced.len();
        }
    }
}

/// A response under construction.
pub struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Reply {
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", content_type.to_string())],
            body,
        }
    }

    pub fn json(value: &serde_json::Value) -> Reply {
        let mut body = serde_json::to_vec_pretty(value).expect("JSON serializes");
        body.push(b'\n');
        Reply::bytes(200, "application/json", body)
            .header("cache-control", "public, max-age=60".into())
    }

    pub fn html(body: String) -> Reply {
        Reply::bytes(200, "text/html; charset=utf-8", body.into_bytes())
            .header("cache-control", "public, max-age=60".into())
    }

    pub fn error(status: u16, message: &str) -> Reply {
        let body = serde_json::to_vec(&serde_json::json!({ "error": message })).expect("JSON");
        Reply::bytes(status, "application/json", body).header("cache-control", "no-store".into())
    }

    pub fn status(mut self, status: u16) -> Reply {
        self.status = status;
        self
    }

    pub fn header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value));
        self
    }

    pub fn etag(self, bundle_etag: &str, what: &str) -> Reply {
        self.header("etag", api::derived_etag(bundle_etag, what))
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, v);
            }
        }
        response
    }
}

type Shared = State<Arc<Site>>;

pub fn router(site: Arc<Site>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/assets/{file}", get(asset))
        .route(
            "/favicon.ico",
            get(|| async {
                Reply::bytes(200, "image/x-icon", pages::favicon_ico())
                    .header("cache-control", "public, max-age=86400".into())
            }),
        )
        .route(
            "/favicon.svg",
            get(|| async {
                Reply::bytes(200, "image/svg+xml", pages::FAVICON_SVG.into())
                    .header("cache-control", "public, max-age=86400".into())
            }),
        )
        .route(
            "/robots.txt",
            get(|s: Shared| async move {
                Reply::bytes(
                    200,
                    "text/plain; charset=utf-8",
                    pages::robots(s.public_url.as_deref()).into_bytes(),
                )
                .header("cache-control", "public, max-age=3600".into())
            }),
        )
        .route("/sitemap.xml", get(sitemap))
        .route("/embed/{lang}/releases/{bundle}/{table}", get(embed_page))
        .route(
            "/calendar.json",
            get(|s: Shared| async move { calendar_file(&s, "application/json", |c| c.write()) }),
        )
        .route(
            "/calendar.ics",
            get(|s: Shared| async move {
                calendar_file(&s, "text/calendar; charset=utf-8", |c| {
                    c.to_ics().into_bytes()
                })
            }),
        )
        .route("/log/{file}", get(log_file))
        .route("/log/consistency/{old}", get(log_consistency))
        .route("/releases/{bundle}/{*path}", get(bundle_file))
        .route(
            "/api/v1/openapi.json",
            get(|| async { Reply::json(&api::openapi()) }),
        )
        .route(
            "/api/v1/config",
            get(|s: Shared| async move { api::config(&s.limits) }),
        )
        .route(
            "/api/v1/releases",
            get(|s: Shared, q: RawQuery| async move {
                with_query(q, |p| api::releases(&s.store.catalog(), s.store.now(), p))
            }),
        )
        .route(
            "/api/v1/tables",
            get(|s: Shared, q: RawQuery| async move {
                with_query(q, |p| api::tables(&s.store.catalog(), s.store.now(), p))
            }),
        )
        .route(
            "/api/v1/releases/{id}",
            get(|s: Shared, Path(id): Path<String>| async move {
                api::release(&s.store.catalog(), s.store.now(), &id)
            }),
        )
        .route("/api/v1/releases/{id}/tables/{table}", get(api_table))
        .route("/api/v1/releases/{id}/tables/{table}/data", get(api_data))
        .route(
            "/api/v2/config",
            get(|s: Shared| async move { pxweb::config(&s.limits) }),
        )
        .route(
            "/api/v2/tables",
            get(|s: Shared, q: RawQuery| async move {
                with_query(q, |p| pxweb::tables(&s.store.catalog(), s.store.now(), p))
            }),
        )
        .route(
            "/api/v2/tables/{id}",
            get(
                |s: Shared, Path(id): Path<String>, q: RawQuery| async move {
                    with_query(q, |p| {
                        pxweb::table(&s.store.catalog(), s.store.now(), &id, p)
                    })
                },
            ),
        )
        .route("/api/v2/tables/{id}/metadata", get(pxweb_metadata))
        .route(
            "/api/v2/tables/{id}/data",
            get(pxweb_data)
                .post(pxweb_data)
                .layer(DefaultBodyLimit::max(PXWEB_QUERY_BYTES)),
        )
        .route(
            "/api/v2/codelists/{id}",
            get(
                |s: Shared, Path(id): Path<String>, q: RawQuery| async move {
                    with_query(q, |p| {
                        pxweb::codelist(&s.store.catalog(), s.store.now(), &id, p)
                    })
                },
            ),
        )
        .route("/{lang}", get(home))
        .route("/{lang}/", get(home))
        .route(
            "/{lang}/calendar",
            get(|s: Shared, Path(lang): Path<String>| async move {
                page(&lang, |lang| pages::calendar(lang, &s.store.catalog()))
            }),
        )
        .route(
            "/{lang}/search",
            get(
                |s: Shared, Path(lang): Path<String>, q: RawQuery| async move {
                    with_query(q, |p| {
                        let query = api::param(p, "q").unwrap_or("");
                        page(&lang, |lang| {
                            pages::search(
                                lang,
                                &s.store.catalog(),
                                s.store.now(),
                                query,
                                s.static_copy,
                            )
                        })
                    })
                },
            ),
        )
        .route(
            "/{lang}/authenticity",
            get(|s: Shared, Path(lang): Path<String>| async move {
                page(&lang, |lang| pages::authenticity(lang, &s.store.catalog()))
            }),
        )
        .route("/{lang}/feed.atom", get(feed))
        .route("/{lang}/subscribe", get(alerts_form).post(subscribe))
        .route("/{lang}/subscribe/sent", get(alerts_sent))
        .route("/{lang}/subscribe/confirm", get(confirm_page).post(confirm))
        .route(
            "/{lang}/unsubscribe",
            get(unsubscribe_page).post(unsubscribe),
        )
        .route("/{lang}/releases/{bundle}", get(release_page))
        .route("/{lang}/releases/{bundle}/{table}", get(table_page))
        .fallback(|| async { not_found("en") })
        .layer(DefaultBodyLimit::max(FORM_BYTES))
        .layer(middleware::from_fn_with_state(site.clone(), guard))
        .with_state(site)
}

/// `/metrics` in Prometheus's text format, for a separate, private listener.
pub fn metrics_router(site: Arc<Site>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|s: Shared| async move {
                let mut out = String::from("# TYPE statvault_site_requests_total counter\n");
                for (class, counter) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().zip(&s.requests) {
                    out.push_str(&format!(
                        "statvault_site_requests_total{{class=\"{class}\"}} {}\n",
                        counter.load(Ordering::Relaxed)
                    ));
                }
                let catalog = s.store.catalog();
                out.push_str(&format!(
                    "# TYPE statvault_site_rate_limited_total counter\nstatvault_site_rate_limited_total {}\n\
# TYPE statvault_site_bundles gauge\nstatvault_site_bundles{{state=\"verified\"}} {}\n\
# TYPE statvault_site_refused gauge\nstatvault_site_refused {}\n\
# TYPE statvault_site_access_log_dropped_total counter\nstatvault_site_access_log_dropped_total {}\n\
# TYPE statvault_site_cached_answers_total counter\nstatvault_site_cached_answers_total{{result=\"hit\"}} {}\nstatvault_site_cached_answers_total{{result=\"made\"}} {}\n\
# TYPE statvault_site_cache_bytes gauge\nstatvault_site_cache_bytes {}\n",
                    s.limited.load(Ordering::Relaxed),
                    catalog.bundles.len(),
                    catalog.refused.len(),
                    s.log_dropped.load(Ordering::Relaxed),
                    s.cache.hits.load(Ordering::Relaxed),
                    s.cache.made.load(Ordering::Relaxed),
                    s.cache.entries.lock().expect("cache lock").bytes,
                ));
                if let Some(mirror) = &s.mirror {
                    out.push_str(&mirror.metrics());
                }
                if let Some(alerts) = &s.alerts {
                    let (sent, failed) = alerts.letters_sent();
                    out.push_str(&format!(
                        "# TYPE statvault_site_letters_total counter\nstatvault_site_letters_total{{result=\"sent\"}} {sent}\nstatvault_site_letters_total{{result=\"failed\"}} {failed}\n"
                    ));
                    if let Ok(counts) = on_database(alerts, |s| s.counts()).await {
                        out.push_str(&format!(
                            "# TYPE statvault_site_subscribers gauge\nstatvault_site_subscribers{{state=\"pending\"}} {}\nstatvault_site_subscribers{{state=\"confirmed\"}} {}\n# TYPE statvault_site_letters_queued gauge\nstatvault_site_letters_queued {}\n",
                            counts.pending, counts.confirmed, counts.queued
                        ));
                    }
                }
                Reply::bytes(200, "text/plain; version=0.0.4", out.into_bytes())
            }),
        )
        .with_state(site)
}

/// Serves the site on `listener` until `shutdown` completes, letting requests in
/// flight finish; rereads the releases directory every two seconds and, with
/// subscriptions, sends the alerts that are due as often.
pub async fn serve(
    listener: tokio::net::TcpListener,
    site: Arc<Site>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let watcher = site.clone();
    let refresh = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let s = watcher.clone();
            let _ = tokio::task::spawn_blocking(move || s.store.refresh()).await;
        }
    });
    let mail = site.alerts.clone().map(|alerts| {
        let site = site.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let (s, catalog) = (alerts.clone(), site.store.catalog());
                let now = site.store.now();
                match tokio::task::spawn_blocking(move || s.run(&catalog, now)).await {
                    Ok(Ok(round)) if round.announced > 0 => diagnostic!(
                        "statvault-site: {} new release(s) or calendar notice(s); letters queued",
                        round.announced
                    ),
                    Ok(Err(e)) => diagnostic!("statvault-site: e-mail alerts: {e}"),
                    _ => {}
                }
            }
        })
    });
    let served = accept_loop(listener, site, shutdown).await;
    refresh.abort();
    if let Some(mail) = mail {
        mail.abort();
    }
    served
}

/// How long a client may take to send a request's headers, and may keep a connection
/// open between requests: with the cap on connections (`Limits::max_connections`),
/// slow or idle clients cannot hold the site's descriptors.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a graceful shutdown waits for answers in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Accepts connections until `shutdown`: HTTP/1.1 with a header-read timeout (which
/// also ends an idle keep-alive connection) and a cap on connections; then lets the
/// answers in progress finish, for at most SHUTDOWN_GRACE.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    site: Arc<Site>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;
    let slots = Arc::new(tokio::sync::Semaphore::new(site.limits.max_connections));
    let app = router(site);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of descriptors, say: wait a little rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(addr));
                app.clone().oneshot(request.map(Body::new))
            },
        );
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _slot = slot;
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    Ok(())
}

/// Limits, rate limiting, timeouts, security headers, conditional requests, counters
/// and the access log, around every request.
async fn guard(State(site): Shared, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let if_none_match = request.headers().get(header::IF_NONE_MATCH).cloned();
    let query_len = request.uri().query().map_or(0, str::len);
    // The alerts' forms are the only writes, and only when the site takes them.
    let form = site.alerts.is_some() && is_form(&path);
    let reads = method == Method::GET || method == Method::HEAD;
    let allowed = reads || (method == Method::POST && (form || is_pxweb_data(&path)));
    let mut response = if !allowed {
        let allow = if form || is_pxweb_data(&path) {
            "GET, HEAD, POST"
        } else {
            "GET, HEAD"
        };
        Reply::error(405, &format!("this address takes {allow}"))
            .header("allow", allow.into())
            .into_response()
    } else if query_len > site.limits.max_query_bytes {
        Reply::error(
            414,
            &format!(
                "the query is longer than {} bytes",
                site.limits.max_query_bytes
            ),
        )
        .into_response()
    } else if let Some((wait, limit)) =
        client.and_then(|ip| site.over_limit(ip, &method, &path, form))
    {
        site.limited.fetch_add(1, Ordering::Relaxed);
        Reply::error(429, &format!("more than {limit}; retry in {wait} s"))
            .header("retry-after", wait.to_string())
            .into_response()
    } else {
        let encoding = compress::negotiate(request.headers().get(header::ACCEPT_ENCODING));
        let key = format!(
            "{} {}",
            ResponseCache::key(&site.store.catalog(), site.store.now(), request.uri()),
            encoding.map_or("identity", compress::Encoding::token)
        );
        // Bundle files are read from disk each time (the page cache keeps them): a
        // copy in memory would only hide from a browser's check what the disk serves.
        // Nor are the alerts' pages, which change with the subscriber database.
        let cacheable = reads && !path.starts_with("/releases/") && !form;
        // On a miss, wait for the turn to make the answer, and look again: another
        // request may have made it meanwhile.
        let mut hit = site.cache.get(&key).filter(|_| cacheable);
        let turn = (cacheable && hit.is_none()).then(|| site.cache.turn(&key));
        let _making = match &turn {
            Some(turn) => {
                let held = turn.lock().await;
                hit = site.cache.get(&key);
                Some(held)
            }
            None => None,
        };
        match hit {
            Some(hit) => hit,
            None => {
                match tokio::time::timeout(site.limits.request_timeout, next.run(request)).await {
                    Ok(r) if cacheable => site.cache.keep(key, encoded(r, encoding).await).await,
                    Ok(r) => encoded(r, encoding).await,
                    Err(_) => Reply::error(503, "the request took too long")
                        .header("retry-after", "1".into())
                        .into_response(),
                }
            }
        }
    };
    if response.status() == StatusCode::OK {
        if let (Some(tag), Some(wanted)) = (response.headers().get(header::ETAG), &if_none_match) {
            if wanted
                .as_bytes()
                .split(|&b| b == b',')
                .any(|w| w.trim_ascii() == tag.as_bytes() || w.trim_ascii() == b"*")
            {
                let headers = response.headers().clone();
                response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::NOT_MODIFIED;
                for name in [
                    header::ETAG,
                    header::CACHE_CONTROL,
                    header::LAST_MODIFIED,
                    header::VARY,
                ] {
                    if let Some(v) = headers.get(&name) {
                        response.headers_mut().insert(name, v.clone());
                    }
                }
            }
        }
    }
    let embedded = path.starts_with("/embed/");
    if response.status() == StatusCode::OK && !embedded {
        if let Some(link) = site
            .public_url
            .as_deref()
            .and_then(|base| language_links(base, &path))
            .and_then(|l| HeaderValue::from_str(&l).ok())
        {
            response.headers_mut().insert(header::LINK, link);
        }
    }
    let headers = response.headers_mut();
    // Only the embedded view may be framed, by anyone; everything else by no one.
    let (policy, frames) = if embedded {
        (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors *",
            None,
        )
    } else {
        (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            Some("DENY"),
        )
    };
    headers.insert("content-security-policy", HeaderValue::from_static(policy));
    if let Some(frames) = frames {
        headers.insert("x-frame-options", HeaderValue::from_static(frames));
    }
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        (
            "permissions-policy",
            "camera=(), microphone=(), geolocation=()",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if path.starts_with("/api/") {
        headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    }
    if form {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let status = response.status().as_u16();
    site.requests[(status / 100).clamp(1, 5) as usize - 1].fetch_add(1, Ordering::Relaxed);
    if site.access_log {
        let line = serde_json::json!({
            "time": utc_time(store::unix_now()),
            "client": client.map(|c| c.to_string()),
            "method": method.as_str(),
            "path": path,
            "status": status,
            "ms": started.elapsed().as_secs_f64() * 1000.0,
        });
        if !access_log::send(line.to_string()) {
            site.log_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
    response
}

/// The `Link` header of a page in one language: its canonical address and the same page
/// in each language (RFC 8288; what search engines read as `rel=canonical` and
/// `hreflang`). None for an address that is not a page in a language.
fn language_links(base: &str, path: &str) -> Option<String> {
    let rest = pages::LANGUAGES
        .iter()
        .find_map(|lang| path.strip_prefix(&format!("/{lang}")))?;
    if !(rest.is_empty() || rest.starts_with('/')) || rest.ends_with(".atom") {
        return None;
    }
    let mut links = vec![format!("<{base}{path}>; rel=\"canonical\"")];
    for lang in pages::LANGUAGES {
        links.push(format!(
            "<{base}/{lang}{rest}>; rel=\"alternate\"; hreflang=\"{lang}\""
        ));
    }
    links.push(format!(
        "<{base}/sq{rest}>; rel=\"alternate\"; hreflang=\"x-default\""
    ));
    Some(links.join(", "))
}

/// `response` in `encoding`, when it is text worth compressing (see `compress`); large
/// bodies are compressed off the async workers.
async fn encoded(response: Response, encoding: Option<compress::Encoding>) -> Response {
    if response.status() != StatusCode::OK || !compress::compressible(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    parts
        .headers
        .append(header::VARY, HeaderValue::from_static("accept-encoding"));
    let Some(encoding) = encoding else {
        return Response::from_parts(parts, body);
    };
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return Reply::error(500, "the answer could not be read").into_response();
    };
    let packed = if bytes.len() > 256 << 10 {
        let plain = bytes.clone();
        tokio::task::spawn_blocking(move || compress::encode(&plain, encoding))
            .await
            .ok()
            .flatten()
    } else {
        compress::encode(&bytes, encoding)
    };
    match packed {
        Some(packed) => {
            compress::mark(&mut parts.headers, encoding);
            Response::from_parts(parts, Body::from(packed))
        }
        None => Response::from_parts(parts, Body::from(bytes)),
    }
}

/// The access log: lines go through a bounded queue to one writer thread, so that a
/// slow or full disk under standard error never holds up (or, failing, breaks) an
/// answer; when the writer falls behind, lines are dropped and counted.
mod access_log {
    use std::io::Write;
    use std::sync::mpsc::{sync_channel, SyncSender};
    use std::sync::OnceLock;

    static QUEUE: OnceLock<SyncSender<String>> = OnceLock::new();

    /// Queues `line`; false if it was dropped.
    pub fn send(line: String) -> bool {
        QUEUE
            .get_or_init(|| {
                let (tx, rx) = sync_channel::<String>(4096);
                std::thread::spawn(move || {
                    for line in rx {
                        // A write that fails (a full disk) loses the line, nothing else.
                        let _ = writeln!(std::io::stderr().lock(), "{line}");
                    }
                });
                tx
            })
            .try_send(line)
            .is_ok()
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Which bounded share of the blocking pool a piece of work takes.
#[derive(Clone, Copy)]
enum Work {
    /// Rendering a page or a table's description: quick, and what visitors wait on.
    Page,
    /// Making a data answer (a selection in any format, an XLSX of the grid).
    Download,
}

/// Runs CPU-heavy work on the blocking pool, within its share (see `Site::pages`): the
/// async workers stay free for everything else, so a stylesheet or a cached answer is
/// served while large downloads are made, and downloads never hold every core. Work
/// that cannot start, or does not finish, within the request timeout is answered 503
/// with Retry-After; its permit is held until it really ends, so the bound holds.
async fn heavy(
    site: Arc<Site>,
    kind: Work,
    work: impl FnOnce(&Site) -> Reply + Send + 'static,
) -> Reply {
    let started = Instant::now();
    let timeout = site.limits.request_timeout;
    let busy = || {
        Reply::error(503, "the site is busy; try again shortly").header("retry-after", "2".into())
    };
    let share = match kind {
        Work::Page => site.pages.clone(),
        Work::Download => site.downloads.clone(),
    };
    let Ok(Ok(permit)) = tokio::time::timeout(timeout, share.acquire_owned()).await else {
        return busy();
    };
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work(&site)
    });
    match tokio::time::timeout(timeout.saturating_sub(started.elapsed()), task).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(_)) => Reply::error(500, "the answer could not be made"),
        Err(_) => busy(),
    }
}

fn with_query(RawQuery(query): RawQuery, f: impl FnOnce(&[(String, String)]) -> Reply) -> Reply {
    match parse_query(query.as_deref().unwrap_or("")) {
        Ok(params) => f(&params),
        Err(e) => Reply::error(400, &e.to_string()),
    }
}

fn not_found(lang: &str) -> Reply {
    let lang = if lang == "sq" { "sq" } else { "en" };
    Reply::html(pages::not_found(lang))
        .status(404)
        .header("cache-control", "no-store".into())
}

fn page(lang: &str, render: impl FnOnce(&str) -> String) -> Reply {
    if pages::LANGUAGES.contains(&lang) {
        Reply::html(render(lang))
    } else {
        not_found("en")
    }
}

/// The stylesheet and script. Pages name them with their content's hash
/// (`site.3f2a….css`), so those addresses are kept for a year; the plain names stay
/// for an hour (old pages, the export).
async fn asset(Path(file): Path<String>) -> Reply {
    let Some((name, kind, body)) = pages::ASSETS
        .iter()
        .find(|(name, _, body)| file == *name || file == pages::fingerprinted(name, body))
    else {
        return Reply::error(404, "no such asset");
    };
    let age = if file == *name { 3600 } else { 31_536_000 };
    Reply::bytes(200, kind, body.to_vec()).header(
        "cache-control",
        format!(
            "public, max-age={age}{}",
            if age > 3600 { ", immutable" } else { "" }
        ),
    )
}

/// `/sitemap.xml`: every page of the latest public releases in both languages, with
/// each page's other language; only where the public address is known (`--public-url`),
/// as a sitemap takes absolute addresses only.
async fn sitemap(State(site): Shared) -> Reply {
    match &site.public_url {
        Some(base) => Reply::bytes(
            200,
            "application/xml; charset=utf-8",
            pages::sitemap(base, &site.store.catalog(), site.store.now()).into_bytes(),
        )
        .header("cache-control", "public, max-age=600".into()),
        None => Reply::error(404, "no sitemap: the site was started without --public-url"),
    }
}

/// `/{lang}/releases/{name}` where `name` is a release, not one of its versions: the
/// newest public version, by a temporary redirect (it moves with each revision).
fn latest_version(site: &Site, lang: &str, release: &str, rest: &str) -> Option<Reply> {
    let catalog = site.store.catalog();
    let newest = catalog
        .versions(release, site.store.now())
        .last()?
        .name
        .clone();
    Some(
        Reply::bytes(307, "text/plain", Vec::new())
            .header("location", format!("/{lang}/releases/{newest}{rest}"))
            .header("cache-control", "public, max-age=60".into()),
    )
}

/// `/`: the visitor's language, Albanian unless the browser prefers English.
async fn root(request: Request) -> Reply {
    let english = request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("en"));
    let mut reply = Reply::bytes(303, "text/plain", Vec::new());
    reply = reply.header("location", if english { "/en/" } else { "/sq/" }.into());
    reply.header("vary", "accept-language".into())
}

async fn home(State(site): Shared, Path(lang): Path<String>) -> Reply {
    page(&lang, |lang| {
        pages::home(
            lang,
            &site.store.catalog(),
            site.store.now(),
            site.alerts.is_some(),
        )
    })
}

async fn feed(State(site): Shared, Path(lang): Path<String>) -> Reply {
    if !pages::LANGUAGES.contains(&lang.as_str()) {
        return not_found("en");
    }
    let body = pages::feed(&lang, &site.store.catalog(), site.store.now(), "");
    Reply::bytes(
        200,
        "application/atom+xml; charset=utf-8",
        body.into_bytes(),
    )
    .header("cache-control", "public, max-age=60".into())
}

/// The largest form body taken: an e-mail address, with room to spare.
const FORM_BYTES: usize = 2048;
/// The largest PxWebApi query taken by POST: every municipality and age group named,
/// with room to spare (the cells it selects are limited separately).
const PXWEB_QUERY_BYTES: usize = 64 << 10;

/// The address a PxWebApi client POSTs its queries to.
fn is_pxweb_data(path: &str) -> bool {
    path.strip_prefix("/api/v2/tables/")
        .and_then(|rest| rest.strip_suffix("/data"))
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// The pages that take a POST: the e-mail alerts' forms.
fn is_form(path: &str) -> bool {
    let rest = path
        .strip_prefix("/sq/")
        .or_else(|| path.strip_prefix("/en/"));
    matches!(
        rest,
        Some("subscribe" | "subscribe/confirm" | "subscribe/sent" | "unsubscribe")
    )
}

/// The subscriptions, when the site takes them and `lang` is one of its languages.
fn alerts_for(site: &Site, lang: &str) -> Option<Arc<Alerts>> {
    site.alerts
        .clone()
        .filter(|_| pages::LANGUAGES.contains(&lang))
}

/// Runs a step on the subscriber database off the async threads (a commit waits for
/// the disk).
async fn on_database<T: Send + 'static>(
    alerts: &Arc<Alerts>,
    step: impl FnOnce(&Subscriptions) -> Result<T, SubscriptionError> + Send + 'static,
) -> Result<T, SubscriptionError> {
    let alerts = alerts.clone();
    tokio::task::spawn_blocking(move || step(&alerts.subscriptions))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// 503 for a database that fails; the operator reads why in the log.
fn unavailable(lang: &str, error: &SubscriptionError) -> Reply {
    diagnostic!("statvault-site: {error}");
    Reply::html(pages::alerts_step(lang, "try_later", None))
        .status(503)
        .header("retry-after", "60".into())
}

/// The form's or the link's field `name`, or "".
fn field(raw: &[u8], name: &str) -> String {
    std::str::from_utf8(raw)
        .ok()
        .and_then(|text| parse_query(text).ok())
        .and_then(|fields| fields.into_iter().find(|(n, _)| n == name))
        .map(|(_, value)| value)
        .unwrap_or_default()
}

async fn alerts_form(State(site): Shared, Path(lang): Path<String>) -> Reply {
    match alerts_for(&site, &lang) {
        Some(_) => Reply::html(pages::alerts(&lang, None)),
        None => not_found(&lang),
    }
}

async fn alerts_sent(State(site): Shared, Path(lang): Path<String>) -> Reply {
    match alerts_for(&site, &lang) {
        Some(_) => Reply::html(pages::alerts_step(&lang, "sent", None)),
        None => not_found(&lang),
    }
}

/// POST of the form: records the address as pending and queues the confirmation,
/// then sends the browser to a page that says the same whatever the address was.
async fn subscribe(State(site): Shared, Path(lang): Path<String>, body: Bytes) -> Reply {
    let Some(alerts) = alerts_for(&site, &lang) else {
        return not_found(&lang);
    };
    let (email, chosen, now) = (field(&body, "email"), lang.clone(), site.store.now());
    match on_database(&alerts, move |s| s.subscribe(&email, &chosen, now)).await {
        Ok(()) => Reply::bytes(303, "text/plain", Vec::new())
            .header("location", format!("/{lang}/subscribe/sent")),
        Err(SubscriptionError::Address(_)) => {
            Reply::html(pages::alerts(&lang, Some(pages::t(&lang, "bad_address")))).status(400)
        }
        Err(e) => unavailable(&lang, &e),
    }
}

/// The page a link in a letter opens (`confirm` or `unsubscribe`): a button that
/// POSTs to the same address, or "no longer valid".
async fn token_page(site: &Site, lang: &str, query: &str, action: &'static str) -> Reply {
    let Some(alerts) = alerts_for(site, lang) else {
        return not_found(lang);
    };
    let token = field(query.as_bytes(), "token");
    let probe = token.clone();
    match on_database(&alerts, move |s| s.token_state(&probe)).await {
        Ok(TokenState::Unknown) => {
            Reply::html(pages::alerts_step(lang, "bad_link", None)).status(404)
        }
        Ok(TokenState::Confirmed) if action == "confirm" => {
            Reply::html(pages::alerts_step(lang, "confirmed", None))
        }
        Ok(_) => {
            let (ask, target) = match action {
                "confirm" => ("confirm_ask", format!("/subscribe/confirm?token={token}")),
                _ => ("unsubscribe_ask", format!("/unsubscribe?token={token}")),
            };
            Reply::html(pages::alerts_step(lang, ask, Some((&target, action))))
        }
        Err(e) => unavailable(lang, &e),
    }
}

async fn confirm_page(State(site): Shared, Path(lang): Path<String>, q: RawQuery) -> Reply {
    token_page(&site, &lang, q.0.as_deref().unwrap_or(""), "confirm").await
}

async fn unsubscribe_page(State(site): Shared, Path(lang): Path<String>, q: RawQuery) -> Reply {
    token_page(&site, &lang, q.0.as_deref().unwrap_or(""), "unsubscribe").await
}

async fn confirm(State(site): Shared, Path(lang): Path<String>, q: RawQuery) -> Reply {
    let Some(alerts) = alerts_for(&site, &lang) else {
        return not_found(&lang);
    };
    let (token, now) = (
        field(q.0.unwrap_or_default().as_bytes(), "token"),
        site.store.now(),
    );
    match on_database(&alerts, move |s| s.confirm(&token, now)).await {
        Ok(true) => Reply::html(pages::alerts_step(&lang, "confirmed", None)),
        Ok(false) => Reply::html(pages::alerts_step(&lang, "bad_link", None)).status(404),
        Err(e) => unavailable(&lang, &e),
    }
}

/// One-click unsubscribe (RFC 8058): a mail client POSTs `List-Unsubscribe=One-Click`
/// to the link in the letter's header; the button on the page POSTs the same. An
/// unknown token is answered the same, as the address is gone either way.
async fn unsubscribe(State(site): Shared, Path(lang): Path<String>, q: RawQuery) -> Reply {
    let Some(alerts) = alerts_for(&site, &lang) else {
        return not_found(&lang);
    };
    let token = field(q.0.unwrap_or_default().as_bytes(), "token");
    match on_database(&alerts, move |s| s.unsubscribe(&token)).await {
        Ok(_) => Reply::html(pages::alerts_step(&lang, "unsubscribed", None)),
        Err(e) => unavailable(&lang, &e),
    }
}

async fn release_page(State(site): Shared, Path((lang, name)): Path<(String, String)>) -> Reply {
    heavy(site, Work::Page, move |site| {
        release_reply(site, &lang, &name)
    })
    .await
}

fn release_reply(site: &Site, lang: &str, name: &str) -> Reply {
    let catalog = site.store.catalog();
    let now = site.store.now();
    let Some(bundle) = catalog.bundle(name, now) else {
        return latest_version(site, lang, name, "").unwrap_or_else(|| not_found(lang));
    };
    let versions = catalog.versions(&bundle.manifest.release, now);
    let entry = catalog
        .calendar
        .as_ref()
        .and_then(|c| c.get(&bundle.manifest.release));
    let key = catalog
        .key
        .map(|k| k.write().lines().nth(1).unwrap_or_default().to_string());
    page(lang, |lang| {
        pages::release(lang, bundle, &versions, entry, key.as_deref())
    })
    .etag(&bundle.etag, &format!("page:{lang}"))
}

async fn table_page(
    State(site): Shared,
    Path((lang, name, table)): Path<(String, String, String)>,
    query: RawQuery,
) -> Reply {
    let frame = if site.static_copy {
        pages::Frame::StaticCopy
    } else {
        pages::Frame::Page
    };
    table_view(site, lang, name, table, query, frame).await
}

/// A table alone, for other sites to frame (`<iframe src="/embed/en/releases/…">`):
/// the table and its chart, source and link back, without the site's header.
async fn embed_page(
    State(site): Shared,
    Path((lang, name, table)): Path<(String, String, String)>,
    query: RawQuery,
) -> Reply {
    table_view(site, lang, name, table, query, pages::Frame::Embedded).await
}

async fn table_view(
    site: Arc<Site>,
    lang: String,
    name: String,
    table: String,
    query: RawQuery,
    frame: pages::Frame,
) -> Reply {
    heavy(site, Work::Page, move |site| {
        let catalog = site.store.catalog();
        let Some(bundle) = catalog.bundle(&name, site.store.now()) else {
            let rest = format!(
                "/{table}{}",
                query
                    .0
                    .as_deref()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default()
            );
            return latest_version(site, &lang, &name, &rest).unwrap_or_else(|| not_found(&lang));
        };
        let Some(t) = bundle.table(&table) else {
            return not_found(&lang);
        };
        with_query(query, |params| match select::select(t, params) {
            Ok(chosen) => page(&lang, |lang| {
                pages::table(lang, bundle, t, params, &chosen, frame)
            }),
            Err(e) => Reply::html(pages::problem(&lang, "bad_selection", &e.to_string()))
                .status(400)
                .header("cache-control", "no-store".into()),
        })
    })
    .await
}

async fn api_table(
    State(site): Shared,
    Path((id, table)): Path<(String, String)>,
    query: RawQuery,
) -> Reply {
    heavy(site, Work::Page, move |site| {
        with_api_table(site, &id, &table, query, |b, t, _| {
            api::table_metadata(b, t)
        })
    })
    .await
}

async fn api_data(
    State(site): Shared,
    Path((id, table)): Path<(String, String)>,
    query: RawQuery,
) -> Reply {
    heavy(site, Work::Download, move |site| {
        with_api_table(site, &id, &table, query, |b, t, params| {
            api::data(b, t, params, &site.limits)
        })
    })
    .await
}

async fn pxweb_metadata(State(site): Shared, Path(id): Path<String>, query: RawQuery) -> Reply {
    heavy(site, Work::Page, move |site| {
        with_query(query, |p| {
            pxweb::metadata(&site.store.catalog(), site.store.now(), &id, p)
        })
    })
    .await
}

/// `/api/v2/tables/{id}/data`, by GET (the selection in the address) or POST (a JSON
/// query, as pxwebpy sends it).
async fn pxweb_data(
    State(site): Shared,
    Path(id): Path<String>,
    query: RawQuery,
    body: Bytes,
) -> Reply {
    heavy(site, Work::Download, move |site| {
        let posted = (!body.is_empty()).then_some(&body[..]);
        with_query(query, |p| {
            pxweb::data(
                &site.store.catalog(),
                site.store.now(),
                &id,
                p,
                posted,
                &site.limits,
            )
        })
    })
    .await
}

/// Finds the table a `/api/v1/releases/{id}/tables/{table}…` request names (in the
/// version asked, else the latest public one) and answers with `f`.
fn with_api_table(
    site: &Site,
    id: &str,
    table: &str,
    query: RawQuery,
    f: impl FnOnce(&store::Bundle, &statvault_protect::ProtectedTable, &[(String, String)]) -> Reply,
) -> Reply {
    let catalog = site.store.catalog();
    with_query(query, |params| {
        match api::bundle_for(&catalog, site.store.now(), id, params) {
            Ok(b) => match b.table(table) {
                Some(t) => f(b, t, params),
                None => Reply::error(404, &format!("release {id:?} has no table {table:?}")),
            },
            Err(reply) => reply,
        }
    })
}

/// A file of a public bundle, as signed: never changes, so cached for good.
/// A file of a public bundle. The manifest, signature and proof are served from the
/// copies checked at load; every other file is read and checked against the manifest
/// on each request (off the async workers), and served only if it matches: the bytes
/// sent are the bytes hashed. The ETag is the file's SHA-256.
async fn bundle_file(State(site): Shared, Path((name, path)): Path<(String, String)>) -> Reply {
    let catalog = site.store.catalog();
    let Some(bundle) = catalog.bundle(&name, site.store.now()).cloned() else {
        return Reply::error(404, "no such public release");
    };
    let held = match path.as_str() {
        MANIFEST_FILE => Some(&bundle.manifest_bytes),
        SIGNATURE_FILE => Some(&bundle.signature),
        PROOF_FILE => Some(&bundle.proof),
        _ => None,
    };
    let (bytes, sha256) = match held {
        Some(bytes) => (bytes.clone(), hex::encode(Sha256::digest(bytes))),
        None => {
            let Some(entry) = bundle
                .manifest
                .files
                .iter()
                .find(|f| f.path == path)
                .cloned()
            else {
                return Reply::error(404, "no such file in this release");
            };
            let dir = site.store.dir().join(&bundle.name);
            let sha256 = entry.sha256.clone();
            let read = tokio::task::spawn_blocking(move || read_checked(&dir, &entry, true)).await;
            match read {
                Ok(Ok(bytes)) => (bytes, sha256),
                Ok(Err(why)) => {
                    site.store.file_refused(&bundle.name, &why);
                    return Reply::error(
                        404,
                        "this file no longer matches the release's signed manifest",
                    );
                }
                Err(_) => return Reply::error(500, "reading the file failed"),
            }
        }
    };
    Reply::bytes(200, content_type(&path), bytes)
        .header("etag", format!("\"{sha256}\""))
        .header(
            "cache-control",
            "public, max-age=31536000, immutable".into(),
        )
        .header("last-modified", http_date(bundle.release_secs))
}

/// The calendar as checked against the log, in one of its two forms (the same bytes
/// as the files the office's tooling writes).
fn calendar_file(
    site: &Site,
    content_type: &str,
    form: impl FnOnce(&statvault_release::calendar::Calendar) -> Vec<u8>,
) -> Reply {
    match &site.store.catalog().calendar {
        Some(calendar) => Reply::bytes(200, content_type, form(calendar))
            .header("cache-control", "public, max-age=60".into()),
        None => Reply::error(404, "no calendar that matches the log"),
    }
}

/// The log as the site checked it: the checkpoint signed by the key, the entries it
/// covers (never a line past them), and the key.
async fn log_file(State(site): Shared, Path(file): Path<String>) -> Reply {
    let catalog = site.store.catalog();
    let (content_type, bytes) = match file.as_str() {
        "checkpoint" => (
            "text/plain; charset=utf-8",
            catalog.checkpoint.clone().map(String::into_bytes),
        ),
        "key.pub" => (
            "text/plain; charset=utf-8",
            catalog.key.map(|k| k.write().into_bytes()),
        ),
        "entries.jsonl" => (
            "application/jsonl",
            catalog
                .checkpoint
                .as_ref()
                .map(|_| catalog.log_lines.clone()),
        ),
        "verifier" => (
            "text/plain; charset=utf-8",
            catalog
                .verifier_key()
                .map(|v| format!("{v}\n").into_bytes()),
        ),
        _ => {
            return Reply::error(
                404,
                "the log has checkpoint, entries.jsonl, key.pub, verifier and consistency/N",
            )
        }
    };
    match bytes {
        Some(bytes) => {
            Reply::bytes(200, content_type, bytes).header("cache-control", "no-cache".into())
        }
        None => Reply::error(404, "no log that verifies yet"),
    }
}

/// The RFC 6962 consistency proof from an earlier checkpoint of `old` entries to the
/// current one, one base64 hash per line (what `golang.org/x/mod/sumdb/tlog`'s
/// `CheckTree` takes, and `release verify --checkpoint` computes itself).
async fn log_consistency(State(site): Shared, Path(old): Path<String>) -> Reply {
    let catalog = site.store.catalog();
    let size = catalog.log_leaves.len();
    let Some(old) = old.parse::<usize>().ok().filter(|o| (1..=size).contains(o)) else {
        return Reply::error(
            404,
            &format!("a consistency proof is from a size of 1 to {size}"),
        );
    };
    let proof = statvault_release::merkle::consistency_proof(old, &catalog.log_leaves);
    let text: String = proof
        .iter()
        .map(|h| format!("{}\n", BASE64.encode(h)))
        .collect();
    Reply::bytes(200, "text/plain; charset=utf-8", text.into_bytes())
        .header("cache-control", "no-cache".into())
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "json" => "application/json",
        "csv" => "text/csv; charset=utf-8",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "px" | "minisig" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// RFC 9110 IMF-fixdate, e.g. `Tue, 01 Dec 2026 10:00:00 GMT`.
pub fn http_date(secs: u64) -> String {
    let utc = utc_time(secs);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(secs / 86_400 % 7) as usize];
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][utc[5..7].parse::<usize>().unwrap_or(1) - 1];
    format!(
        "{weekday}, {} {month} {} {} GMT",
        &utc[8..10],
        &utc[0..4],
        &utc[11..19]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(n: usize) -> axum::body::Bytes {
        axum::body::Bytes::from(vec![b'x'; n])
    }

    #[test]
    fn the_cache_drops_the_answers_used_longest_ago_and_keeps_its_budget() {
        let cache = ResponseCache::default();
        let mut entries = cache.entries.lock().unwrap();
        for key in ["whole grid", "a", "b"] {
            entries.insert(key.into(), Default::default(), answer(30), 100);
        }
        drop(entries);
        // "whole grid" is asked again, then a fourth answer needs room: the two used
        // longest ago go, down to three quarters of the budget.
        assert!(cache.get("whole grid").is_some());
        let mut entries = cache.entries.lock().unwrap();
        entries.insert("c".into(), Default::default(), answer(30), 100);
        let kept: std::collections::BTreeSet<_> = entries.by_key.keys().cloned().collect();
        assert_eq!(
            kept,
            ["whole grid", "c"].map(String::from).into_iter().collect()
        );
        assert_eq!(entries.bytes, 60);
        // The same key again replaces its answer and counts it once.
        entries.insert("c".into(), Default::default(), answer(10), 100);
        assert_eq!(entries.bytes, 40);
    }
}
