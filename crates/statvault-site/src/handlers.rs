//! The answers: pages, files, the log, the APIs and the alerts' forms.

use statvault_release::names;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::header;
use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use sha2::{Digest as _, Sha256};
use statvault_release::meta::utc_time;
use statvault_release::names::{MANIFEST_FILE, PROOF_FILE, SIGNATURE_FILE};
use statvault_release::verify::read_checked;

use crate::lang::Lang;
use crate::reply::*;
use crate::router::*;
use crate::select::parse_query;
use crate::state::*;
use crate::subscriptions::{Alerts, SubscriptionError, Subscriptions, TokenState};
use crate::{api, pages, pxweb, select, store};

pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Which bounded share of the blocking pool a piece of work takes.
#[derive(Clone, Copy)]
pub(crate) enum Work {
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
pub(crate) async fn heavy(
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

pub(crate) fn with_query(
    RawQuery(query): RawQuery,
    f: impl FnOnce(&[(String, String)]) -> Reply,
) -> Reply {
    match parse_query(query.as_deref().unwrap_or("")) {
        Ok(params) => f(&params),
        Err(e) => Reply::error(400, &e.to_string()),
    }
}

pub(crate) fn not_found(lang: &str) -> Reply {
    Reply::html(pages::not_found(Lang::or_english(lang).code()))
        .status(404)
        .header("cache-control", "no-store".into())
}

/// A page in the language its address names, or "not found" for a language the site
/// does not speak.
pub(crate) fn page(lang: &str, render: impl FnOnce(&str) -> String) -> Reply {
    match Lang::parse(lang) {
        Some(lang) => Reply::html(render(lang.code())),
        None => not_found(lang),
    }
}

/// The stylesheet and script. Pages name them with their content's hash
/// (`site.3f2a….css`), so those addresses are kept for a year; the plain names stay
/// for an hour (old pages, the export).
pub(crate) async fn asset(Path(file): Path<String>) -> Reply {
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
pub(crate) async fn sitemap(State(site): Shared) -> Reply {
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
pub(crate) fn latest_version(site: &Site, lang: &str, release: &str, rest: &str) -> Option<Reply> {
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
pub(crate) async fn root(request: Request) -> Reply {
    let english = request
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("en"));
    let mut reply = Reply::bytes(303, "text/plain", Vec::new());
    reply = reply.header("location", if english { "/en/" } else { "/sq/" }.into());
    reply.header("vary", "accept-language".into())
}

pub(crate) async fn home(State(site): Shared, Path(lang): Path<String>) -> Reply {
    page(&lang, |lang| {
        pages::home(
            lang,
            &site.store.catalog(),
            site.store.now(),
            site.alerts.is_some(),
        )
    })
}

pub(crate) async fn feed(State(site): Shared, Path(lang): Path<String>) -> Reply {
    if Lang::parse(&lang).is_none() {
        return not_found("en");
    }
    // Links are absolute where the public address is known (`--public-url`).
    let base = site.public_url.as_deref().unwrap_or("");
    let body = pages::feed(&lang, &site.store.catalog(), site.store.now(), base);
    Reply::bytes(
        200,
        "application/atom+xml; charset=utf-8",
        body.into_bytes(),
    )
    .header("cache-control", "public, max-age=60".into())
}

/// The largest form body taken: an e-mail address, with room to spare.
pub(crate) const FORM_BYTES: usize = 2048;
/// The largest PxWebApi query taken by POST: every municipality and age group named,
/// with room to spare (the cells it selects are limited separately).
pub(crate) const PXWEB_QUERY_BYTES: usize = 64 << 10;

/// The address a PxWebApi client POSTs its queries to.
pub(crate) fn is_pxweb_data(path: &str) -> bool {
    path.strip_prefix("/api/v2/tables/")
        .and_then(|rest| rest.strip_suffix("/data"))
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// The pages that take a POST: the e-mail alerts' forms.
pub(crate) fn is_form(path: &str) -> bool {
    let rest = path
        .strip_prefix("/sq/")
        .or_else(|| path.strip_prefix("/en/"));
    matches!(
        rest,
        Some("subscribe" | "subscribe/confirm" | "subscribe/sent" | "unsubscribe")
    )
}

/// The subscriptions, when the site takes them and `lang` is one of its languages.
pub(crate) fn alerts_for(site: &Site, lang: &str) -> Option<Arc<Alerts>> {
    site.alerts.clone().filter(|_| Lang::parse(lang).is_some())
}

/// Runs a step on the subscriber database off the async threads (a commit waits for
/// the disk).
pub(crate) async fn on_database<T: Send + 'static>(
    alerts: &Arc<Alerts>,
    step: impl FnOnce(&Subscriptions) -> Result<T, SubscriptionError> + Send + 'static,
) -> Result<T, SubscriptionError> {
    let alerts = alerts.clone();
    tokio::task::spawn_blocking(move || step(&alerts.subscriptions))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// 503 for a database that fails; the operator reads why in the log.
pub(crate) fn unavailable(lang: &str, error: &SubscriptionError) -> Reply {
    diagnostic!("statvault-site: {error}");
    Reply::html(pages::alerts_step(lang, "try_later", None))
        .status(503)
        .header("retry-after", "60".into())
}

/// The form's or the link's field `name`, or "".
pub(crate) fn field(raw: &[u8], name: &str) -> String {
    std::str::from_utf8(raw)
        .ok()
        .and_then(|text| parse_query(text).ok())
        .and_then(|fields| fields.into_iter().find(|(n, _)| n == name))
        .map(|(_, value)| value)
        .unwrap_or_default()
}

pub(crate) async fn alerts_form(State(site): Shared, Path(lang): Path<String>) -> Reply {
    match alerts_for(&site, &lang) {
        Some(_) => Reply::html(pages::alerts(&lang, None)),
        None => not_found(&lang),
    }
}

pub(crate) async fn alerts_sent(State(site): Shared, Path(lang): Path<String>) -> Reply {
    match alerts_for(&site, &lang) {
        Some(_) => Reply::html(pages::alerts_step(&lang, "sent", None)),
        None => not_found(&lang),
    }
}

/// POST of the form: records the address as pending and queues the confirmation,
/// then sends the browser to a page that says the same whatever the address was.
pub(crate) async fn subscribe(State(site): Shared, Path(lang): Path<String>, body: Bytes) -> Reply {
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
pub(crate) async fn token_page(
    site: &Site,
    lang: &str,
    query: &str,
    action: &'static str,
) -> Reply {
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

pub(crate) async fn confirm_page(
    State(site): Shared,
    Path(lang): Path<String>,
    q: RawQuery,
) -> Reply {
    token_page(&site, &lang, q.0.as_deref().unwrap_or(""), "confirm").await
}

pub(crate) async fn unsubscribe_page(
    State(site): Shared,
    Path(lang): Path<String>,
    q: RawQuery,
) -> Reply {
    token_page(&site, &lang, q.0.as_deref().unwrap_or(""), "unsubscribe").await
}

pub(crate) async fn confirm(State(site): Shared, Path(lang): Path<String>, q: RawQuery) -> Reply {
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
pub(crate) async fn unsubscribe(
    State(site): Shared,
    Path(lang): Path<String>,
    q: RawQuery,
) -> Reply {
    let Some(alerts) = alerts_for(&site, &lang) else {
        return not_found(&lang);
    };
    let token = field(q.0.unwrap_or_default().as_bytes(), "token");
    match on_database(&alerts, move |s| s.unsubscribe(&token)).await {
        Ok(_) => Reply::html(pages::alerts_step(&lang, "unsubscribed", None)),
        Err(e) => unavailable(&lang, &e),
    }
}

pub(crate) async fn release_page(
    State(site): Shared,
    Path((lang, name)): Path<(String, String)>,
) -> Reply {
    heavy(site, Work::Page, move |site| {
        release_reply(site, &lang, &name)
    })
    .await
}

pub(crate) fn release_reply(site: &Site, lang: &str, name: &str) -> Reply {
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

pub(crate) async fn table_page(
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
pub(crate) async fn embed_page(
    State(site): Shared,
    Path((lang, name, table)): Path<(String, String, String)>,
    query: RawQuery,
) -> Reply {
    table_view(site, lang, name, table, query, pages::Frame::Embedded).await
}

pub(crate) async fn table_view(
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

pub(crate) async fn api_table(
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

pub(crate) async fn api_data(
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

pub(crate) async fn pxweb_metadata(
    State(site): Shared,
    Path(id): Path<String>,
    query: RawQuery,
) -> Reply {
    heavy(site, Work::Page, move |site| {
        with_query(query, |p| {
            pxweb::metadata(&site.store.catalog(), site.store.now(), &id, p)
        })
    })
    .await
}

/// `/api/v2/tables/{id}/data`, by GET (the selection in the address) or POST (a JSON
/// query, as pxwebpy sends it).
pub(crate) async fn pxweb_data(
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
pub(crate) fn with_api_table(
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
pub(crate) async fn bundle_file(
    State(site): Shared,
    Path((name, path)): Path<(String, String)>,
) -> Reply {
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
pub(crate) fn calendar_file(
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
pub(crate) async fn log_file(State(site): Shared, Path(file): Path<String>) -> Reply {
    let catalog = site.store.catalog();
    let (content_type, bytes) = match file.as_str() {
        names::CHECKPOINT_FILE => (
            "text/plain; charset=utf-8",
            catalog.checkpoint.clone().map(String::into_bytes),
        ),
        names::LOG_KEY_FILE => (
            "text/plain; charset=utf-8",
            catalog.key.map(|k| k.write().into_bytes()),
        ),
        names::LOG_ENTRIES_FILE => (
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
pub(crate) async fn log_consistency(State(site): Shared, Path(old): Path<String>) -> Reply {
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

pub(crate) fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "json" => "application/json",
        "geojson" => "application/geo+json",
        "xml" => "application/xml; charset=utf-8",
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
