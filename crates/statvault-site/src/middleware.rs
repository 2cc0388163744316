//! What happens around every request: limits, rate limits, the answer cache,
//! compression, conditional requests, security and language headers, counters, and
//! the access log.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use statvault_release::meta::utc_time;

use crate::cache::*;
use crate::handlers::*;
use crate::lang::Lang;
use crate::reply::*;
use crate::router::*;
use crate::state::Site;
use crate::{compress, store};

/// Limits, rate limiting, timeouts, security headers, conditional requests, counters
/// and the access log, around every request.
pub(crate) async fn guard(State(site): Shared, request: Request, next: Next) -> Response {
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
                    Ok(r) => encoded_once(&site, r, encoding).await,
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
pub(crate) fn language_links(base: &str, path: &str) -> Option<String> {
    let rest = Lang::ALL
        .iter()
        .find_map(|lang| path.strip_prefix(&format!("/{}", lang.code())))?;
    if !(rest.is_empty() || rest.starts_with('/')) || rest.ends_with(".atom") {
        return None;
    }
    let mut links = vec![format!("<{base}{path}>; rel=\"canonical\"")];
    for lang in Lang::ALL.map(Lang::code) {
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
pub(crate) async fn encoded(response: Response, encoding: Option<compress::Encoding>) -> Response {
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

/// An answer not kept by address (a bundle file, read and checked against its manifest
/// on this request), in `encoding`: the encoded bytes are kept by the answer's strong
/// ETag (a bundle file's SHA-256, so never stale), and each file is compressed once
/// rather than once a request. Compressing an 18 MiB CSV takes a good part of a core's
/// second, which any client could else ask for again and again; the check still runs
/// on every request.
async fn encoded_once(
    site: &Site,
    response: Response,
    encoding: Option<compress::Encoding>,
) -> Response {
    let tag = response
        .headers()
        .get(header::ETAG)
        .and_then(|t| t.to_str().ok())
        .map(str::to_string);
    let (Some(token), Some(tag)) = (encoding.map(compress::Encoding::token), tag) else {
        return encoded(response, encoding).await;
    };
    if response.status() != StatusCode::OK || !compress::compressible(response.headers()) {
        return response;
    }
    let key = format!("encoded {tag} {token}");
    if let Some(hit) = site.cache.get(&key) {
        return hit;
    }
    let turn = site.cache.turn(&key);
    let _making = turn.lock().await;
    match site.cache.get(&key) {
        Some(hit) => hit,
        None => {
            site.cache
                .keep(key, encoded(response, encoding).await)
                .await
        }
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
