//! `/api/v2`: the PxWebApi 2.0 endpoints, over the latest public version of each
//! table, so that the clients readers already use (R `pxweb`, Python `pxwebpy`) work
//! unchanged. Tables are named `<release>.<table>`; each hierarchy level of a dimension
//! is a value set `vs_<level>` (`vs_county`). Selections take PxWeb's expressions
//! (`*`, `TOP(n)`, `BOTTOM(n)`, `RANGE(a,b)`, `FROM(a)`, `TO(b)`, wildcards in codes)
//! and statvault's (`LEVEL(…)`, `CHILDREN(…)`); a dimension left out is eliminated to
//! its total where it has one. Limits are `/api/v1`'s. Errors are RFC 9457 problem
//! documents, as PxWebApi's are.

use serde_json::{json, Map, Value};
use statvault_census::table::CategoryKind;
use statvault_protect::ProtectedTable;
use statvault_release::formats::{dimension_label, jsonstat, label, languages};

use crate::api::param;
use crate::select;
use crate::store::{Bundle, Catalog};
use crate::{Limits, Reply};

/// The API version clients check (`pxwebpy` needs at least 2.0.0).
pub const API_VERSION: &str = "2.0.0";
const DATA_FORMATS: [&str; 4] = ["json-stat2", "csv", "px", "xlsx"];
const PAGE_SIZE: usize = 20;

/// An RFC 9457 problem, as PxWebApi answers errors.
pub fn problem(status: u16, title: &str, detail: &str) -> Reply {
    let body = json!({"type": "about:blank", "title": title, "status": status, "detail": detail});
    let mut bytes = serde_json::to_vec(&body).expect("JSON");
    bytes.push(b'\n');
    Reply::bytes(status, "application/problem+json", bytes)
        .header("cache-control", "no-store".into())
}

/// The language asked for (`lang`), else Albanian.
fn language(params: &[(String, String)]) -> Result<&str, Reply> {
    match param(params, "lang").unwrap_or("sq") {
        lang @ ("sq" | "en") => Ok(lang),
        other => Err(problem(
            400,
            "Unsupported language",
            &format!("no language {other:?}; use sq or en"),
        )),
    }
}

/// `GET /api/v2/config`.
pub fn config(limits: &Limits) -> Reply {
    Reply::json(&json!({
        "apiVersion": API_VERSION,
        "appVersion": env!("CARGO_PKG_VERSION"),
        "languages": [{"id": "sq", "label": "Shqip"}, {"id": "en", "label": "English"}],
        "defaultLanguage": "sq",
        "maxDataCells": limits.max_cells,
        "maxCallsPerTimeWindow": limits.requests_per_minute,
        "timeWindow": 60,
        "license": "https://creativecommons.org/licenses/by/4.0/",
        "sourceReferences": [{"language": "en", "text": "INSTAT, signed releases served by statvault"}, {"language": "sq", "text": "INSTAT, publikime të nënshkruara nga statvault"}],
        "defaultDataFormat": "json-stat2",
        "dataFormats": DATA_FORMATS,
        "features": [],
        "cors": {"enabled": true},
    }))
}

/// The latest public version of every table, with the bundle it is in.
fn latest_tables(catalog: &Catalog, now: u64) -> Vec<(&Bundle, &ProtectedTable)> {
    catalog
        .latest(now)
        .into_iter()
        .flat_map(|b| b.tables.iter().map(move |t| (&**b, t)))
        .collect()
}

fn table_id(b: &Bundle, t: &ProtectedTable) -> String {
    format!("{}.{}", b.manifest.release, t.id)
}

/// The table a v2 id names, in the latest public version of its release.
fn find<'a>(
    catalog: &'a Catalog,
    now: u64,
    id: &str,
) -> Result<(&'a Bundle, &'a ProtectedTable), Reply> {
    latest_tables(catalog, now)
        .into_iter()
        .find(|(b, t)| table_id(b, t).eq_ignore_ascii_case(id))
        .ok_or_else(|| {
            problem(
                404,
                "Not found",
                &format!("no public table {id:?}; the list is at /api/v2/tables"),
            )
        })
}

fn text<'a>(labels: &'a statvault_census::schema::Labels, lang: &str) -> &'a str {
    crate::pages::text(labels, lang)
}

