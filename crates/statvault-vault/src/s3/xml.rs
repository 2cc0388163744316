//! Just enough XML for S3's answers: the text of a tag, the blocks of a repeated
//! element. S3's listings are flat, their element names never nest in themselves, and
//! their text carries only the five predefined entities and numeric references.

/// The contents of each `<name>…</name>` in `xml`, in order (attributes allowed).
pub fn blocks<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    blocks_of(xml, &[name])
        .into_iter()
        .map(|(_, b)| b)
        .collect()
}

/// The blocks of any of `names`, in document order, each with its element's name.
pub fn blocks_of<'a, 'n>(xml: &'a str, names: &[&'n str]) -> Vec<(&'n str, &'a str)> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some((start, name)) = names
        .iter()
        .filter_map(|n| rest.find(&format!("<{n}")).map(|at| (at, *n)))
        .min()
    {
        let (open, close) = (format!("<{name}"), format!("</{name}>"));
        let after = &rest[start + open.len()..];
        // `<Key` must not match `<KeyCount`.
        let Some(gt) = after.find('>') else { break };
        let attrs = &after[..gt];
        if !(attrs.is_empty() || attrs.starts_with(' ') || attrs == "/") {
            rest = after;
            continue;
        }
        if attrs.ends_with('/') {
            out.push((name, ""));
            rest = &after[gt + 1..];
            continue;
        }
        let body = &after[gt + 1..];
        let Some(end) = body.find(&close) else { break };
        out.push((name, &body[..end]));
        rest = &body[end + close.len()..];
    }
    out
}

/// The unescaped text of the first `<name>` in `xml`.
pub fn tag(xml: &str, name: &str) -> Option<String> {
    blocks(xml, name).first().map(|t| unescape(t))
}

fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let Some(semi) = after.find(';').filter(|&s| s <= 10) else {
            out.push('&');
            rest = after;
            continue;
        };
        let entity = &after[..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_fields_come_out_unescaped() {
        let xml = r#"<?xml version="1.0"?><ListBucketResult><KeyCount>2</KeyCount>
            <Contents><Key>a&amp;b/c</Key><Size>3</Size></Contents>
            <Contents><Key>d&#x3C;e</Key><Size>10</Size></Contents>
            <IsTruncated>false</IsTruncated></ListBucketResult>"#;
        let contents = blocks(xml, "Contents");
        assert_eq!(contents.len(), 2);
        assert_eq!(tag(contents[0], "Key").unwrap(), "a&b/c");
        assert_eq!(tag(contents[1], "Key").unwrap(), "d<e");
        assert_eq!(tag(xml, "KeyCount").unwrap(), "2");
        assert_eq!(tag(xml, "IsTruncated").unwrap(), "false");
        assert_eq!(tag(xml, "Missing"), None);
        let versions = "<R><Version><Key>a</Key></Version><DeleteMarker><Key>a</Key></DeleteMarker><Version><Key>b</Key></Version></R>";
        let names: Vec<&str> = blocks_of(versions, &["Version", "DeleteMarker"])
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["Version", "DeleteMarker", "Version"]);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in ".{0,200}") {
            let _ = blocks(&text, "Key");
            let _ = tag(&text, "Key");
        }
    }
}
