//! `/api/v1`: releases, tables and their metadata, and data selected by GET in every
//! release format. Limits are documented at `/api/v1/config`; the whole API at
//! `/api/v1/openapi.json`.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use statvault_protect::ProtectedTable;
use statvault_release::formats::{csv, jsonstat, languages, px, sdmx, xlsx};

use crate::search;
use crate::select::{self, SelectError};
use crate::store::{Bundle, Catalog};
use crate::{Limits, Reply};

fn release_summary(b: &Bundle) -> Value {
    json!({
        "id": b.manifest.release,
        "version": b.manifest.version,
        "title": b.manifest.title,
        "release_time": b.manifest.release_time,
        "reference_period": b.meta.reference_period,
        "bundle": format!("/releases/{}/", b.name),
        "signed_by": b.key_id,
        "log_index": b.log_index,
        "tables": b.tables.iter().map(|t| json!({"id": t.id, "title": t.title})).collect::<Vec<_>>(),
    })
}

/// `GET /api/v1/releases[?q=text]`: the latest public version of each release whose
/// id, title or tables hold every word of `q` (see `search`).
pub fn releases(catalog: &Catalog, now: u64, params: &[(String, String)]) -> Reply {
    let q = param(params, "q").unwrap_or("");
    let list: Vec<Value> = catalog
        .latest(now)
        .into_iter()
        .filter(|b| {
            let release = search::fold(&format!("{} {:?}", b.manifest.release, b.manifest.title));
            search::matches(q, &release) || b.tables.iter().any(|t| b.finds(&t.id, q))
        })
        .map(|b| release_summary(b))
        .collect();
    Reply::json(&json!({ "releases": list }))
}

/// `GET /api/v1/tables[?q=text]`: every table of the latest public versions.
pub fn tables(catalog: &Catalog, now: u64, params: &[(String, String)]) -> Reply {
    let q = param(params, "q").unwrap_or("");
    let list: Vec<Value> = catalog
        .latest(now)
        .into_iter()
        .flat_map(|b| b.tables.iter().map(move |t| (b, t)))
        .filter(|(b, t)| b.finds(&t.id, q))
        .map(|(b, t)| {
            json!({
                "release": b.manifest.release,
                "version": b.manifest.version,
                "id": t.id,
                "title": t.title,
                "cells": t.values.len(),
                "metadata": format!("/api/v1/releases/{}/tables/{}", b.manifest.release, t.id),
            })
        })
        .collect();
    Reply::json(&json!({ "tables": list }))
}

/// `GET /api/v1/releases/{id}`: every public version.
pub fn release(catalog: &Catalog, now: u64, id: &str) -> Reply {
    let versions = catalog.versions(id, now);
    if versions.is_empty() {
        return Reply::error(404, &format!("no public release {id:?}"));
    }
    let entry = catalog.calendar.as_ref().and_then(|c| c.get(id));
    Reply::json(&json!({
        "id": id,
        "status": entry.map(|e| format!("{:?}", e.status).to_lowercase()),
        "versions": versions.iter().map(|b| {
            let reason = entry
                .and_then(|e| e.versions.iter().find(|v| v.version == b.manifest.version))
                .and_then(|v| v.reason.clone());
            let mut summary = release_summary(b);
            summary["reason"] = json!(reason);
            summary
        }).collect::<Vec<_>>(),
    }))
}

/// The bundle a table request names: `version=N`, or the latest public version.
pub fn bundle_for<'a>(
    catalog: &'a Catalog,
    now: u64,
    release: &str,
    params: &[(String, String)],
) -> Result<&'a Bundle, Reply> {
    let versions = catalog.versions(release, now);
    let bundle = match param(params, "version") {
        None => versions.last().copied(),
        Some(v) => {
            let v: u32 = v
                .parse()
                .map_err(|_| Reply::error(400, &format!("version {v:?} is not a number")))?;
            versions.into_iter().find(|b| b.manifest.version == v)
        }
    };
    bundle.map(|b| &**b).ok_or_else(|| {
        Reply::error(
            404,
            &format!("no public release {release:?} in that version"),
        )
    })
}