/// A table as `/api/v2/tables` lists it.
fn table_summary(b: &Bundle, t: &ProtectedTable, lang: &str) -> Value {
    let id = table_id(b, t);
    let link = |rel: &str, path: &str| json!({"rel": rel, "hreflang": lang, "href": format!("/api/v2/tables/{id}{path}?lang={lang}")});
    json!({
        "type": "Table",
        "id": id,
        "label": text(&t.title, lang),
        "description": "",
        "updated": b.manifest.release_time,
        "firstPeriod": b.meta.reference_period,
        "lastPeriod": b.meta.reference_period,
        "category": "public",
        "variableNames": t.dimensions.iter().map(|d| dimension_label(d, lang)).collect::<Vec<_>>(),
        "discontinued": false,
        "source": "INSTAT",
        "subjectCode": b.manifest.release,
        "timeUnit": "Other",
        "paths": [[{"id": b.manifest.release, "label": text(&b.manifest.title, lang)}]],
        "links": [link("self", ""), link("metadata", "/metadata"), link("data", "/data")],
    })
}

/// `GET /api/v2/tables?query=&pageNumber=&pageSize=&lang=`: the tables whose titles,
/// dimensions or categories hold every word of the query, a page at a time.
pub fn tables(catalog: &Catalog, now: u64, params: &[(String, String)]) -> Reply {
    let lang = match language(params) {
        Ok(lang) => lang,
        Err(reply) => return reply,
    };
    let number = |name: &str, default: usize| match param(params, name) {
        None => Ok(default),
        Some(v) => v.parse::<usize>().ok().filter(|&n| n >= 1).ok_or_else(|| {
            problem(
                400,
                "Bad request",
                &format!("{name} {v:?} is not a number from 1"),
            )
        }),
    };
    let (page, size) = match (number("pageNumber", 1), number("pageSize", PAGE_SIZE)) {
        (Ok(page), Ok(size)) => (page, size.min(10_000)),
        (Err(reply), _) | (_, Err(reply)) => return reply,
    };
    let query = param(params, "query").unwrap_or("");
    let found: Vec<Value> = latest_tables(catalog, now)
        .into_iter()
        .filter(|(b, t)| b.finds(&t.id, query))
        .map(|(b, t)| table_summary(b, t, lang))
        .collect();
    let total = found.len();
    let pages = total.div_ceil(size).max(1);
    let shown: Vec<Value> = found
        .into_iter()
        .skip((page - 1) * size)
        .take(size)
        .collect();
    let page_link = |rel: &str, n: usize| json!({"rel": rel, "hreflang": lang, "href": format!("/api/v2/tables?lang={lang}&query={}&pageNumber={n}&pageSize={size}", crate::pages::encode(query))});
    let mut links = vec![page_link("self", page)];
    if page > 1 {
        links.push(page_link("previous", page - 1));
    }
    if page < pages {
        links.push(page_link("next", page + 1));
    }
    Reply::json(&json!({
        "language": lang,
        "tables": shown,
        "page": {"pageNumber": page, "pageSize": size, "totalElements": total, "totalPages": pages, "links": links},
        "links": [page_link("self", page)],
    }))
}

/// `GET /api/v2/tables/{id}`.
pub fn table(catalog: &Catalog, now: u64, id: &str, params: &[(String, String)]) -> Reply {
    match (language(params), find(catalog, now, id)) {
        (Ok(lang), Ok((b, t))) => {
            Reply::json(&table_summary(b, t, lang)).etag(&b.etag, &format!("v2:{id}:{lang}"))
        }
        (Err(reply), _) | (_, Err(reply)) => reply,
    }
}

/// The value sets of a dimension: one per level of its hierarchy below the top.
fn value_sets(d: &statvault_census::table::Dimension) -> Vec<String> {
    let levels = select::levels(d);
    if levels.len() < 2 {
        return Vec::new();
    }
    levels[1..].iter().map(|l| format!("vs_{l}")).collect()
}

/// The table (or the selection of it) as PxWebApi's JSON-stat 2.0: statvault's own
/// JSON-stat, with each `index` an object (clients look categories up by code) and
/// PxWeb's extensions (elimination, value sets, what to show).
fn jsonstat2(b: &Bundle, t: &ProtectedTable, lang: &str, values: bool) -> Value {
    let mut doc: Value = serde_json::from_slice(&jsonstat::write(t, lang)).expect("our JSON");
    let id = table_id(b, t);
    doc["href"] = json!(format!("/api/v2/tables/{id}/metadata?lang={lang}"));
    doc["updated"] = json!(b.manifest.release_time);
    for d in &t.dimensions {
        let entry = &mut doc["dimension"][&d.id];
        let index: Map<String, Value> = d
            .categories
            .iter()
            .enumerate()
            .map(|(k, c)| (c.code.clone(), json!(k)))
            .collect();
        entry["category"]["index"] = Value::Object(index);
        let total = d.categories.iter().find(|c| c.kind == CategoryKind::Total);
        let code_lists: Vec<Value> = value_sets(d)
            .into_iter()
            .map(|vs| json!({"id": vs, "label": vs.trim_start_matches("vs_"), "type": "Valueset", "links": [{"rel": "self", "href": format!("/api/v2/codelists/{vs}?lang={lang}")}]}))
            .collect();
        entry["extension"] = json!({
            "elimination": total.is_some(),
            "eliminationValueCode": total.map(|c| c.code.clone()),
            "show": "value",
            "codeLists": code_lists,
        });
    }
    doc["extension"]["px"] = json!({
        "tableid": id,
        "decimals": 0,
        "language": lang,
        "contents": text(&t.title, lang),
        "heading": t.dimensions.last().map(|d| &d.id),
        "stub": t.dimensions.iter().rev().skip(1).rev().map(|d| &d.id).collect::<Vec<_>>(),
    });
    if !values {
        let map = doc.as_object_mut().expect("a dataset");
        map.remove("value");
        map.remove("status");
    }
    doc
}

