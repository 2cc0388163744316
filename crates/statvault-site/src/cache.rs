//! Answers kept for the same address, catalog and set of public bundles.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::reply::*;
use crate::store;

/// Answers already given, for the same address, catalog and set of public bundles:
/// bundles never change, so an answer changes only when the catalog is reread or a
/// release time passes. Whole-table downloads (the grid's XLSX takes seconds to make)
/// are kept too; when the budget is spent, the answers used longest ago go first, so
/// a client asking for many different selections cannot push out the common ones.
#[derive(Default)]
pub(crate) struct ResponseCache {
    pub(crate) entries: Mutex<CachedAnswers>,
    /// The answers being made, by key: one request makes an answer, the others asking
    /// for it meanwhile wait for it (else each miss, say after a release time, would
    /// make it once per waiting client).
    pub(crate) making: Mutex<HashMap<String, std::sync::Weak<tokio::sync::Mutex<()>>>>,
    /// Answers served from the cache, and answers made for it.
    pub(crate) hits: AtomicU64,
    pub(crate) made: AtomicU64,
}

#[derive(Default)]
pub(crate) struct CachedAnswers {
    /// Headers, body, and the tick of its last use.
    pub(crate) by_key: HashMap<String, (axum::http::HeaderMap, axum::body::Bytes, u64)>,
    pub(crate) bytes: usize,
    pub(crate) tick: u64,
}

impl ResponseCache {
    /// Most bytes kept.
    const BUDGET: usize = 256 << 20;
    /// Larger answers are not kept.
    const LARGEST: usize = 48 << 20;

    /// The key of the answer to `uri` from `catalog` at `now`.
    pub(crate) fn key(catalog: &Arc<store::Catalog>, now: u64, uri: &axum::http::Uri) -> String {
        // Bundles are sorted by release time: how many are public says which.
        let public = catalog.public(now).count();
        format!("{:p} {public} {uri}", Arc::as_ptr(catalog))
    }

    pub(crate) fn get(&self, key: &str) -> Option<Response> {
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
    pub(crate) fn turn(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
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

    pub(crate) async fn keep(&self, key: String, response: Response) -> Response {
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
    pub(crate) fn insert(
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
