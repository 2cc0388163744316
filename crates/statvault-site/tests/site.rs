//! The site's router without a network (and once on a real socket): pages, API,
//! embargo, limits, security headers, and refusal of bundles that do not verify.

mod common;

use std::fs;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::{copy_dir, fixture, get, get_with, metrics, LATER_AT};
use statvault_release::meta::parse_utc;
use statvault_site::Limits;

#[tokio::test]
async fn pages_in_both_languages_with_calendar_and_postponement() {
    let f = fixture();
    let site = f.site(Limits::default());
    let r = get(&site, "/").await;
    assert_eq!(
        (r.status, r.headers["location"].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/sq/")
    );
    let en = get(&site, "/en/").await;
    assert_eq!(en.status, StatusCode::OK);
    assert!(
        en.body
            .contains("Population and Housing Census 2023 — first results"),
        "{}",
        en.body
    );
    assert!(
        en.body.contains("Migration") && en.body.contains("systems under attack"),
        "{}",
        en.body
    );
    assert!(en.body.contains("href=\"/sq/\""), "language switch");
    let sq = get(&site, "/sq/").await;
    assert!(sq.body.contains("Publikimet e fundit") && sq.body.contains("lang=\"sq\""));
    // The reason as the office gave it in each language: the Albanian pages used to
    // show the English one.
    assert!(sq.body.contains("sistemet nën sulm") && !sq.body.contains("systems under attack"));
    let feed = get(&site, "/sq/feed.atom").await;
    assert!(feed.body.contains("sistemet nën sulm"), "{}", feed.body);
    assert_eq!(get(&site, "/fr/").await.status, StatusCode::NOT_FOUND);

    let release = get(&site, "/en/releases/census-2023-first-results-v1").await;
    assert_eq!(release.status, StatusCode::OK);
    for needle in [
        "verified: signed by",
        "transparency log entry",
        "population_municipality_sex.csv",
        "Methodology",
        "audit passed",
    ] {
        assert!(release.body.contains(needle), "{needle}: {}", release.body);
    }
    let auth = get(&site, "/en/authenticity").await;
    assert!(auth.body.contains("minisign public key") && auth.body.contains("minisign -Vm"));
}

#[tokio::test]
async fn the_table_page_pivots_and_selects_by_get() {
    let f = fixture();
    let site = f.site(Limits::default());
    let uri = "/en/releases/census-2023-first-results-v1/population_municipality_sex?municipality=AL311,AL312&cols=sex&sort=desc";
    let page = get(&site, uri).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // Berat (AL311) has more people than Kuçovë (AL312): sorted descending, first.
    let berat = page.body.find("<th scope=\"row\">Berat</th>").unwrap();
    let kucove = page.body.find("<th scope=\"row\">Kuçovë</th>").unwrap();
    assert!(berat < kucove);
    assert!(page.body.contains("<th scope=\"col\">Female</th>"));
    assert!(page.body.contains("<sup>p</sup>"), "flags shown");
    assert!(
        page.body.contains("format=csv"),
        "download links keep the selection"
    );
    let bad = get(
        &site,
        "/en/releases/census-2023-first-results-v1/population_municipality_sex?municipality=XX",
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("XX"));
    let suppressed = get(
        &site,
        "/sq/releases/census-2023-first-results-v1/population_county_sex_age5?county=AL-01",
    )
    .await;
    assert!(
        suppressed.body.contains("..<sup>c</sup>"),
        "suppressed cells show their flag"
    );
}

#[tokio::test]
async fn the_api_lists_describes_and_selects_in_every_format() {
    let f = fixture();
    let site = f.site(Limits {
        max_cells: 100,
        ..Limits::default()
    });
    let list: serde_json::Value =
        serde_json::from_str(&get(&site, "/api/v1/releases").await.body).unwrap();
    let ids: Vec<&str> = list["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["census-2023-first-results"],
        "the embargoed release is not listed"
    );
    let found: serde_json::Value =
        serde_json::from_str(&get(&site, "/api/v1/tables?q=county+age").await.body).unwrap();
    assert_eq!(found["tables"].as_array().unwrap().len(), 1);
    // Categories count, in either language, accents ignored: the municipalities'
    // table has Tiranë and is titled "… sipas bashkisë …".
    let found: serde_json::Value =
        serde_json::from_str(&get(&site, "/api/v1/tables?q=bashkise+Tiran").await.body).unwrap();
    assert_eq!(found["tables"][0]["id"], "population_municipality_sex");
    assert_eq!(found["tables"].as_array().unwrap().len(), 1);
    let meta = get(
        &site,
        "/api/v1/releases/census-2023-first-results/tables/population_municipality_sex",
    )
    .await;
    let meta_json: serde_json::Value = serde_json::from_str(&meta.body).unwrap();
    assert_eq!(meta_json["dimensions"][1]["id"], "sex");

    let base = "/api/v1/releases/census-2023-first-results/tables/population_municipality_sex/data";
    let csv = get(
        &site,
        &format!("{base}?municipality=AL311&sex=*&format=csv"),
    )
    .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert_eq!(csv.body.lines().count(), 4, "{}", csv.body);
    assert!(
        csv.body.contains("AL311,Berat,Berat,_T,Gjithsej,Total,"),
        "{}",
        csv.body
    );
    let stat: serde_json::Value = serde_json::from_str(
        &get(
            &site,
            &format!("{base}?municipality=AL311,AL312&sex=TOP(1)&lang=sq"),
        )
        .await
        .body,
    )
    .unwrap();
    assert_eq!(stat["class"], "dataset");
    assert_eq!(stat["size"], serde_json::json!([2, 1]));
    for format in ["sdmx", "px", "xlsx"] {
        let r = get(&site, &format!("{base}?municipality=AL311&format={format}")).await;
        assert_eq!(r.status, StatusCode::OK, "{format}: {}", r.body);
    }
    let too_big = get(&site, base).await;
    assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(too_big.body.contains("/api/v1/config"));
    for (uri, status) in [
        (format!("{base}?municipality=AL311&format=pdf"), 400),
        (format!("{base}?municipality=AL311&lang=fr"), 400),
        (format!("{base}?nope=1"), 400),
        (format!("{base}?municipality=AL311&version=7"), 404),
        ("/api/v1/releases/census-2023-housing".to_string(), 404),
        (
            "/api/v1/releases/census-2023-first-results/tables/nope".to_string(),
            404,
        ),
    ] {
        let r = get(&site, &uri).await;
        assert_eq!(r.status.as_u16(), status, "{uri}: {}", r.body);
        assert!(serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["error"].is_string());
    }
    let config: serde_json::Value =
        serde_json::from_str(&get(&site, "/api/v1/config").await.body).unwrap();
    assert_eq!(config["max_cells_per_request"], 100);
    let openapi: serde_json::Value =
        serde_json::from_str(&get(&site, "/api/v1/openapi.json").await.body).unwrap();
    assert!(openapi["paths"]["/api/v1/releases/{id}/tables/{table}/data"]["get"].is_object());
}

#[tokio::test]
async fn the_embargo_ends_without_a_restart() {
    let f = fixture();
    let site = f.site(Limits::default());
    let housing = "/en/releases/census-2023-housing-v1";
    let file = "/releases/census-2023-housing-v1/manifest.json";
    assert_eq!(get(&site, housing).await.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&site, file).await.status, StatusCode::NOT_FOUND);
    assert!(!get(&site, "/en/feed.atom")
        .await
        .body
        .contains("census-2023-housing:v1"));
    assert!(!get(&site, "/api/v1/releases")
        .await
        .body
        .contains("census-2023-housing"));
    f.clock
        .store(parse_utc(LATER_AT).unwrap(), Ordering::SeqCst);
    assert_eq!(get(&site, housing).await.status, StatusCode::OK);
    assert_eq!(get(&site, file).await.status, StatusCode::OK);
    let feed = get(&site, "/en/feed.atom").await;
    assert!(
        feed.body.contains("urn:statvault:census-2023-housing:v1"),
        "{}",
        feed.body
    );
    assert!(feed.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/atom+xml"));
}

#[tokio::test]
async fn files_are_served_as_signed_cached_and_never_outside_a_bundle() {
    let f = fixture();
    let site = f.site(Limits::default());
    let uri = "/releases/census-2023-first-results-v1/tables/population_municipality_sex.csv";
    let r = get(&site, uri).await;
    assert_eq!(r.status, StatusCode::OK);
    let on_disk = fs::read_to_string(
        f.dir
            .path()
            .join("census-2023-first-results-v1/tables/population_municipality_sex.csv"),
    )
    .unwrap();
    assert_eq!(r.body, on_disk);
    assert!(r.headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert_eq!(r.headers["last-modified"], "Tue, 01 Dec 2026 10:00:00 GMT");
    let etag = r.headers["etag"].clone();
    let again = get_with(
        &site,
        Request::get(uri)
            .header("if-none-match", etag)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    for bad in [
        "/releases/census-2023-first-results-v1/../calendar.json",
        "/releases/census-2023-first-results-v1/%2e%2e/%2e%2e/etc/passwd",
        "/releases/census-2023-first-results-v1/tables/..%2f..%2flog%2fcheckpoint",
        "/releases/log/checkpoint",
        "/log/../calendar.json",
    ] {
        let r = get(&site, bad).await;
        assert!(
            r.status == StatusCode::NOT_FOUND || r.status == StatusCode::BAD_REQUEST,
            "{bad}: {}",
            r.status
        );
    }
    assert_eq!(get(&site, "/log/checkpoint").await.status, StatusCode::OK);
    assert!(get(&site, "/calendar.ics")
        .await
        .body
        .starts_with("BEGIN:VCALENDAR"));
}

#[tokio::test]
async fn limits_and_security_headers() {
    let f = fixture();
    let site = f.site(Limits {
        requests_per_minute: 3,
        max_query_bytes: 64,
        ..Limits::default()
    });
    let r = get(&site, "/en/").await;
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    let post = get_with(
        &site,
        Request::post("/api/v1/releases")
            .body(Body::from("x"))
            .unwrap(),
    )
    .await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    let long = format!("/api/v1/releases?q={}", "a".repeat(100));
    assert_eq!(get(&site, &long).await.status, StatusCode::URI_TOO_LONG);
    let client: SocketAddr = "192.0.2.7:5555".parse().unwrap();
    let from_client = || {
        let mut request = Request::get("/api/v1/config").body(Body::empty()).unwrap();
        request.extensions_mut().insert(ConnectInfo(client));
        request
    };
    for _ in 0..3 {
        assert_eq!(get_with(&site, from_client()).await.status, StatusCode::OK);
    }
    let limited = get_with(&site, from_client()).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        limited.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    let text = metrics(&site).await;
    assert!(
        text.contains("statvault_site_rate_limited_total 1"),
        "{text}"
    );
    assert!(
        text.contains("statvault_site_bundles{state=\"verified\"} 2"),
        "{text}"
    );
}

#[tokio::test]
async fn a_bundle_that_does_not_verify_is_never_served() {
    let f = fixture();
    let site = f.site(Limits::default());
    let csv = f
        .dir
        .path()
        .join("census-2023-first-results-v1/tables/population_municipality_sex.csv");
    let mut text = fs::read_to_string(&csv).unwrap();
    text.push_str("AL,Shqipëria,Albania,_T,Gjithsej,Total,1,\n");
    fs::write(&csv, text).unwrap();
    // A re-signature's mtime is what the site watches; touch the signature to reload.
    let sig = f
        .dir
        .path()
        .join("census-2023-first-results-v1/manifest.json.minisig");
    let bytes = fs::read(&sig).unwrap();
    fs::remove_file(&sig).unwrap();
    fs::write(&sig, bytes).unwrap();
    site.store.refresh();
    assert_eq!(
        get(&site, "/en/releases/census-2023-first-results-v1")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(
            &site,
            "/releases/census-2023-first-results-v1/tables/population_municipality_sex.csv"
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let refused = &site.store.catalog().refused;
    assert!(
        refused[0].contains("population_municipality_sex.csv: changed"),
        "{refused:?}"
    );
}

/// Regression (the calendar check is partial): a calendar.json changed on the server
/// (here, the reason for a postponement) changes nothing the site shows or serves: the
/// calendar is built from the signed log, and calendar.json is never read.
#[tokio::test]
async fn a_forged_calendar_json_changes_nothing_the_site_shows() {
    let f = fixture();
    let site = f.site(Limits::default());
    let served = get(&site, "/calendar.json").await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(
        served.body,
        fs::read_to_string(f.dir.path().join("calendar.json")).unwrap(),
        "the same bytes as the office's file"
    );
    let ics = get(&site, "/calendar.ics").await.body;
    assert_eq!(
        ics,
        fs::read_to_string(f.dir.path().join("calendar.ics")).unwrap()
    );

    let path = f.dir.path().join("calendar.json");
    let forged = fs::read_to_string(&path)
        .unwrap()
        .replace("systems under attack", "the results were embarrassing");
    fs::write(&path, forged).unwrap();
    site.store.refresh();
    let home = get(&site, "/en/").await.body;
    assert!(!home.contains("embarrassing") && home.contains("systems under attack"));
    let served_now = get(&site, "/calendar.json").await.body;
    assert_eq!(served_now, served.body);
    assert!(site.store.catalog().refused.is_empty());
}

/// Regression (mirrors can be kept from corrections for ever): an old signed bundle
/// copied under a later version's name verified, and was served under that name.
#[tokio::test]
async fn a_signed_bundle_under_a_name_its_log_entry_does_not_give_is_refused() {
    let f = fixture();
    let site = f.site(Limits::default());
    let copy = f.dir.path().join("census-2023-first-results-v2");
    copy_dir(&f.dir.path().join("census-2023-first-results-v1"), &copy);
    site.store.refresh();
    assert_eq!(
        get(&site, "/en/releases/census-2023-first-results-v2")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let refused = &site.store.catalog().refused;
    assert!(
        refused.iter().any(|r| r.starts_with("census-2023-first-results-v2: no signed log entry publishes census-2023-first-results version 1 under the name census-2023-first-results-v2")),
        "{refused:?}"
    );
    assert_eq!(
        get(&site, "/en/releases/census-2023-first-results-v1")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn serves_on_a_socket_and_shuts_down_gracefully() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let f = fixture();
    let site = f.site(Limits::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(statvault_site::serve(listener, site, async {
        let _ = stopped.await;
    }));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /api/v1/releases HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("census-2023-first-results"));
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// Regression (the site serves bytes it never verified): it verified a bundle, then
/// read the files again and served those, so a file edited in place inside a served
/// bundle was served as edited, and a file replaced by a symbolic link served what
/// the link pointed to (the subscriber database, cacheable for a year). Every file is
/// now checked against the signed manifest as it is read, and only regular files are
/// opened; the ETag is the file's SHA-256.
#[tokio::test]
async fn only_bytes_that_match_the_signed_manifest_are_served() {
    let f = fixture();
    let site = f.site(Limits::default());
    let bundle = f.dir.path().join("census-2023-first-results-v1");
    let csv = "tables/population_municipality_sex.csv";
    let address = format!("/releases/census-2023-first-results-v1/{csv}");
    let served = get(&site, &address).await;
    assert_eq!(served.status, StatusCode::OK);
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    let sha = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == csv)
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(served.headers["etag"], format!("\"{sha}\""));

    // Edited in place, the same size: not served, and the bundle is refused from the
    // next reread on.
    let original = fs::read(bundle.join(csv)).unwrap();
    let mut edited = original.clone();
    let at = edited.iter().position(|b| b.is_ascii_digit()).unwrap();
    edited[at] = if edited[at] == b'9' { b'1' } else { b'9' };
    fs::write(bundle.join(csv), &edited).unwrap();
    let got = get(&site, &address).await;
    assert_eq!(got.status, StatusCode::NOT_FOUND);
    assert!(!got.body.contains(std::str::from_utf8(&edited).unwrap()));
    site.store.refresh();
    assert!(
        site.store.catalog().refused.iter().any(|r| r.contains(csv)),
        "{:?}",
        site.store.catalog().refused
    );
    assert_eq!(
        get(&site, "/en/releases/census-2023-first-results-v1")
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // A symbolic link in the file's place, to a file outside the bundle with the very
    // same bytes: still refused, since nothing behind a link is opened.
    fs::write(bundle.join(csv), &original).unwrap();
    let site = f.site(Limits::default());
    assert_eq!(get(&site, &address).await.status, StatusCode::OK);
    let outside = f.dir.path().join("outside.csv");
    fs::write(&outside, &original).unwrap();
    fs::remove_file(bundle.join(csv)).unwrap();
    std::os::unix::fs::symlink(&outside, bundle.join(csv)).unwrap();
    assert_eq!(get(&site, &address).await.status, StatusCode::NOT_FOUND);
}

/// Regression (the note verifier key and consistency proofs were not published): /log/
/// serves both, and the proof checks with RFC 9162's algorithm against the roots of
/// the log at the two sizes.
#[tokio::test]
async fn the_log_publishes_its_verifier_key_and_consistency_proofs() {
    use statvault_release::merkle;
    use statvault_release::tlog::TransparencyLog;
    let f = fixture();
    let site = f.site(Limits::default());
    let log = TransparencyLog::open(&f.dir.path().join("log")).unwrap();
    let size = log.size();
    let verifier = get(&site, "/log/verifier").await;
    assert_eq!(verifier.status, StatusCode::OK);
    let key = f.key.key().public_key();
    let expected = statvault_release::checkpoint::NoteKey {
        name: TransparencyLog::origin(&key),
        key,
    }
    .verifier_string();
    assert_eq!(verifier.body.trim(), expected);
    assert!(get(&site, "/en/authenticity")
        .await
        .body
        .contains(&expected));
    for old in 1..=size {
        let got = get(&site, &format!("/log/consistency/{old}")).await;
        assert_eq!(got.status, StatusCode::OK);
        let proof: Vec<merkle::Digest> = got
            .body
            .lines()
            .map(|l| {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(l)
                    .unwrap()
                    .try_into()
                    .unwrap()
            })
            .collect();
        assert!(
            merkle::verify_consistency(old, size, &log.root(old), &log.root(size), &proof),
            "from {old}"
        );
    }
    // The project's independent checker (written from the RFCs and C2SP, in Python)
    // agrees on the verifier key and on every proof.
    let out = tempfile::tempdir().unwrap();
    let verifier_file = out.path().join("verifier");
    fs::write(&verifier_file, &verifier.body).unwrap();
    let mut checker = std::process::Command::new(common::venv_tool("python"));
    checker
        .arg(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../statvault-release/tests/check_release.py"),
        )
        .arg(f.dir.path())
        .arg("census-2023-first-results-v1")
        .arg(&verifier_file);
    for old in 1..=size {
        let proof_file = out.path().join(format!("proof-{old}"));
        fs::write(
            &proof_file,
            get(&site, &format!("/log/consistency/{old}")).await.body,
        )
        .unwrap();
        checker.arg(old.to_string()).arg(&proof_file);
    }
    let checked = checker.output().unwrap();
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked.status.success() && said.contains(&format!("consistency proofs ({size}): ok")),
        "{said}{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    for bad in ["0", &(size + 1).to_string(), "x"] {
        assert_eq!(
            get(&site, &format!("/log/consistency/{bad}")).await.status,
            StatusCode::NOT_FOUND
        );
    }
}

/// Regression (the site can be starved: no header-read timeout, slow connections
/// exhausted the descriptors): a client that never finishes its headers is cut off,
/// and the site answers others meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use std::io::{Read, Write};
    let f = fixture();
    let site = f.site(Limits::default());
    common::with_server(site, |addr| {
        let mut slow: Vec<std::net::TcpStream> = (0..20)
            .map(|_| {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
                s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
                    .unwrap();
                s
            })
            .collect();
        // Others are answered while those hang on.
        let mut other = std::net::TcpStream::connect(addr).unwrap();
        other
            .write_all(b"GET /assets/site.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        other.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        // Each slow one is closed by the server (a 408, or nothing), not left open.
        for s in &mut slow {
            let mut rest = Vec::new();
            let read = s.read_to_end(&mut rest);
            assert!(
                read.is_ok(),
                "the server did not close a slow connection: {read:?}"
            );
            let text = String::from_utf8_lossy(&rest);
            assert!(
                text.is_empty() || text.starts_with("HTTP/1.1 408"),
                "{text}"
            );
        }
    })
    .await;
}

/// Regression (entries past the signed checkpoint were served): a line appended to the
/// log without a checkpoint is not in /log/entries.jsonl.
#[tokio::test]
async fn the_site_serves_only_the_signed_entries_of_the_log() {
    let f = fixture();
    let path = f.dir.path().join("log/entries.jsonl");
    let signed = fs::read_to_string(&path).unwrap();
    let mut forged: serde_json::Value =
        serde_json::from_str(signed.lines().last().unwrap()).unwrap();
    forged["index"] = signed.lines().count().into();
    forged["reason"] = "forged".into();
    fs::write(&path, format!("{signed}{forged}\n")).unwrap();
    let site = f.site(Limits::default());
    let served = get(&site, "/log/entries.jsonl").await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.body, signed);
}

/// Regression (slow connections exhausted the descriptors): past the cap, connections
/// are closed as they come, and served again once others end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_closed_at_once() {
    use std::io::{Read, Write};
    let f = fixture();
    let site = f.site(Limits {
        max_connections: 3,
        ..Limits::default()
    });
    common::with_server(site, |addr| {
        let ask = |s: &mut std::net::TcpStream| {
            s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
                .unwrap();
            let _ = s.write_all(
                b"GET /assets/site.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            answer
        };
        let idle: Vec<std::net::TcpStream> = (0..3)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        // Once the server has taken the three idle ones, a fourth gets nothing.
        let refused = (0..50).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            ask(&mut std::net::TcpStream::connect(addr).unwrap()).is_empty()
        });
        assert!(refused, "a connection past the cap was served");
        drop(idle);
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut again = std::net::TcpStream::connect(addr).unwrap();
        assert!(ask(&mut again).starts_with("HTTP/1.1 200"));
    })
    .await;
}

/// Regression (a table swapped between the site's verification of a bundle and its
/// read of the table was served as verified): while an intruder keeps swapping a
/// table for a forged one (national total 9,999,999), each reading of the releases
/// directory refuses the bundle or holds the signed table, never the forged one.
#[test]
fn a_table_swapped_while_the_site_reads_the_bundle_is_never_taken() {
    use statvault_protect::protected::ProtectedTable;
    use std::sync::atomic::AtomicBool;
    let f = fixture();
    let bundle = f.dir.path().join("census-2023-first-results-v1");
    let table = bundle.join("tables/population_municipality_sex.protected.json");
    let signed = fs::read(&table).unwrap();
    let mut forged = ProtectedTable::read(&signed).unwrap();
    forged.values[0] = Some(9_999_999);
    let forged = serde_json::to_vec(&forged).unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let swapper = scope.spawn(|| {
            let staged = f.dir.path().join("staged.json");
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for bytes in [&forged, &signed] {
                    fs::write(&staged, bytes).unwrap();
                    fs::rename(&staged, &table).unwrap();
                }
                swaps += 1;
            }
            swaps
        });
        let original = ProtectedTable::read(&signed).unwrap();
        let (mut held, mut refused, mut forgeries) = (0, 0, 0);
        for _ in 0..300 {
            let catalog = f.store().catalog();
            let bundle = catalog
                .bundles
                .iter()
                .find(|b| b.name == "census-2023-first-results-v1");
            match bundle.and_then(|b| b.tables.iter().find(|t| t.id == original.id)) {
                Some(t) if *t == original => held += 1,
                Some(_) => forgeries += 1,
                None => refused += 1,
            }
        }
        stop.store(true, Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        assert_eq!(forgeries, 0, "the forged table was taken {forgeries} times");
        assert!(
            swaps > 0 && refused > 0,
            "{swaps} swaps; {held} held, {refused} refused"
        );
    });
}

/// Regression (answers were cached for one second only, so the grid's whole-table
/// XLSX was made again every second it was asked for): an answer is made once and
/// served from the cache until a release time passes, which changes what is public.
#[tokio::test]
async fn an_answer_is_made_once_until_a_release_time_passes() {
    let f = fixture();
    let site = f.site(Limits::default());
    let download = "/api/v1/releases/census-2023-first-results/tables/population_municipality_sex/data?municipality=AL311&format=xlsx";
    let counted = |text: String, result: &str| -> u64 {
        let line = format!("statvault_site_cached_answers_total{{result=\"{result}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&line))
            .unwrap()
            .parse()
            .unwrap()
    };
    let first = get(&site, download).await;
    assert_eq!(first.status, StatusCode::OK);
    let made = counted(metrics(&site).await, "made");
    f.clock.fetch_add(90, Ordering::SeqCst);
    let again = get(&site, download).await;
    assert_eq!(again.body, first.body);
    let counters = metrics(&site).await;
    assert_eq!(counted(counters.clone(), "made"), made, "{counters}");
    assert!(counted(counters, "hit") >= 1);
    f.clock
        .store(parse_utc(LATER_AT).unwrap(), Ordering::SeqCst);
    assert_eq!(get(&site, download).await.status, StatusCode::OK);
    assert_eq!(counted(metrics(&site).await, "made"), made + 1);
}

#[tokio::test]
async fn two_municipalities_chosen_in_the_form_show_exactly_them() {
    // The form's <select multiple> sends the name once per value: the old site answered
    // a raw JSON 400, "given twice".
    let f = fixture();
    let site = f.site(Limits::default());
    let table = "/en/releases/census-2023-first-results-v1/population_municipality_sex";
    let page = get(
        &site,
        &format!("{table}?municipality=AL311&municipality=AL312&cols=sex"),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let rows: Vec<&str> = page
        .body
        .split("<th scope=\"row\">")
        .skip(1)
        .map(|r| &r[..r.find("</th>").unwrap()])
        .collect();
    assert_eq!(rows, ["Berat", "Kuçovë"]);
    // Both stay chosen in the form, a county is a group with its municipalities, and
    // the county tells itself apart from its seat.
    assert!(page
        .body
        .contains("<option value=\"AL311\" data-level=\"municipality\" data-cells=\"1\" selected>Berat</option>"));
    assert!(
        page.body.contains("<optgroup label=\"Berat (county)\">"),
        "{}",
        page.body
    );
    assert!(page.body.contains("value=\"CHILDREN(AL-01)\""));
    assert!(page.body.contains("value=\"LEVEL(county)\""));
    // A whole county's municipalities by one option.
    let county = get(
        &site,
        &format!("{table}?municipality=CHILDREN(AL-02)&cols=sex"),
    )
    .await;
    assert_eq!(county.body.matches("<th scope=\"row\">").count(), 3);
    // A selection that cannot be made: an HTML page of the site, in the reader's
    // language, that says why.
    let bad = get(
        &site,
        "/sq/releases/census-2023-first-results-v1/population_municipality_sex?municipality=XX",
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(
        bad.body.contains("lang=\"sq\"") && bad.body.contains("&quot;XX&quot;"),
        "{}",
        bad.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pxwebpy_lists_searches_and_reads_tables_through_the_pxwebapi_v2() {
    let f = fixture();
    let site = f.site(Limits::default());
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pxweb_client.py");
    let csv = f
        .dir
        .path()
        .join("census-2023-first-results-v1/tables/population_municipality_sex.csv");
    let run = common::with_server(site, move |addr| {
        std::process::Command::new(common::venv_tool("python"))
            .arg(script)
            .arg(format!("http://{addr}"))
            .arg(csv)
            .output()
            .expect("running pxwebpy")
    })
    .await;
    let report = common::succeeded(&run);
    for step in ["list", "search", "metadata", "data"] {
        assert!(report.contains(&format!("{step}: ok")), "{report}");
    }
}

#[tokio::test]
async fn the_pxwebapi_v2_selects_by_get_and_answers_problems() {
    let f = fixture();
    let site = f.site(Limits {
        max_cells: 100,
        ..Limits::default()
    });
    let data = "/api/v2/tables/census-2023-first-results.population_municipality_sex/data";
    let csv = get(
        &site,
        &format!("{data}?lang=en&valuecodes%5Bmunicipality%5D=AL311,AL312&valuecodes%5Bsex%5D=*&outputFormat=csv"),
    )
    .await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.body);
    assert_eq!(csv.body.lines().count(), 1 + 2 * 3, "{}", csv.body);
    // A dimension left out is eliminated to its total.
    let total = get(&site, &format!("{data}?valuecodes[municipality]=AL311")).await;
    let doc: serde_json::Value = serde_json::from_str(&total.body).unwrap();
    assert_eq!(doc["size"], serde_json::json!([1, 1]));
    assert_eq!(doc["dimension"]["sex"]["category"]["index"]["_T"], 0);
    for (uri, status) in [
        (format!("{data}?valuecodes[municipality]=XX"), 400),
        (format!("{data}?valuecodes[nothing]=1"), 400),
        (
            format!("{data}?valuecodes[municipality]=*&valuecodes[sex]=*"),
            403,
        ),
        (format!("{data}?outputFormat=docx"), 400),
        ("/api/v2/tables/no.such/data".to_string(), 404),
        ("/api/v2/tables?lang=fr".to_string(), 400),
    ] {
        let r = get(&site, &uri).await;
        assert_eq!(r.status.as_u16(), status, "{uri}: {}", r.body);
        assert_eq!(
            r.headers["content-type"], "application/problem+json",
            "{uri}"
        );
        let problem: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(problem["status"], status, "{uri}");
    }
}

#[tokio::test]
async fn answers_are_compressed_with_brotli_or_gzip_as_the_client_takes() {
    use std::io::Read as _;
    use tower::ServiceExt as _;
    let f = fixture();
    let site = f.site(Limits::default());
    let fetch = |uri: &str, accept: &str, tag: Option<&str>| {
        let mut request = Request::get(uri).header("accept-encoding", accept);
        if let Some(tag) = tag {
            request = request.header("if-none-match", tag);
        }
        let (site, request) = (site.clone(), request.body(Body::empty()).unwrap());
        async move {
            let response = statvault_site::router(site).oneshot(request).await.unwrap();
            let (status, headers) = (response.status(), response.headers().clone());
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, headers, body.to_vec())
        }
    };
    for uri in [
        "/en/releases/census-2023-first-results-v1",
        "/api/v1/releases/census-2023-first-results/tables/population_municipality_sex/data?format=csv",
        "/releases/census-2023-first-results-v1/tables/population_municipality_sex.csv",
        "/api/v2/tables/census-2023-first-results.population_municipality_sex/metadata",
    ] {
        let (_, plain_headers, plain) = fetch(uri, "identity", None).await;
        assert!(plain_headers.get("content-encoding").is_none(), "{uri}");
        assert_eq!(plain_headers["vary"], "accept-encoding", "{uri}");
        let (status, headers, br) = fetch(uri, "gzip, deflate, br", None).await;
        assert_eq!((status, &headers["content-encoding"]), (StatusCode::OK, &"br".parse().unwrap()), "{uri}");
        let mut back = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut back).unwrap();
        assert_eq!(back, plain, "{uri}");
        assert!(br.len() * 3 < plain.len(), "{uri}: {} of {}", br.len(), plain.len());
        let (_, gz_headers, gz) = fetch(uri, "gzip", None).await;
        assert_eq!(gz_headers["content-encoding"], "gzip", "{uri}");
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, plain, "{uri}");
        // Each encoding is its own representation, revalidated by its own tag.
        let tag = headers["etag"].to_str().unwrap().to_string();
        assert_ne!(Some(&headers["etag"]), plain_headers.get("etag"), "{uri}");
        assert_ne!(headers["etag"], gz_headers["etag"], "{uri}");
        let (status, _, _) = fetch(uri, "br", Some(&tag)).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{uri}");
    }
}

#[tokio::test]
async fn the_site_has_what_readers_and_crawlers_expect() {
    let f = fixture();
    let mut site = statvault_site::Site::new(f.store(), Limits::default());
    site.public_url = Some("https://stats.example".into());
    let site = std::sync::Arc::new(site);
    // Icons, robots.txt and a sitemap with both languages of every page.
    let ico = get(&site, "/favicon.ico").await;
    assert_eq!(
        (ico.status, &ico.headers["content-type"]),
        (StatusCode::OK, &"image/x-icon".parse().unwrap())
    );
    let robots = get(&site, "/robots.txt").await;
    assert!(
        robots
            .body
            .contains("Sitemap: https://stats.example/sitemap.xml"),
        "{}",
        robots.body
    );
    let sitemap = get(&site, "/sitemap.xml").await;
    for needle in [
        "<loc>https://stats.example/sq/releases/census-2023-first-results-v1/population_municipality_sex</loc>",
        "hreflang=\"en\" href=\"https://stats.example/en/calendar\"",
    ] {
        assert!(sitemap.body.contains(needle), "{needle}: {}", sitemap.body);
    }
    assert!(
        !sitemap.body.contains("census-2023-housing"),
        "nothing before its release time"
    );
    // Every page: a description, its canonical and language links, a skip link, a
    // search box; assets by content hash, kept for a year.
    let page = get(&site, "/en/releases/census-2023-first-results-v1").await;
    assert!(page.body.contains("<meta name=\"description\""));
    assert!(page.body.contains("<a class=\"skip\" href=\"#main\">"));
    assert!(page.body.contains("action=\"/en/search\""));
    let link = page.headers["link"].to_str().unwrap();
    assert!(
        link.contains(
            "<https://stats.example/en/releases/census-2023-first-results-v1>; rel=\"canonical\""
        ),
        "{link}"
    );
    assert!(link.contains("<https://stats.example/sq/releases/census-2023-first-results-v1>; rel=\"alternate\"; hreflang=\"sq\""), "{link}");
    let css = page
        .body
        .split("href=\"/assets/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert!(
        css.starts_with("site.") && css.len() > "site.css".len(),
        "{css}"
    );
    let asset = get(&site, &format!("/assets/{css}")).await;
    assert!(asset.headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    // Tables grouped by topic; search finds a table by an accent-less label.
    assert!(page.body.contains("<h3>Population</h3>"), "{}", page.body);
    let found = get(&site, "/sq/search?q=bashkise+Tiran").await;
    assert!(
        found
            .body
            .contains("/sq/releases/census-2023-first-results-v1/population_municipality_sex\""),
        "{}",
        found.body
    );
    assert!(
        !found.body.contains("population_county_sex_age5\""),
        "every word must be found"
    );
    // Numbers grouped, the unit, source and the note on perturbed totals; the column
    // dimension named; the wide table scrollable by keyboard.
    let table = get(&site, "/en/releases/census-2023-first-results-v1/population_municipality_sex?municipality=AL&cols=sex").await;
    for needle in [
        "Unit</dt><dd>person",
        "Source</dt><dd>INSTAT",
        "cell key method",
        "scope=\"colgroup\" colspan=\"3\">Sex</th>",
        "tabindex=\"0\" role=\"region\"",
        "<caption>",
    ] {
        assert!(table.body.contains(needle), "{needle}: {}", table.body);
    }
    let grouped = table
        .body
        .split("<td>")
        .skip(1)
        .any(|cell| cell.split('<').next().unwrap().contains(','));
    assert!(grouped, "thousands grouped: {}", table.body);
    // The calendar keeps the date first announced beside the new one.
    let calendar = get(&site, "/en/calendar").await;
    assert!(
        calendar.body.contains(
            "originally <time datetime=\"2027-06-01T10:00:00Z\"><del>1 June 2027, 12:00</del>"
        ),
        "{}",
        calendar.body
    );
    // "Latest" addresses: a release's id leads to its newest public version.
    let latest = get(
        &site,
        "/en/releases/census-2023-first-results/population_municipality_sex?sex=1",
    )
    .await;
    assert_eq!(latest.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        latest.headers["location"],
        "/en/releases/census-2023-first-results-v1/population_municipality_sex?sex=1"
    );
    // Only the embedded view may be framed, by anyone.
    let embed = get(&site, "/embed/en/releases/census-2023-first-results-v1/population_municipality_sex?municipality=AL").await;
    assert_eq!(embed.status, StatusCode::OK);
    assert!(embed.headers.get("x-frame-options").is_none());
    assert!(embed.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors *"));
    assert!(!embed.body.contains("<header>") && embed.body.contains("<table class=\"data\""));
    assert_eq!(page.headers["x-frame-options"], "DENY");
}

/// A static copy's script (site.js, run here by Node) and the site (select.rs) make the
/// same selection from the same address, or both refuse it: 2,000 addresses built from
/// every kind of item, and some that cannot be made.
#[test]
fn the_static_copys_script_selects_as_the_site_does() {
    let table = statvault_protect::ProtectedTable::read(include_bytes!(
        "../../statvault-release/tests/data/ckm.protected.json"
    ))
    .unwrap();
    let d = &table.dimensions[0];
    let codes: Vec<&str> = d.categories.iter().map(|c| c.code.as_str()).collect();
    let totals: Vec<&str> = d.sums.iter().map(|s| s.total.as_str()).collect();
    // A small deterministic generator (xorshift), so that a failure can be replayed.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let item = |next: &mut dyn FnMut(usize) -> usize| -> String {
        let code = |next: &mut dyn FnMut(usize) -> usize| codes[next(codes.len())].to_string();
        match next(12) {
            0 => "*".into(),
            1 => format!("TOP({})", next(80)),
            2 => format!("LAST({})", next(80)),
            3 => format!("BOTTOM({})", next(5)),
            4 => format!("RANGE({},{})", code(next), code(next)),
            5 => format!("FROM({})", code(next)),
            6 => format!("TO({})", code(next)),
            7 => [
                "LEVEL(county)",
                "LEVEL(municipality)",
                "LEVEL(country)",
                "LEVEL(x)",
            ][next(4)]
            .into(),
            8 => format!(
                "CHILDREN({})",
                if next(4) == 0 {
                    code(next)
                } else {
                    totals[next(totals.len())].to_string()
                }
            ),
            9 => ["AL3*", "AL-0?", "*5", "A*1?", "ZZ*"][next(5)].into(),
            10 => ["XX", "al311", ""][next(3)].into(),
            _ => code(next),
        }
    };
    let mut cases: Vec<String> = Vec::new();
    for _ in 0..2000 {
        let n = 1 + next(3);
        cases.push(
            (0..n)
                .map(|_| item(&mut next))
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    let levels: serde_json::Map<String, serde_json::Value> = (0..codes.len())
        .map(|k| {
            (
                codes[k].to_string(),
                statvault_site::select::level_of(d, k).into(),
            )
        })
        .collect();
    let child: serde_json::Map<String, serde_json::Value> = d
        .sums
        .iter()
        .map(|s| (s.total.clone(), serde_json::json!(s.parts)))
        .collect();
    let input = serde_json::json!({
        "dimension": {"id": d.id, "codes": codes, "level": levels, "child": child},
        "cases": cases,
    });
    let dir = tempfile::tempdir().unwrap();
    let input_path = dir.path().join("cases.json");
    fs::write(&input_path, input.to_string()).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/site.js");
    let run = std::process::Command::new("node")
        .arg("-e")
        .arg(
            "const { pickCategories } = require(process.argv[1]);\
             const input = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));\
             console.log(JSON.stringify(input.cases.map((c) => pickCategories(input.dimension, c))));",
        )
        .arg(&script)
        .arg(&input_path)
        .output()
        .expect("node is installed by scripts/test (Debian's nodejs)");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let script_picks: Vec<Option<Vec<usize>>> = serde_json::from_slice(&run.stdout).unwrap();
    let mut compared = (0, 0);
    for (case, picked) in cases.iter().zip(&script_picks) {
        let site = statvault_site::select::categories(d, case).ok();
        assert_eq!(&site, picked, "{case}");
        if site.is_some() {
            compared.0 += 1;
        } else {
            compared.1 += 1;
        }
    }
    // Both kinds were tried.
    assert!(compared.0 > 300 && compared.1 > 300, "{compared:?}");
}

/// A square of about 2 km around a point, as GeoJSON coordinates.
fn square(lon: f64, lat: f64) -> String {
    let (x0, x1, y0, y1) = (lon - 0.012, lon + 0.012, lat - 0.009, lat + 0.009);
    format!("[[[{x0},{y0}],[{x1},{y0}],[{x1},{y1}],[{x0},{y1}],[{x0},{y0}]]]")
}

#[tokio::test]
async fn municipal_boundaries_a_release_publishes_are_drawn_and_bad_ones_refused() {
    let f = fixture();
    let data = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(common::tables_dir()).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, data.path().join(path.file_name().unwrap())).unwrap();
    }
    fs::create_dir(data.path().join("geo")).unwrap();
    let feature = |code: &str, lon: f64, lat: f64| {
        format!(
            r#"{{"type":"Feature","properties":{{"code":"{code}"}},"geometry":{{"type":"Polygon","coordinates":{}}}}}"#,
            square(lon, lat)
        )
    };
    let boundaries = data.path().join("geo/municipality.geojson");
    // A feature without its code is refused at build, naming the file and the feature.
    fs::write(
        &boundaries,
        format!(
            r#"{{"type":"FeatureCollection","features":[{},{}]}}"#,
            feature("AL311", 19.95, 40.70),
            feature("AL312", 19.91, 40.80).replace("\"code\"", "\"name\"")
        ),
    )
    .unwrap();
    let meta = f.dir.path().join("maps.toml");
    fs::write(
        &meta,
        common::META.replace("census-2023-first-results", "census-2023-maps"),
    )
    .unwrap();
    let err = statvault_release::build(data.path(), &meta, &f.dir.path().join("x"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("municipality.geojson") && err.contains("feature 1: no properties.code"),
        "{err}"
    );
    fs::remove_file(&meta).unwrap();
    fs::write(
        &boundaries,
        format!(
            r#"{{"type":"FeatureCollection","features":[{},{}]}}"#,
            feature("AL311", 19.95, 40.70),
            feature("AL312", 19.91, 40.80)
        ),
    )
    .unwrap();
    common::add_release_from(
        data.path(),
        f.dir.path(),
        "census-2023-maps",
        common::PUBLIC_AT,
        &f.key,
    );
    let site = f.site(Limits::default());
    let page = get(
        &site,
        "/en/releases/census-2023-maps-v1/population_municipality_sex?municipality=AL311,AL312,AL313&cols=sex",
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // The two outlined municipalities are shapes with their density; the third is a
    // circle at its seat.
    for name in ["Berat", "Kuçovë"] {
        assert!(
            page.body.contains(&format!("data-about=\"{name}: ")) && page.body.contains("/ km²"),
            "{name}: {}",
            page.body
        );
    }
    assert_eq!(page.body.matches("<circle ").count(), 1);
    // The file is in the signed bundle.
    let served = get(
        &site,
        "/releases/census-2023-maps-v1/geo/municipality.geojson",
    )
    .await;
    assert_eq!(served.status, StatusCode::OK);
}

#[tokio::test]
async fn each_languages_feed_has_its_own_ids_words_summaries_and_absolute_links() {
    // The feeds had relative links, English words in the Albanian titles, the same
    // entry ids in both languages, and no summaries.
    let f = fixture();
    let mut site = statvault_site::Site::new(f.store(), Limits::default());
    site.public_url = Some("https://stats.example".into());
    let site = std::sync::Arc::new(site);
    let sq = get(&site, "/sq/feed.atom").await.body;
    let en = get(&site, "/en/feed.atom").await.body;
    let ids = |feed: &str| -> Vec<String> {
        feed.split("<entry><id>")
            .skip(1)
            .map(|e| e[..e.find("</id>").unwrap()].to_string())
            .collect()
    };
    assert!(!ids(&sq).is_empty());
    assert!(ids(&sq).iter().all(|id| id.ends_with(":sq")), "{sq}");
    assert!(ids(&sq).iter().all(|id| !ids(&en).contains(id)));
    for word in ["postponement", "schedule", "(version "] {
        assert!(!sq.contains(word), "{word} in {sq}");
    }
    assert!(
        sq.contains("shtyrë") && sq.contains("<summary>Arsyeja: sistemet nën sulm</summary>"),
        "{sq}"
    );
    assert_eq!(sq.matches("<summary>").count(), ids(&sq).len());
    assert!(
        sq.contains(
            "<link href=\"https://stats.example/sq/releases/census-2023-first-results-v1\"/>"
        ),
        "{sq}"
    );
    assert!(!sq.contains("href=\"/"), "no relative links: {sq}");
}

#[tokio::test]
async fn a_bundle_file_is_compressed_once_and_still_checked_on_every_request() {
    // Review finding: bundle files were compressed again on every request, so any client
    // could make the site spend a core compressing a large CSV as often as it liked.
    let f = fixture();
    let site = f.site(Limits::default());
    let uri = "/releases/census-2023-first-results-v1/tables/population_municipality_sex.csv";
    let ask = || {
        get_with(
            &site,
            Request::get(uri)
                .header("accept-encoding", "br")
                .body(Body::empty())
                .unwrap(),
        )
    };
    let made = |m: &str| -> u64 {
        m.lines()
            .find_map(|l| l.strip_prefix("statvault_site_cached_answers_total{result=\"made\"} "))
            .unwrap()
            .parse()
            .unwrap()
    };
    let before = made(&metrics(&site).await);
    for _ in 0..5 {
        let r = ask().await;
        assert_eq!(
            (r.status, &r.headers["content-encoding"]),
            (StatusCode::OK, &"br".parse().unwrap())
        );
    }
    assert_eq!(made(&metrics(&site).await), before + 1, "compressed once");
    // The file changed on disk: the kept compressed copy is never served for it.
    let path = f.dir.path().join(&uri[10..]);
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str("AL,forged,,,,,1,\n");
    fs::write(&path, text).unwrap();
    assert_eq!(ask().await.status, StatusCode::NOT_FOUND);
}
