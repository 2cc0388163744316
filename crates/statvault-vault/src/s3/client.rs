//! The S3 requests the vault makes, signed with AWS Signature Version 4, over ureq.
//!
//! Why not a crate: `object_store` sets no per-object retention and cannot extend it;
//! `aws-sdk-s3` has every call but brings a large, slow-to-build tree (the Smithy
//! runtime, hyper, tokio) into a binary that otherwise has none of it on this path;
//! `rust-s3` is async-first. The vault needs a dozen calls with headers of its choosing
//! (`If-None-Match`, Object Lock retention, version listing), which SigV4 over the
//! blocking HTTP client the workspace already uses gives in a few hundred lines.

use std::fmt::Write as _;
use std::io::{self, Read};
use std::time::Duration;

use sha2::{Digest, Sha256};
use ureq::http::{Method, Request};
use zeroize::Zeroizing;

use super::xml;

/// Credentials from the standard `AWS_*` variables. The secret has no `Debug`, is
/// never printed, and is wiped on drop.
pub struct Credentials {
    /// The access key id: public.
    pub access_key: String,
    secret_key: Zeroizing<String>,
    session_token: Option<Zeroizing<String>>,
}

impl Credentials {
    /// Credentials from their parts; the secrets are wiped when dropped.
    pub fn new(access_key: String, secret_key: String, session_token: Option<String>) -> Self {
        Credentials {
            access_key,
            secret_key: Zeroizing::new(secret_key),
            session_token: session_token.map(Zeroizing::new),
        }
    }
}

/// Largest error answer read.
const ERROR_LIMIT: u64 = 64 << 10;
/// Tries of a call the server answers with a server error (see `Client::send`).
pub(super) const SERVER_ERROR_ATTEMPTS: u32 = 3;

/// Where the server is and who we are.
pub struct Endpoint {
    /// `http://host:port` or `https://host`, no trailing slash.
    pub url: String,
    /// The region requests are signed for.
    pub region: String,
    /// Who we are.
    pub credentials: Credentials,
}

/// An S3 error answer or a transport failure, as an `io::Error` whose kind the
/// backend maps (`NotFound`, `AlreadyExists`, `PermissionDenied`).
pub fn s3_error(status: u16, body: &[u8], what: &str) -> io::Error {
    let text = String::from_utf8_lossy(body);
    let code = xml::tag(&text, "Code").unwrap_or_default();
    let message = xml::tag(&text, "Message").unwrap_or_default();
    let kind = match (status, code.as_str()) {
        (404, _) => io::ErrorKind::NotFound,
        (412, _) | (_, "PreconditionFailed") => io::ErrorKind::AlreadyExists,
        (403, _) | (_, "AccessDenied") => io::ErrorKind::PermissionDenied,
        (409, _) => io::ErrorKind::ResourceBusy,
        _ => io::ErrorKind::Other,
    };
    let detail = match (code.is_empty(), message.is_empty()) {
        (true, _) => format!("HTTP {status}"),
        (false, true) => format!("HTTP {status} {code}"),
        (false, false) => format!("HTTP {status} {code}: {message}"),
    };
    io::Error::new(kind, format!("{what}: {detail}"))
}

/// One request to make: method, path below the endpoint (already encoded), query
/// pairs (raw), extra headers and body.
pub struct Call<'a> {
    pub method: Method,
    pub path: String,
    pub query: Vec<(&'a str, String)>,
    pub headers: Vec<(&'static str, String)>,
    pub body: &'a [u8],
    /// A buffer to read the answer's body into: a reader that makes many requests
    /// passes its last body back, so that multi-MiB buffers are not allocated anew
    /// for each one (which let the allocator's footprint grow with the data).
    pub answer_buffer: Vec<u8>,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, path: String) -> Call<'a> {
        Call {
            method,
            path,
            query: vec![],
            headers: vec![],
            body: &[],
            answer_buffer: Vec::new(),
        }
    }

    pub fn query(mut self, key: &'a str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    pub fn header(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((key, value.into()));
        self
    }

    pub fn body(mut self, body: &'a [u8]) -> Self {
        self.body = body;
        self
    }

    pub fn answer_into(mut self, buffer: Vec<u8>) -> Self {
        self.answer_buffer = buffer;
        self
    }
}

