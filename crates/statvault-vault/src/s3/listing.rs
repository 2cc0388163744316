//! The pages of S3's listings, parsed apart from the requests that fetch them (and
//! fuzzed: a malicious server writes them).

use super::xml;

/// One stored version of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// The version's id.
    pub id: String,
    /// A delete marker, not data.
    pub deleted: bool,
    /// Its size in bytes.
    pub size: u64,
}

/// A page of `ListObjectVersions`: versions and delete markers in the answer's order
/// (each key's newest first), and where the next page starts.
#[derive(Debug, Default)]
pub struct VersionsPage {
    /// Each key with one of its versions.
    pub versions: Vec<(String, Version)>,
    /// The key and version id the next page starts from, if truncated.
    pub next: Option<(String, String)>,
}

/// A page of `ListObjectsV2`: keys with their sizes, and the continuation token.
#[derive(Debug, Default)]
pub struct ObjectsPage {
    /// Each key with its size.
    pub objects: Vec<(String, u64)>,
    /// The continuation token, if truncated.
    pub next: Option<String>,
}

fn size(block: &str) -> u64 {
    xml::tag(block, "Size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn truncated(text: &str) -> bool {
    xml::tag(text, "IsTruncated").as_deref() == Some("true")
}

/// Parses a `ListObjectVersions` answer.
pub fn versions_page(text: &str) -> VersionsPage {
    let versions = xml::blocks_of(text, &["Version", "DeleteMarker"])
        .into_iter()
        .filter_map(|(element, block)| {
            Some((
                xml::tag(block, "Key")?,
                Version {
                    id: xml::tag(block, "VersionId").unwrap_or_default(),
                    deleted: element == "DeleteMarker",
                    size: size(block),
                },
            ))
        })
        .collect();
    let next = truncated(text).then(|| {
        (
            xml::tag(text, "NextKeyMarker").unwrap_or_default(),
            xml::tag(text, "NextVersionIdMarker").unwrap_or_default(),
        )
    });
    VersionsPage { versions, next }
}

/// Parses a `ListObjectsV2` answer.
pub fn objects_page(text: &str) -> ObjectsPage {
    let objects = xml::blocks(text, "Contents")
        .into_iter()
        .filter_map(|block| Some((xml::tag(block, "Key")?, size(block))))
        .collect();
    let next = xml::tag(text, "NextContinuationToken").filter(|_| truncated(text));
    ObjectsPage { objects, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_keep_the_answer_order_with_markers() {
        let page = versions_page(
            "<ListVersionsResult><IsTruncated>true</IsTruncated><NextKeyMarker>b</NextKeyMarker>\
             <NextVersionIdMarker>v9</NextVersionIdMarker>\
             <Version><Key>a</Key><VersionId>v3</VersionId><Size>4</Size></Version>\
             <DeleteMarker><Key>a</Key><VersionId>v2</VersionId></DeleteMarker>\
             <Version><Key>a</Key><VersionId>v1</VersionId><Size>7</Size></Version></ListVersionsResult>",
        );
        let ids: Vec<(&str, bool)> = page
            .versions
            .iter()
            .map(|(_, v)| (v.id.as_str(), v.deleted))
            .collect();
        assert_eq!(ids, [("v3", false), ("v2", true), ("v1", false)]);
        assert_eq!(page.next, Some(("b".into(), "v9".into())));
        let objects = objects_page(
            "<ListBucketResult><Contents><Key>p/config</Key><Size>12</Size></Contents>\
             <IsTruncated>false</IsTruncated><NextContinuationToken>x</NextContinuationToken></ListBucketResult>",
        );
        assert_eq!(objects.objects, [("p/config".to_string(), 12)]);
        assert_eq!(objects.next, None, "not truncated: no next page");
    }
}
