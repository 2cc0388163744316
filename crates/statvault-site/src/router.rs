//! Every address of the site and of its metrics, each to its handler (`handlers`),
//! behind the guard (`middleware`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::middleware::{self};
use axum::routing::get;
use axum::Router;

use crate::handlers::*;
use crate::middleware::*;
use crate::reply::*;
use crate::state::*;
use crate::{api, pages, pxweb};

pub(crate) type Shared = State<Arc<Site>>;

/// Every route of the site, pages, API and files, with its middleware.
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
