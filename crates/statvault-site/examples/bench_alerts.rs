//! For `scripts/bench-alerts`: N confirmed subscribers, one release becoming public,
//! and the time the alerts take to hand its N letters to the SMTP server. Prints one
//! JSON line.
//!
//!     bench_alerts RELEASES_DIR SMTP_URL N

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use statvault_site::mail::{Letter, Letters, Mailer, Smtp};
use statvault_site::store::Store;
use statvault_site::subscriptions::{Alerts, Subscriptions};

/// Keeps the confirmation letters (to read their tokens), then, once `live`, sends.
struct Switch {
    smtp: Smtp,
    caught: Arc<Mutex<Vec<Letter>>>,
    live: Arc<AtomicBool>,
}

impl Mailer for Switch {
    fn send(&self, letter: &Letter) -> Result<(), String> {
        if self.live.load(Ordering::SeqCst) {
            return self.smtp.send(letter);
        }
        self.caught.lock().unwrap().push(letter.clone());
        Ok(())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, releases, smtp_url, n] = &args[..] else {
        panic!("usage: bench_alerts RELEASES_DIR SMTP_URL N");
    };
    let n: usize = n.parse().expect("N is a number");
    let clock = Arc::new(AtomicU64::new(0));
    let now = clock.clone();
    let store = Store::with_clock(
        Path::new(releases),
        None,
        Box::new(move || now.load(Ordering::SeqCst)),
    );
    let catalog = store.catalog();
    let release = catalog
        .bundles
        .first()
        .expect("a verified bundle")
        .release_secs;

    let dir = tempfile::tempdir().unwrap();
    let letters = Letters::new("Office <office@example.org>", "https://stats.example").unwrap();
    let (caught, live) = (Arc::default(), Arc::new(AtomicBool::new(false)));
    let mailer = Switch {
        smtp: Smtp::connect(smtp_url, None, letters.from.clone()).unwrap(),
        caught: Arc::clone(&caught),
        live: live.clone(),
    };
    let subscriptions = Subscriptions::open(&dir.path().join("subscribers.redb")).unwrap();
    let alerts = Alerts::new(subscriptions, letters, Box::new(mailer));

    // Before the release: N subscribe and confirm.
    let before = release - 100;
    for i in 0..n {
        let address = format!("reader{i}@example.org");
        alerts
            .subscriptions
            .subscribe(&address, "en", before)
            .unwrap();
    }
    while alerts.subscriptions.counts().unwrap().queued > 0 {
        alerts.run(&catalog, before).unwrap();
    }
    for letter in caught.lock().unwrap().iter() {
        let at = letter.body.find("token=").unwrap() + 6;
        assert!(alerts
            .subscriptions
            .confirm(&letter.body[at..at + 64], before)
            .unwrap());
    }

    // The release becomes public: N letters through the SMTP server.
    live.store(true, Ordering::SeqCst);
    let after = release + 1;
    let started = Instant::now();
    let mut sent = 0;
    loop {
        let round = alerts.run(&catalog, after).unwrap();
        assert_eq!(round.failed, 0, "the SMTP server refused letters");
        sent += round.sent;
        if alerts.subscriptions.counts().unwrap().queued == 0 {
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"letters": sent, "seconds": seconds, "per_second": sent as f64 / seconds})
    );
}