/// `GET /api/v2/tables/{id}/metadata`.
pub fn metadata(catalog: &Catalog, now: u64, id: &str, params: &[(String, String)]) -> Reply {
    match (language(params), find(catalog, now, id)) {
        (Ok(lang), Ok((b, t))) => Reply::json(&jsonstat2(b, t, lang, false))
            .etag(&b.etag, &format!("v2-metadata:{id}:{lang}")),
        (Err(reply), _) | (_, Err(reply)) => reply,
    }
}

/// One variable's selection: its codes (or expressions) and, optionally, the value
/// set they are taken from.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selection {
    /// The variable's code.
    pub variable_code: String,
    /// The codes chosen, or selection expressions (`*`, `TOP(n)`, …).
    #[serde(default)]
    pub value_codes: Vec<String>,
    /// The codelist the codes are taken from, if not the variable's own.
    #[serde(default)]
    pub codelist: Option<String>,
}

/// A POSTed query: `{"selection": [...]}`; PxWeb's placement is accepted and ignored.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Query {
    /// One selection per variable; variables left out take their eliminated or
    /// default values.
    #[serde(default)]
    pub selection: Vec<Selection>,
}

/// The selection a GET names: `valuecodes[VAR]=a,b` and `codelist[VAR]=vs_x`.
pub fn query_from_params(params: &[(String, String)]) -> Query {
    let bracket = |name: &str, prefix: &str| {
        let rest = name
            .get(..prefix.len())?
            .eq_ignore_ascii_case(prefix)
            .then(|| &name[prefix.len()..])?;
        rest.strip_prefix('[')?
            .strip_suffix(']')
            .map(str::to_string)
    };
    let mut selection: Vec<Selection> = params
        .iter()
        .filter_map(|(name, value)| {
            Some(Selection {
                variable_code: bracket(name, "valuecodes")?,
                value_codes: select::items(value)
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
                codelist: None,
            })
        })
        .collect();
    for (name, value) in params {
        if let Some(variable) = bracket(name, "codelist") {
            if let Some(s) = selection.iter_mut().find(|s| s.variable_code == variable) {
                s.codelist = Some(value.clone());
            }
        }
    }
    Query { selection }
}

