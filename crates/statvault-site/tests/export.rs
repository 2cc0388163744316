//! `site export` served by a real nginx (Debian package, installed by scripts/test)
//! with the configuration in examples/nginx: every address answers with the same bytes
//! as the live site.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use common::{fixture, get};
use statvault_site::export::export;
use statvault_site::Limits;

/// nginx in the foreground on a free loopback port, serving `root`.
struct Nginx {
    child: Child,
    port: u16,
}

impl Nginx {
    fn start(root: &Path, work: &Path) -> Nginx {
        let port = common::free_port();
        let site = fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/nginx/statvault-site.conf"),
        )
        .unwrap()
        .replace("LISTEN", &format!("127.0.0.1:{port}"))
        .replace("ROOT", &root.display().to_string());
        let conf = work.join("nginx.conf");
        fs::write(
            &conf,
            format!(
                "load_module /usr/lib/nginx/modules/ngx_http_brotli_filter_module.so;\n\
                 daemon off; master_process off; worker_processes 1; user root;\n\
                 error_log {w}/error.log; pid {w}/nginx.pid;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{ access_log off; client_body_temp_path {w}; proxy_temp_path {w}; fastcgi_temp_path {w}; uwsgi_temp_path {w}; scgi_temp_path {w};\n{site}\n}}\n",
                w = work.display()
            ),
        )
        .unwrap();
        let child = Command::new("nginx")
            .args([
                "-p",
                &work.display().to_string(),
                "-c",
                &conf.display().to_string(),
            ])
            .spawn()
            .expect("nginx is installed by scripts/test (Debian package nginx)");
        let nginx = Nginx { child, port };
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return nginx;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "nginx did not start: {}",
            fs::read_to_string(work.join("error.log")).unwrap_or_default()
        );
    }

    /// Status, content type and body of `GET address`.
    fn get(&self, address: &str) -> (u16, String, Vec<u8>) {
        let (status, head, body) = self.get_with_head(address);
        (status, header(&head, "content-type"), body)
    }

    /// Status, the header lines (lower-cased) and body of `GET address`.
    fn get_with_head(&self, address: &str) -> (u16, String, Vec<u8>) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(stream, "GET {address} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        let status = head[9..12].parse().unwrap();
        (status, head, raw[split + 4..].to_vec())
    }
}

