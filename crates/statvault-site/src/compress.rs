//! Compressed answers: brotli where the client takes it, else gzip, for text of some
//! size (pages, JSON, CSV, PX, the feed). Each encoding is a representation of its own:
//! its ETag carries the encoding, and every answer that could be compressed says
//! `Vary: Accept-Encoding` so that caches keep them apart.

use std::io::Write as _;

use axum::http::{header, HeaderMap, HeaderValue};

/// An encoding the site answers in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Brotli (`br`).
    Brotli,
    /// Gzip (`gzip`).
    Gzip,
}

impl Encoding {
    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Gzip => "gzip",
        }
    }
}

/// Smaller answers are sent as they are: the saving would not pay for the work.
const SMALLEST: usize = 1024;

/// The encoding to answer a request with `Accept-Encoding: accept`: brotli before
/// gzip, neither where refused with `q=0`.
pub fn negotiate(accept: Option<&HeaderValue>) -> Option<Encoding> {
    let accept = accept?.to_str().ok()?;
    let takes = |wanted: &str| {
        accept.split(',').any(|part| {
            let mut fields = part.split(';').map(str::trim);
            let name = fields.next().unwrap_or("");
            let refused = fields.any(|f| {
                f.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            name.eq_ignore_ascii_case(wanted) && !refused
        })
    };
    if takes("br") {
        Some(Encoding::Brotli)
    } else if takes("gzip") {
        Some(Encoding::Gzip)
    } else {
        None
    }
}

/// Whether an answer with these headers is text worth compressing.
pub fn compressible(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::CONTENT_ENCODING) {
        return false;
    }
    let Some(kind) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    // The media type without parameters: `text/…`, or JSON, XML and their `+json`,
    // `+xml` kinds, SDMX's `+csv`; never an already compressed format whose name holds "xml" (XLSX is
    // `application/vnd.openxmlformats-…`).
    let media = kind.split(';').next().unwrap_or("").trim();
    media.starts_with("text/")
        || [
            "/json",
            "+json",
            "/jsonl",
            "/xml",
            "+xml",
            "+csv",
            "/javascript",
        ]
        .iter()
        .any(|end| media.ends_with(end))
}

/// `body` encoded; `None` when it is too small to be worth it.
pub fn encode(body: &[u8], encoding: Encoding) -> Option<Vec<u8>> {
    if body.len() < SMALLEST {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() / 4);
    match encoding {
        Encoding::Brotli => {
            // Quality 5: close to the best ratio for text at a small share of quality
            // 11's time, as answers are made on request (and then kept).
            let params = brotli::enc::BrotliEncoderParams {
                quality: 5,
                lgwin: 22,
                ..Default::default()
            };
            brotli::BrotliCompress(&mut &body[..], &mut out, &params).ok()?;
        }
        Encoding::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(&mut out, flate2::Compression::new(6));
            gz.write_all(body).ok()?;
            gz.finish().ok()?;
        }
    }
    Some(out)
}

/// The headers of `headers`' answer once encoded: the encoding, `Vary`, and an ETag
/// that names the encoding (a strong ETag belongs to one representation).
pub fn mark(headers: &mut HeaderMap, encoding: Encoding) {
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static(encoding.token()),
    );
    headers.remove(header::CONTENT_LENGTH);
    if let Some(tag) = headers.get(header::ETAG).and_then(|t| t.to_str().ok()) {
        let tagged = match tag.strip_suffix('"') {
            Some(open) => format!("{open}-{}\"", encoding.token()),
            None => tag.to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&tagged) {
            headers.insert(header::ETAG, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    #[test]
    fn brotli_before_gzip_and_never_what_is_refused() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(
            negotiate(Some(&v("gzip, deflate, br"))),
            Some(Encoding::Brotli)
        );
        assert_eq!(
            negotiate(Some(&v("gzip;q=1.0, br;q=0"))),
            Some(Encoding::Gzip)
        );
        assert_eq!(negotiate(Some(&v("identity"))), None);
        assert_eq!(negotiate(None), None);
    }

    #[test]
    fn text_is_compressed_and_packed_formats_are_not() {
        let of = |kind: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            compressible(&headers)
        };
        for kind in [
            "text/html; charset=utf-8",
            "application/json",
            "application/problem+json",
            "application/atom+xml; charset=utf-8",
            "text/csv",
            "application/vnd.sdmx.data+csv; version=2.0.0",
        ] {
            assert!(of(kind), "{kind}");
        }
        for kind in [
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "image/x-icon",
            "application/octet-stream",
        ] {
            assert!(!of(kind), "{kind}");
        }
    }

    #[test]
    fn both_encodings_give_back_the_bytes() {
        let text: Vec<u8> = (0..20_000)
            .flat_map(|i: u32| format!("AL{i},{}\n", i % 7).into_bytes())
            .collect();
        let br = encode(&text, Encoding::Brotli).unwrap();
        let mut back = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut back).unwrap();
        assert_eq!(back, text);
        let gz = encode(&text, Encoding::Gzip).unwrap();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, text);
        assert!(br.len() < text.len() / 4 && gz.len() < text.len() / 3);
        assert_eq!(encode(b"short", Encoding::Gzip), None);
    }
}