/// The categories chosen for each dimension: those selected, the total of a dimension
/// left out (or all of it where it has no total).
pub fn choose(t: &ProtectedTable, query: &Query) -> Result<Vec<Vec<usize>>, Reply> {
    let bad = |detail: String| problem(400, "Bad request", &detail);
    for s in &query.selection {
        if !t.dimensions.iter().any(|d| d.id == s.variable_code) {
            return Err(bad(format!(
                "no variable {:?} in this table (its variables: {})",
                s.variable_code,
                t.dimensions
                    .iter()
                    .map(|d| d.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    t.dimensions
        .iter()
        .map(|d| {
            let Some(s) = query.selection.iter().find(|s| s.variable_code == d.id) else {
                return Ok(
                    match d
                        .categories
                        .iter()
                        .position(|c| c.kind == CategoryKind::Total)
                    {
                        Some(total) => vec![total],
                        None => (0..d.categories.len()).collect(),
                    },
                );
            };
            let level = match &s.codelist {
                None => None,
                Some(vs) if value_sets(d).contains(vs) => Some(vs.trim_start_matches("vs_")),
                Some(vs) => {
                    return Err(bad(format!(
                        "variable {:?} has no code list {vs:?} (its code lists: {})",
                        d.id,
                        value_sets(d).join(", ")
                    )))
                }
            };
            let items: Vec<String> = s
                .value_codes
                .iter()
                .map(|v| match (v.as_str(), level) {
                    ("*", Some(level)) => format!("LEVEL({level})"),
                    _ => v.clone(),
                })
                .collect();
            if items.is_empty() {
                return Err(bad(format!("variable {:?}: no value codes", d.id)));
            }
            let picked = select::categories(d, &items.join(",")).map_err(|e| bad(e.to_string()))?;
            match level {
                Some(level) => match picked.iter().find(|&&k| select::level_of(d, k) != level) {
                    Some(&k) => Err(bad(format!(
                        "{:?} is not in code list vs_{level}",
                        d.categories[k].code
                    ))),
                    None => Ok(picked),
                },
                None => Ok(picked),
            }
        })
        .collect()
}

/// `GET` or `POST /api/v2/tables/{id}/data`: the selection in the format asked
/// (`outputFormat`, JSON-stat 2.0 by default). `body` is a POSTed query.
pub fn data(
    catalog: &Catalog,
    now: u64,
    id: &str,
    params: &[(String, String)],
    body: Option<&[u8]>,
    limits: &Limits,
) -> Reply {
    let (lang, (b, t)) = match (language(params), find(catalog, now, id)) {
        (Ok(lang), Ok(found)) => (lang, found),
        (Err(reply), _) | (_, Err(reply)) => return reply,
    };
    let query = match body.filter(|b| !b.iter().all(u8::is_ascii_whitespace)) {
        None => query_from_params(params),
        Some(body) => match serde_json::from_slice::<Query>(body) {
            Ok(query) => query,
            Err(e) => return problem(400, "Bad request", &format!("the query is not valid: {e}")),
        },
    };
    let chosen = match choose(t, &query) {
        Ok(chosen) => chosen,
        Err(reply) => return reply,
    };
    let cells = select::cells(&chosen);
    if cells > u128::from(limits.max_cells) {
        return problem(
            403,
            "Too many cells selected",
            &format!(
                "the selection has {cells} cells; at most {} (maxDataCells in /api/v2/config)",
                limits.max_cells
            ),
        );
    }
    if !languages(t).iter().any(|l| l == lang) {
        return problem(
            400,
            "Unsupported language",
            &format!("table {id:?} has no {lang:?} text"),
        );
    }
    let sub = select::subtable(t, &chosen);
    let format = param(params, "outputFormat").unwrap_or("json-stat2");
    let (bytes, content_type, extension) = match format {
        "json-stat2" | "jsonstat2" => {
            let mut bytes = serde_json::to_vec(&jsonstat2(b, &sub, lang, true)).expect("JSON");
            bytes.push(b'\n');
            (bytes, "application/json; charset=UTF-8", "json")
        }
        "csv" | "px" | "xlsx" => match crate::api::written(b, &sub, lang, format) {
            Ok(written) => written,
            Err(e) => return problem(500, "Internal error", &e),
        },
        other => {
            return problem(
                400,
                "Unsupported format",
                &format!("outputFormat {other:?}: use {}", DATA_FORMATS.join(", ")),
            )
        }
    };
    let mut reply = Reply::bytes(200, content_type, bytes).header(
        "content-disposition",
        format!("inline; filename=\"{}.{extension}\"", t.id),
    );
    if body.is_none() {
        let asked: String = params.iter().map(|(n, v)| format!("{n}={v}&")).collect();
        reply = reply
            .etag(&b.etag, &format!("v2-data:{id}?{asked}"))
            .header("cache-control", "public, max-age=60".into());
    }
    reply
}

/// `GET /api/v2/codelists/{id}`: a level's codes and labels, from the latest table
/// that has it.
pub fn codelist(catalog: &Catalog, now: u64, id: &str, params: &[(String, String)]) -> Reply {
    let lang = match language(params) {
        Ok(lang) => lang,
        Err(reply) => return reply,
    };
    let level = id.strip_prefix("vs_").unwrap_or("");
    let dimension = latest_tables(catalog, now)
        .into_iter()
        .flat_map(|(_, t)| &t.dimensions)
        .find(|d| value_sets(d).iter().any(|v| v == id));
    if let Some(d) = dimension {
        let values: Vec<Value> = (0..d.categories.len())
            .filter(|&k| select::level_of(d, k) == level)
            .map(|k| json!({"code": d.categories[k].code, "label": label(&d.categories[k], lang)}))
            .collect();
        return Reply::json(&json!({
            "id": id,
            "label": level,
            "language": lang,
            "type": "Valueset",
            "values": values,
            "links": [{"rel": "self", "hreflang": lang, "href": format!("/api/v2/codelists/{id}?lang={lang}")}],
        }));
    }
    problem(404, "Not found", &format!("no code list {id:?}"))
}