/// `GET /api/v1/releases/{id}/tables/{table}`: dimensions, categories, protection.
pub fn table_metadata(b: &Bundle, table: &ProtectedTable) -> Reply {
    Reply::json(&json!({
        "release": b.manifest.release,
        "version": b.manifest.version,
        "id": table.id,
        "title": table.title,
        "unit": table.unit,
        "measure": table.measure,
        "cells": table.values.len(),
        "dimensions": table.dimensions.iter().map(|d| json!({
            "id": d.id,
            "label": d.label,
            "categories": d.categories.iter().map(|c| json!({"code": c.code, "label": c.label})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "protection": table.protection,
        "languages": languages(table),
        "data": format!("/api/v1/releases/{}/tables/{}/data", b.manifest.release, table.id),
        "sdmx_structure": format!("/api/v1/releases/{}/tables/{}/data?format=sdmx-structure", b.manifest.release, table.id),
    }))
    .etag(&b.etag, &table.id)
}

/// `GET …/data?<dimension>=<selection>&format=&lang=`: the selected cells.
pub fn data(
    b: &Bundle,
    table: &ProtectedTable,
    params: &[(String, String)],
    limits: &Limits,
) -> Reply {
    let chosen = match select::select(table, params) {
        Ok(c) => c,
        Err(e) => return select_error(&e),
    };
    let cells = select::cells(&chosen);
    if cells > u128::from(limits.max_cells) {
        return Reply::error(
            413,
            &format!(
                "the selection has {cells} cells; at most {} per request (see /api/v1/config): select fewer categories",
                limits.max_cells
            ),
        );
    }
    let lang = param(params, "lang").unwrap_or("en");
    if !languages(table).iter().any(|l| l == lang) {
        return Reply::error(400, &format!("no language {lang:?}; use sq or en"));
    }
    let sub = select::subtable(table, &chosen);
    let format = param(params, "format").unwrap_or("jsonstat");
    let (body, content_type, extension) = match format {
        "jsonstat" | "json" => (jsonstat::write(&sub, lang), "application/json", "json"),
        "sdmx" => (
            sdmx::write(&sub, Some(lang)),
            "application/vnd.sdmx.data+csv; version=2.0.0; charset=utf-8",
            "sdmx.csv",
        ),
        // The structure the selection's SDMX-CSV is read with (codes by id, no labels).
        "sdmx-structure" => (
            sdmx::structure(&sub, &b.manifest.release_time),
            "application/vnd.sdmx.structure+xml; version=2.1; charset=utf-8",
            "sdmx.xml",
        ),
        "csv" | "px" | "xlsx" => match written(b, &sub, lang, format) {
            Ok(written) => written,
            Err(e) => return Reply::error(500, &e),
        },
        other => {
            return Reply::error(
                400,
                &format!("format {other:?}: use jsonstat, csv, sdmx, sdmx-structure, px or xlsx"),
            )
        }
    };
    let query: String = params.iter().map(|(n, v)| format!("{n}={v}&")).collect();
    Reply::bytes(200, content_type, body)
        .etag(&b.etag, &format!("{}?{query}", table.id))
        .header(
            "content-disposition",
            format!("inline; filename=\"{}.{extension}\"", table.id),
        )
}

/// A selection as CSV, PX or XLSX (what both APIs write alike): its bytes, content
/// type and file extension. An XLSX opens on `lang`'s sheet.
pub fn written(
    b: &Bundle,
    sub: &ProtectedTable,
    lang: &str,
    format: &str,
) -> Result<(Vec<u8>, &'static str, &'static str), String> {
    Ok(match format {
        "csv" => (csv::write(sub), "text/csv; charset=utf-8", "csv"),
        "px" => {
            let created = px::creation_date(&b.manifest.release_time);
            (px::write(sub, &created), "text/plain; charset=utf-8", "px")
        }
        _ => (
            xlsx::write_in(sub, lang).map_err(|e| e.to_string())?,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
    })
}

fn select_error(e: &SelectError) -> Reply {
    Reply::error(400, &e.to_string())
}

/// The value of query parameter `name`, if given.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// `GET /api/v1/config`: every limit a client meets.
pub fn config(limits: &Limits) -> Reply {
    Reply::json(&json!({
        "max_cells_per_request": limits.max_cells,
        "requests_per_minute_per_client": limits.requests_per_minute,
        "subscription_forms_per_hour_per_client": limits.subscriptions_per_hour,
        "max_query_bytes": limits.max_query_bytes,
        "request_timeout_seconds": limits.request_timeout.as_secs_f64(),
        "formats": ["jsonstat", "csv", "sdmx", "sdmx-structure", "px", "xlsx"],
        "languages": ["sq", "en"],
        "selection": "dimension=CODE,CODE | * | TOP(n) | LAST(n); dimensions not named keep all categories",
        "over_limit": {"413": "selection larger than max_cells_per_request", "414": "query longer than max_query_bytes", "429": "rate limit; see Retry-After"},
    }))
}

/// The OpenAPI 3.0 description of `/api/v1`.
pub fn openapi() -> Value {
    let error = json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let json_ok = |description: &str| json!({"description": description, "content": {"application/json": {"schema": {"type": "object"}}}});
    let string_param = |name: &str, place: &str, required: bool, description: &str| json!({"name": name, "in": place, "required": required, "description": description, "schema": {"type": "string"}});
    let id = string_param("id", "path", true, "release id");
    let table = string_param("table", "path", true, "table id");
    let version = json!({"name": "version", "in": "query", "required": false, "description": "release version (default: the latest)", "schema": {"type": "integer", "minimum": 1, "maximum": u32::MAX}});
    let q = string_param("q", "query", false, "words to find in ids, titles, dimension and category labels (either language, accents ignored)");
    json!({
        "openapi": "3.0.3",
        "info": {"title": "statvault public API", "version": "1", "description": "Official statistics from signed, verified releases. Limits: /api/v1/config."},
        "servers": [{"url": "/"}],
        "paths": {
            "/api/v1/releases": {"get": {"summary": "Latest version of each public release", "parameters": [q], "responses": {"200": json_ok("releases"), "400": error, "429": error}}},
            "/api/v1/tables": {"get": {"summary": "Tables of the latest versions", "parameters": [q], "responses": {"200": json_ok("tables"), "400": error, "429": error}}},
            "/api/v1/releases/{id}": {"get": {"summary": "Every public version of a release", "parameters": [id], "responses": {"200": json_ok("versions"), "400": error, "404": error, "429": error}}},
            "/api/v1/releases/{id}/tables/{table}": {"get": {"summary": "A table's dimensions, categories and protection", "parameters": [id, table, version], "responses": {"200": json_ok("metadata"), "400": error, "404": error, "429": error}}},
            "/api/v1/releases/{id}/tables/{table}/data": {"get": {
                "summary": "Selected cells; every other query parameter names a dimension and selects its categories: CODE,CODE or * or TOP(n) or LAST(n)",
                "parameters": [id, table, version,
                    {"name": "format", "in": "query", "required": false, "schema": {"type": "string", "enum": ["jsonstat", "csv", "sdmx", "sdmx-structure", "px", "xlsx"], "default": "jsonstat"}},
                    {"name": "lang", "in": "query", "required": false, "schema": {"type": "string", "enum": ["sq", "en"], "default": "en"}}],
                "responses": {"200": {"description": "the cells in the format asked", "content": {"application/json": {}, "text/csv": {}, "application/vnd.sdmx.data+csv": {}, "application/vnd.sdmx.structure+xml": {}, "text/plain": {}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}},
                    "400": error, "404": error, "413": error, "429": error}}},
            "/api/v1/config": {"get": {"summary": "Every limit of the API", "responses": {"200": json_ok("limits")}}},
            "/api/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": json_ok("OpenAPI")}}},
        },
        "components": {"schemas": {"Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}}},
    })
}

/// A strong ETag for something derived from a bundle: the manifest's hash and what
/// was derived.
pub fn derived_etag(bundle_etag: &str, what: &str) -> String {
    let digest = Sha256::new()
        .chain_update(bundle_etag.as_bytes())
        .chain_update(what.as_bytes())
        .finalize();
    format!("\"{}\"", hex::encode(&digest[..16]))
}
