//! E-mail alerts through a real SMTP server on loopback (aiosmtpd from PyPI, writing
//! a Maildir): double opt-in from the site's form, a letter in each subscriber's
//! language when a release becomes public, one-click unsubscribe (RFC 8058), letters
//! kept while the server is down, and no address in anything the site serves.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use common::{add_release, fixture, get, get_with, metrics, with_server, Mailed, LATER_AT};
use statvault_release::meta::parse_utc;
use statvault_site::subscriptions::Round;
use statvault_site::Site;

fn token_in(text: &str) -> String {
    let at = text.find("token=").expect("a link with a token") + 6;
    text[at..at + 64].to_string()
}

async fn post(site: &Arc<Site>, uri: &str, form: &str) -> common::Got {
    let request = Request::post(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .unwrap();
    get_with(site, request).await
}

async fn run(site: &Arc<Site>) -> Round {
    let site = site.clone();
    tokio::task::spawn_blocking(move || {
        site.store.refresh();
        let alerts = site.alerts.as_ref().unwrap();
        alerts.run(&site.store.catalog(), site.store.now()).unwrap()
    })
    .await
    .unwrap()
}

/// `serve` sends what is due by itself: a form posted over a real socket brings a
/// confirmation letter within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_site_sends_letters_by_itself() {
    let f = fixture();
    let mail = Mailed::new(&f);
    let site = mail.site.clone();
    let letters = with_server(site, move |addr| {
        let page = ureq::post(&format!("http://{addr}/sq/subscribe"))
            .send_form([("email", "drita@example.al")])
            .unwrap()
            .into_body()
            .read_to_string()
            .unwrap();
        assert!(
            page.contains("lidhje konfirmimi"),
            "followed to the sent page: {page}"
        );
        let started = Instant::now();
        loop {
            let letters = mail.arrived();
            if !letters.is_empty() || started.elapsed() > Duration::from_secs(20) {
                return letters;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
    .await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["To"], "drita@example.al");
    assert!(letters[0]["body"]
        .as_str()
        .unwrap()
        .contains("https://stats.example/sq/subscribe/confirm?token="));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_confirm_hear_of_releases_and_leave_in_one_click() {
    let f = fixture();
    let mut mail = Mailed::new(&f);
    let site = mail.site.clone();

    // The release already public when alerts start is recorded, not announced.
    assert_eq!(run(&site).await, Round::default());
    let home = get(&site, "/en/").await;
    assert!(home.body.contains("href=\"/en/subscribe\""));
    let form = get(&site, "/sq/subscribe").await;
    assert_eq!(form.status, 200);
    assert!(form
        .body
        .contains("<form class=\"alerts\" method=\"post\" action=\"/sq/subscribe\""));
    assert_eq!(form.headers["cache-control"], "no-store");

    // Bad input: a clear answer, nothing stored.
    let bad = post(&site, "/en/subscribe", "email=not-an-address").await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("That is not an e-mail address"),
        "{}",
        bad.body
    );
    let bad = post(&site, "/sq/subscribe", "email=%ZZ").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("Kjo nuk është një adresë e-maili"));
    let huge = post(
        &site,
        "/en/subscribe",
        &format!("email={}", "a".repeat(10_000)),
    )
    .await;
    assert_eq!(huge.status, 413);
    assert_eq!(
        get_with(
            &site,
            Request::put("/en/subscribe").body(Body::empty()).unwrap()
        )
        .await
        .status,
        405
    );
    assert_eq!(
        post(&site, "/en/calendar", "").await.status,
        405,
        "nothing else takes a POST"
    );
    // One client may post 10 forms an hour: the form cannot be used to send many
    // confirmation letters, even to different addresses.
    let client: std::net::SocketAddr = "192.0.2.9:4444".parse().unwrap();
    let from_client = |n: usize| {
        let mut request = Request::post("/en/subscribe")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!("email=not-an-address-{n}")))
            .unwrap();
        request.extensions_mut().insert(ConnectInfo(client));
        request
    };
    for n in 0..10 {
        assert_eq!(get_with(&site, from_client(n)).await.status, 400);
    }
    let limited = get_with(&site, from_client(10)).await;
    assert_eq!(limited.status, 429);
    assert!(
        limited
            .body
            .contains("more than 10 subscription forms an hour"),
        "{}",
        limited.body
    );
    assert_eq!(limited.headers["retry-after"], "360");

    // Two subscribers: English (with a + in the address) and Albanian.
    for (lang, address) in [
        ("en", "ana.hoxha%2Bstats@example.org"),
        ("sq", "besa@example.al"),
    ] {
        let sent = post(
            &site,
            &format!("/{lang}/subscribe"),
            &format!("email={address}"),
        )
        .await;
        assert_eq!(sent.status, 303);
        assert_eq!(sent.headers["location"], format!("/{lang}/subscribe/sent"));
        assert!(get(&site, &format!("/{lang}/subscribe/sent"))
            .await
            .status
            .is_success());
    }
    assert_eq!(run(&site).await.sent, 2);
    let mut confirmations = mail.arrived();
    confirmations.sort_by_key(|m| m["To"].as_str().unwrap().to_string());
    assert_eq!(confirmations.len(), 2);
    assert_eq!(confirmations[0]["To"], "ana.hoxha+stats@example.org");
    assert_eq!(
        confirmations[0]["Subject"],
        "Confirm your subscription to release alerts"
    );
    assert_eq!(
        confirmations[0]["From"],
        "Statistics office <releases@office.example>"
    );
    assert_eq!(confirmations[0]["Auto-Submitted"], "auto-generated");
    assert!(confirmations[0]["Message-ID"].is_string());
    assert_eq!(
        confirmations[1]["Subject"],
        "Konfirmoni abonimin në njoftimet e publikimeve"
    );
    for (confirmation, lang) in confirmations.iter().zip(["en", "sq"]) {
        let body = confirmation["body"].as_str().unwrap();
        let token = token_in(body);
        let link = format!("https://stats.example/{lang}/subscribe/confirm?token={token}");
        assert!(body.contains(&link), "{body}");
        let path = &link["https://stats.example".len()..];
        // Opening the link (as a mail scanner would) only shows the button.
        let page = get(&site, path).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains(&format!(
            "<form method=\"post\" action=\"{}\"",
            path.replace('&', "&amp;")
        )));
        let done = post(&site, path, "").await;
        assert_eq!(done.status, 200);
        assert!(get(&site, path).await.body.contains(if lang == "en" {
            "Subscription confirmed"
        } else {
            "Abonimi u konfirmua"
        }));
    }
    assert_eq!(
        get(&site, "/en/subscribe/confirm?token=00").await.status,
        404
    );
    assert_eq!(
        post(
            &site,
            &format!("/en/subscribe/confirm?token={}", "0".repeat(64)),
            ""
        )
        .await
        .status,
        404
    );

    // Nothing the site serves contains an address.
    for path in [
        "/en/",
        "/sq/",
        "/en/feed.atom",
        "/en/calendar",
        "/api/v1/releases",
        "/en/subscribe",
        "/en/subscribe/sent",
        "/log/entries.jsonl",
    ] {
        let body = get(&site, path).await.body;
        assert!(
            !body.contains("example.org") && !body.contains("example.al"),
            "{path}"
        );
    }
    let metrics = metrics(&site).await;
    assert!(
        metrics.contains("statvault_site_subscribers{state=\"confirmed\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("statvault_site_letters_total{result=\"sent\"} 2"),
        "{metrics}"
    );
    assert!(!metrics.contains("example"));

    // The embargoed release becomes public: one letter each, in their language, once.
    f.clock
        .store(parse_utc(LATER_AT).unwrap(), Ordering::SeqCst);
    let round = run(&site).await;
    assert_eq!((round.announced, round.sent, round.failed), (1, 2, 0));
    assert_eq!(run(&site).await, Round::default(), "nothing twice");
    let mut news = mail.arrived();
    news.sort_by_key(|m| m["To"].as_str().unwrap().to_string());
    assert_eq!(news.len(), 2);
    let english = &news[0];
    assert_eq!(
        english["Subject"],
        "New release: Population and Housing Census 2023 — first results"
    );
    let body = english["body"].as_str().unwrap();
    assert!(
        body.contains("https://stats.example/en/releases/census-2023-housing-v1\n"),
        "{body}"
    );
    assert!(
        body.contains(
            "https://stats.example/en/releases/census-2023-housing-v1/population_municipality_sex"
        ),
        "{body}"
    );
    assert!(body.contains("https://stats.example/en/authenticity"));
    let unsubscribe = english["List-Unsubscribe"].as_str().unwrap();
    let token = token_in(unsubscribe);
    assert_eq!(
        unsubscribe,
        format!("<https://stats.example/en/unsubscribe?token={token}>")
    );
    assert_eq!(
        english["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );
    assert!(body.contains(&unsubscribe[1..unsubscribe.len() - 1]));
    assert!(news[1]["Subject"]
        .as_str()
        .unwrap()
        .starts_with("Publikim i ri: "));

    // A postponement, logged by the office: a letter each, with the reason and new time.
    statvault_release::calendar::change(
        f.dir.path(),
        "census-2023-migration",
        statvault_release::calendar::Change::Postpone {
            reason: "the office's network is being rebuilt",
            reasons: Default::default(),
            new_time: "2027-09-01T10:00:00Z",
        },
        &f.key,
    )
    .unwrap();
    let round = run(&site).await;
    assert_eq!((round.announced, round.sent), (1, 2));
    let mut postponed = mail.arrived();
    postponed.sort_by_key(|m| m["To"].as_str().unwrap().to_string());
    assert_eq!(postponed[0]["Subject"], "Postponed: Migration");
    assert_eq!(postponed[1]["Subject"], "Shtyhet: Migracioni");
    let body = postponed[0]["body"].as_str().unwrap();
    assert!(
        body.contains("New release time: 2027-09-01T10:00:00Z (UTC)"),
        "{body}"
    );
    assert!(
        body.contains("Reason: the office's network is being rebuilt"),
        "{body}"
    );
    assert!(body.contains("https://stats.example/en/calendar"));
    assert!(postponed[0]["List-Unsubscribe"].is_string());

    // One click, as a mail client does it (RFC 8058).
    let path = format!("/en/unsubscribe?token={token}");
    assert!(get(&site, &path)
        .await
        .body
        .contains("<form method=\"post\""));
    let gone = post(&site, &path, "List-Unsubscribe=One-Click").await;
    assert_eq!(gone.status, 200);
    assert!(gone.body.contains("You are unsubscribed"));
    assert_eq!(
        post(&site, &path, "List-Unsubscribe=One-Click")
            .await
            .status,
        200,
        "again: same answer"
    );
    assert_eq!(get(&site, &path).await.status, 404);

    // The mail server is down when the next release comes out: the letter waits.
    mail.set_server_up(false);
    let next = parse_utc(LATER_AT).unwrap() + 3600;
    add_release(
        f.dir.path(),
        "census-2023-households",
        &statvault_release::meta::utc_time(next),
        &f.key,
    );
    f.clock.store(next, Ordering::SeqCst);
    let round = run(&site).await;
    assert_eq!((round.announced, round.sent, round.failed), (1, 0, 1));
    mail.set_server_up(true);
    assert_eq!(run(&site).await.sent, 0, "not before it is due again");
    f.clock.store(next + 30, Ordering::SeqCst);
    assert_eq!(run(&site).await.sent, 1);
    let last = mail.arrived();
    assert_eq!(last.len(), 1, "only the subscriber who stayed");
    assert_eq!(last[0]["To"], "besa@example.al");
}