/// The value of header `name` (lower-case) in `head`, or empty.
fn header(head: &str, name: &str) -> String {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
        .unwrap_or_default()
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn nginx_serves_the_export_byte_for_byte() {
    let f = fixture();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("export");
    assert!(
        export(f.site(Limits::default()), &out).await.is_err(),
        "a live site's pages offer selections a static copy cannot answer"
    );
    let mut site = statvault_site::Site::new(f.store(), Limits::default());
    site.static_copy = true;
    let site = std::sync::Arc::new(site);
    let report = export(site.clone(), &out).await.unwrap();
    assert_eq!(report.bundles, 1, "the embargoed release is not exported");
    assert!(!out.join("releases/census-2023-housing-v1").exists());
    assert!(
        export(site.clone(), &out).await.is_err(),
        "never over an existing export"
    );

    let nginx = Nginx::start(&out, work.path());
    let release = "census-2023-first-results";
    for (address, content_type) in [
        ("/en/", "text/html"),
        ("/sq/calendar", "text/html"),
        ("/en/authenticity", "text/html"),
        ("/en/releases/census-2023-first-results-v1", "text/html"),
        (
            "/sq/releases/census-2023-first-results-v1/population_municipality_sex",
            "text/html",
        ),
        ("/en/feed.atom", "application/atom+xml"),
        ("/assets/site.css", "text/css"),
        ("/calendar.ics", "text/calendar"),
        ("/log/checkpoint", "text/plain"),
        ("/api/v1/releases", "application/json"),
        ("/api/v1/openapi.json", "application/json"),
        (&format!("/api/v1/releases/{release}"), "application/json"),
        (
            &format!("/api/v1/releases/{release}/tables/population_municipality_sex"),
            "application/json",
        ),
        (
            &format!("/api/v1/releases/{release}/tables/population_municipality_sex/data"),
            "application/json",
        ),
        (
            "/releases/census-2023-first-results-v1/manifest.json.minisig",
            "text/plain",
        ),
        (
            "/releases/census-2023-first-results-v1/tables/population_county_sex_age5.xlsx",
            "application/vnd.openxmlformats",
        ),
    ] {
        let (status, served_type, body) = nginx.get(address);
        assert_eq!(status, 200, "{address}");
        assert!(
            served_type.starts_with(content_type),
            "{address}: {served_type}"
        );
        let live = get(&site, address).await;
        assert_eq!(String::from_utf8_lossy(&body), live.body, "{address}");
    }
    assert_eq!(
        nginx
            .get("/releases/census-2023-housing-v1/manifest.json")
            .0,
        404
    );
    // Regression (the nginx example drops the security headers under /releases/): a
    // location's own add_header hides the server's, so each location repeats them.
    for address in [
        "/en/",
        "/releases/census-2023-first-results-v1/manifest.json.minisig",
    ] {
        let (_, head, _) = nginx.get_with_head(address);
        for name in [
            "content-security-policy",
            "x-content-type-options",
            "x-frame-options",
            "referrer-policy",
        ] {
            assert!(!header(&head, name).is_empty(), "{address}: no {name}");
        }
    }
    // Text is compressed as the client takes it, as the live site does; the bytes
    // decoded are the file's.
    for (accept, encoding) in [("br", "br"), ("gzip", "gzip")] {
        let address =
            "/releases/census-2023-first-results-v1/tables/population_municipality_sex.csv";
        let fetched = Command::new("curl")
            .args([
                "-sS",
                "-D",
                "-",
                "-H",
                &format!("Accept-Encoding: {accept}"),
            ])
            .arg(format!("http://127.0.0.1:{}{address}", nginx.port))
            .output()
            .expect("curl is installed by scripts/test");
        let raw = fetched.stdout;
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        assert_eq!(header(&head, "content-encoding").trim(), encoding, "{head}");
        let packed = &raw[split + 4..];
        let mut plain = Vec::new();
        if encoding == "br" {
            brotli::BrotliDecompress(&mut &packed[..], &mut plain).unwrap();
        } else {
            flate2::read::GzDecoder::new(packed)
                .read_to_end(&mut plain)
                .unwrap();
        }
        assert_eq!(plain, fs::read(out.join(&address[1..])).unwrap());
        assert!(packed.len() * 3 < plain.len());
    }
    // The static copy never lies: a table address that asks for a selection gets a page
    // that says how it answers it (below, in a browser), every download link is a file in
    // the format it names, and the API refuses a selection rather than answer another.
    let (status, _, page) = nginx.get(
        "/en/releases/census-2023-first-results-v1/population_municipality_sex?municipality=AL311",
    );
    let page = String::from_utf8_lossy(&page).into_owned();
    assert_eq!(status, 200);
    assert!(
        page.contains("static copy of the site: without JavaScript each table is shown whole"),
        "{page}"
    );
    let mut downloads = 0;
    for (name, content_type) in [
        ("CSV", "text/csv"),
        ("XLSX", "application/vnd.openxmlformats"),
        ("PX", "text/plain"),
    ] {
        let link = page
            .split("<a href=\"")
            .filter_map(|a| a.split_once("\">"))
            .find(|(_, text)| text.starts_with(&format!("{name}<")))
            .map(|(href, _)| href.replace("&amp;", "&"))
            .unwrap_or_else(|| panic!("no {name} link: {page}"));
        let (status, served_type, _) = nginx.get(&link);
        assert_eq!(status, 200, "{link}");
        assert!(
            served_type.starts_with(content_type),
            "{link}: {served_type}"
        );
        downloads += 1;
    }
    assert_eq!(downloads, 3);
    let (status, served_type, _) = nginx.get(
        "/api/v1/releases/census-2023-first-results/tables/population_municipality_sex/data?format=xlsx",
    );
    assert_eq!(status, 400);
    assert!(served_type.starts_with("application/json"), "{served_type}");
    // The selections a reader makes on the live site, made on the static copy by the
    // page's script, in a real Chromium.
    let run = Command::new(common::venv_tool("python"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/static_selection.py"))
        .arg(format!("http://127.0.0.1:{}", nginx.port))
        .output()
        .expect("running the browser");
    let report = common::succeeded(&run);
    for step in [
        "two municipalities by address",
        "a county's municipalities by the form, sorted",
        "a level, in Albanian",
        "a selection that cannot be made",
    ] {
        assert!(report.contains(&format!("{step}: ok")), "{report}");
    }
    let (status, _, body) = nginx.get("/");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("url=/sq/"));
}
