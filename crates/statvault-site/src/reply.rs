//! A response under construction.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::api;

/// A response under construction.
pub struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Reply {
    /// A reply with `status`, `content_type` and `body`.
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", content_type.to_string())],
            body,
        }
    }

    /// Pretty JSON, cacheable for a minute.
    pub fn json(value: &serde_json::Value) -> Reply {
        let mut body = serde_json::to_vec_pretty(value).expect("JSON serializes");
        body.push(b'\n');
        Reply::bytes(200, "application/json", body)
            .header("cache-control", "public, max-age=60".into())
    }

    /// An HTML page, cacheable for a minute.
    pub fn html(body: String) -> Reply {
        Reply::bytes(200, "text/html; charset=utf-8", body.into_bytes())
            .header("cache-control", "public, max-age=60".into())
    }

    /// An error as JSON `{"error": message}`, never cached.
    pub fn error(status: u16, message: &str) -> Reply {
        let body = serde_json::to_vec(&serde_json::json!({ "error": message })).expect("JSON");
        Reply::bytes(status, "application/json", body).header("cache-control", "no-store".into())
    }

    /// The same reply with another status.
    pub fn status(mut self, status: u16) -> Reply {
        self.status = status;
        self
    }

    /// The same reply with header `name` set to `value`, replacing any before.
    pub fn header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value));
        self
    }

    /// The same reply with the ETag of `what` derived from its bundle's.
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
