//! `site export`: the whole site as files that any web server or CDN serves as they
//! are: every page in both languages, the assets, the feeds, the calendar and log, the
//! bundles' files, and the API's answers for the default selections. Each file is the
//! router's own response, so the export and the live site cannot disagree.
//!
//! An address with no extension (but the log's files) becomes `<address>/index.html`, or `index.json` for
//! the API; a web server finds them with `try_files $uri $uri/index.html
//! $uri/index.json` (docs/site.md). The export holds what is public when it runs: run
//! it again when a release's embargo ends.

use statvault_release::names;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde::Serialize;
use tower::ServiceExt;

use crate::pages::LANGUAGES;
use crate::{router, Site};

/// What `site export` wrote.
#[derive(Debug, Default, Serialize)]
pub struct ExportReport {
    /// Files written.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Release bundles included.
    pub bundles: usize,
}

/// Writes the site into `out`, which must not exist (written under a temporary name
/// and renamed, so a failed export leaves nothing).
pub async fn export(site: Arc<Site>, out: &Path) -> std::io::Result<ExportReport> {
    if !site.static_copy {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a site is exported as a static copy (Site::static_copy), whose pages say they answer no selection",
        ));
    }
    if out.exists() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} exists; export into a new directory", out.display()),
        ));
    }
    let temp = statvault_release::atomic::partial_path(out, ".partial");
    let result = write_site(site, &temp).await;
    match result {
        Ok(report) => {
            statvault_release::atomic::publish_dir(&temp, out)?;
            Ok(report)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&temp);
            Err(e)
        }
    }
}

async fn write_site(site: Arc<Site>, out: &Path) -> std::io::Result<ExportReport> {
    let catalog = site.store.catalog();
    let now = site.store.now();
    let mut addresses: Vec<String> = [
        "/assets/site.css",
        "/assets/site.js",
        "/favicon.ico",
        "/favicon.svg",
        "/robots.txt",
        "/calendar.json",
        "/calendar.ics",
        "/log/checkpoint",
        "/log/entries.jsonl",
        "/log/key.pub",
        "/api/v1/openapi.json",
        "/api/v1/config",
        "/api/v1/releases",
        "/api/v1/tables",
    ]
    .iter()
    .map(|a| a.to_string())
    .chain(
        crate::pages::ASSETS
            .iter()
            .map(|(name, _, body)| format!("/assets/{}", crate::pages::fingerprinted(name, body))),
    )
    .chain(site.public_url.as_ref().map(|_| "/sitemap.xml".to_string()))
    .collect();
    for lang in LANGUAGES {
        addresses.extend([
            format!("/{lang}/"),
            format!("/{lang}/calendar"),
            format!("/{lang}/authenticity"),
            format!("/{lang}/search"),
            format!("/{lang}/feed.atom"),
        ]);
    }
    let mut report = ExportReport::default();
    for bundle in catalog.public(now) {
        report.bundles += 1;
        for lang in LANGUAGES {
            addresses.push(format!("/{lang}/releases/{}", bundle.name));
            for t in &bundle.tables {
                addresses.push(format!("/{lang}/releases/{}/{}", bundle.name, t.id));
            }
        }
        for file in [
            names::MANIFEST_FILE,
            names::SIGNATURE_FILE,
            names::PROOF_FILE,
        ]
        .into_iter()
        .chain(bundle.manifest.files.iter().map(|f| f.path.as_str()))
        {
            addresses.push(format!("/releases/{}/{file}", bundle.name));
        }
    }
    for bundle in catalog.latest(now) {
        let id = &bundle.manifest.release;
        addresses.push(format!("/api/v1/releases/{id}"));
        for t in &bundle.tables {
            addresses.push(format!("/api/v1/releases/{id}/tables/{}", t.id));
            if t.values.len() as u64 <= site.limits.max_cells {
                addresses.push(format!("/api/v1/releases/{id}/tables/{}/data", t.id));
            }
        }
    }
    let app = router(site.clone());
    for address in addresses {
        let response = app
            .clone()
            .oneshot(
                Request::get(&address)
                    .body(Body::empty())
                    .expect("a valid request"),
            )
            .await
            .expect("the router is infallible");
        if response.status() != StatusCode::OK {
            return Err(std::io::Error::other(format!(
                "{address}: the site answered {}",
                response.status()
            )));
        }
        let json = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(std::io::Error::other)?;
        let last = address.rsplit('/').next().unwrap_or("");
        let relative = if address.ends_with('/') {
            format!("{address}index.html")
        } else if last.contains('.') || address.starts_with("/log/") {
            address.clone()
        } else if json {
            format!("{address}/index.json")
        } else {
            format!("{address}/index.html")
        };
        let target = out.join(relative.trim_start_matches('/'));
        fs::create_dir_all(target.parent().expect("a file in the export"))?;
        fs::write(&target, &body)?;
        report.files += 1;
        report.bytes += body.len() as u64;
    }
    // `/` chooses a language by the browser's preference; a static copy cannot, so it
    // sends everyone to Albanian, with English one link away.
    let index = "<!doctype html><html lang=\"sq\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"0; url=/sq/\"><title>statvault</title></head>\
<body><a href=\"/sq/\">Shqip</a> · <a href=\"/en/\">English</a></body></html>\n";
    fs::write(out.join("index.html"), index)?;
    report.files += 1;
    report.bytes += index.len() as u64;
    Ok(report)
}