/// The answer: status, the headers the vault reads, and the body (bounded).
pub struct Answer {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct Client {
    agent: ureq::Agent,
    endpoint: Endpoint,
    host: String,
}

/// Percent-encodes per SigV4: unreserved characters stay, `/` stays in paths.
pub fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// `x-amz-checksum-sha256`: the body's SHA-256 in base64, which S3 asks for (or
/// Content-MD5) on writes with Object Lock.
pub fn checksum(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(data))
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = Zeroizing::new([0u8; BLOCK]);
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| -> Zeroizing<[u8; BLOCK]> {
        let mut p = Zeroizing::new([0u8; BLOCK]);
        for (o, k) in p.iter_mut().zip(block.iter()) {
            *o = k ^ byte;
        }
        p
    };
    let inner = Sha256::new()
        .chain_update(*pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(*pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// `YYYYMMDD` and `YYYYMMDDTHHMMSSZ` for a time in seconds since the epoch.
pub fn amz_dates(secs: u64) -> (String, String) {
    let stamp: String = iso_date(secs)
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    (stamp[..8].to_string(), stamp)
}

/// RFC 3339 UTC, as Object Lock dates are written.
pub fn iso_date(secs: u64) -> String {
    crate::utc::utc_time(secs)
}

/// Parses the dates S3 answers with (`2026-03-01T00:00:00Z`, with or without
/// fractional seconds) into seconds since the epoch.
pub fn parse_iso_date(text: &str) -> Option<u64> {
    let whole = match text.split_once('.') {
        Some((seconds, fraction))
            if fraction
                .trim_end_matches('Z')
                .bytes()
                .all(|b| b.is_ascii_digit()) =>
        {
            format!("{seconds}Z")
        }
        _ => text.to_string(),
    };
    crate::utc::parse_utc(&whole)
}

impl Client {
    pub fn new(endpoint: Endpoint) -> io::Result<Client> {
        let host = endpoint
            .url
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or_default().to_string())
            .filter(|h| !h.is_empty())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("endpoint {:?} is not an http(s) URL", endpoint.url),
                )
            })?;
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // The vault never follows a redirect: a server that sends one elsewhere
            // gets its answer treated as the error it is.
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10)))
            // A stalled server fails a read rather than hang the vault.
            .timeout_per_read(Some(Duration::from_secs(120)))
            .timeout_per_write(Some(Duration::from_secs(120)))
            .build();
        Ok(Client {
            agent: ureq::Agent::new_with_config(config),
            endpoint,
            host,
        })
    }

    /// Signs and sends `call`; reads at most `limit` bytes of the answer's body.
    /// Sends `call`, again (after 0.1 s, then 0.4 s) when the server answers that it
    /// failed (500, 502, 503, 504), unless the call creates an object only if absent:
    /// a retry of one that did succeed would be told the name is taken, which only
    /// the caller can check (`S3Backend::put_new` reads the object back).
    pub fn send(&self, mut call: Call, limit: u64) -> io::Result<Answer> {
        let create_only = call
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("if-none-match"));
        let mut pause = Duration::from_millis(100);
        for _ in 1..SERVER_ERROR_ATTEMPTS {
            let answer = self.send_once(&mut call, limit)?;
            if create_only || !matches!(answer.status, 500 | 502 | 503 | 504) {
                return Ok(answer);
            }
            std::thread::sleep(pause);
            pause *= 4;
        }
        self.send_once(&mut call, limit)
    }

    fn send_once(&self, call: &mut Call, limit: u64) -> io::Result<Answer> {
        let now = crate::utc::now_secs();
        let (date, stamp) = amz_dates(now);
        let payload_hash = sha256_hex(call.body);
        let mut query: Vec<(String, String)> = call
            .query
            .iter()
            .map(|(k, v)| (encode(k, false), encode(v, false)))
            .collect();
        query.sort();
        let query_text = query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut headers: Vec<(String, String)> = call
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        headers.push(("host".into(), self.host.clone()));
        headers.push(("x-amz-content-sha256".into(), payload_hash.clone()));
        headers.push(("x-amz-date".into(), stamp.clone()));
        if let Some(token) = &self.endpoint.credentials.session_token {
            headers.push(("x-amz-security-token".into(), token.to_string()));
        }
        headers.sort();
        let signed_headers = headers
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let canonical = format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            call.method,
            call.path,
            query_text,
            headers
                .iter()
                .map(|(k, v)| format!("{k}:{v}\n"))
                .collect::<String>(),
            signed_headers,
            payload_hash
        );
        let scope = format!("{date}/{}/s3/aws4_request", self.endpoint.region);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
            sha256_hex(canonical.as_bytes())
        );
        let secret = Zeroizing::new(format!("AWS4{}", &*self.endpoint.credentials.secret_key));
        let mut key = hmac(secret.as_bytes(), date.as_bytes());
        for part in [self.endpoint.region.as_bytes(), b"s3", b"aws4_request"] {
            key = hmac(&key, part);
        }
        let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            self.endpoint.credentials.access_key
        );
        let url = if query_text.is_empty() {
            format!("{}{}", self.endpoint.url, call.path)
        } else {
            format!("{}{}?{query_text}", self.endpoint.url, call.path)
        };
        let mut request = Request::builder().method(call.method.clone()).uri(&url);
        for (k, v) in headers.iter().filter(|(k, _)| k != "host") {
            request = request.header(k, v);
        }
        // Objects are sealed and incompressible: no server-side gzip to undo.
        let request = request
            .header("accept-encoding", "identity")
            .header("authorization", authorization)
            .body(call.body)
            .map_err(io::Error::other)?;
        let mut response = self.agent.run(request).map_err(|e| match e {
            ureq::Error::Io(e) => e,
            other => io::Error::other(format!("{url}: {other}")),
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        // An error's explanation is read whatever the success body's limit.
        let limit = if response.status().is_success() {
            limit
        } else {
            limit.max(ERROR_LIMIT)
        };
        let announced = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .unwrap_or(0);
        // Sized once from the announced length (never beyond the limit): no regrowth
        // and copying of multi-MiB bodies.
        let mut body = std::mem::take(&mut call.answer_buffer);
        body.clear();
        body.reserve(announced.min(limit.saturating_add(1)) as usize);
        response
            .body_mut()
            .as_reader()
            .take(limit.saturating_add(1))
            .read_to_end(&mut body)?;
        if body.len() as u64 > limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{url}: the answer is larger than the {limit} bytes expected"),
            ));
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc4231_case_2() {
        let mac = hmac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(iso_date(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_date(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(amz_dates(1_440_938_160).1, "20150830T123600Z");
        for secs in [0, 951_782_400, 1_700_000_000, 4_102_444_799] {
            assert_eq!(parse_iso_date(&iso_date(secs)), Some(secs));
        }
        assert_eq!(
            parse_iso_date("2026-03-01T10:00:00.000Z"),
            parse_iso_date("2026-03-01T10:00:00Z")
        );
        assert_eq!(parse_iso_date("garbage"), None);
    }

    /// The signing key derivation of AWS's SigV4 documentation example.
    #[test]
    fn signing_key_matches_the_aws_example() {
        let mut key = hmac(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", b"20120215");
        for part in [&b"us-east-1"[..], b"iam", b"aws4_request"] {
            key = hmac(&key, part);
        }
        assert_eq!(
            hex::encode(key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    /// A server that fails once: a plain call is tried again and succeeds; a
    /// create-only one is not (its retry could be told its own object exists).
    #[test]
    fn server_errors_are_retried_except_for_create_only_writes() {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let mut statuses = Vec::new();
            for (n, stream) in listener.incoming().take(4).enumerate() {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let mut if_none_match = false;
                loop {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                    if_none_match |= line.to_ascii_lowercase().starts_with("if-none-match");
                    if line == "\r\n" {
                        break;
                    }
                }
                // Each kind of call fails the first time it comes.
                let status = if n % 2 == 0 { 500 } else { 200 };
                statuses.push((if_none_match, status));
                write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                )
                .unwrap();
            }
            statuses
        });
        let client = Client::new(Endpoint {
            url,
            region: "us-east-1".into(),
            credentials: Credentials::new("a".into(), "b".into(), None),
        })
        .unwrap();
        let plain = client
            .send(Call::new(Method::PUT, "/b/object-lock".into()), 0)
            .unwrap();
        assert_eq!(plain.status, 200);
        let create = Call::new(Method::PUT, "/b/x".into()).header("if-none-match", "*");
        assert_eq!(client.send(create, 0).unwrap().status, 500);
        // The server's fourth connection: a last plain call, to end its loop.
        assert_eq!(
            client
                .send(Call::new(Method::GET, "/b/y".into()), 0)
                .unwrap()
                .status,
            200
        );
        assert_eq!(
            server.join().unwrap(),
            [(false, 500), (false, 200), (true, 500), (false, 200)]
        );
    }
}
