//! E-mail alerts: double opt-in, one-click unsubscribe, and a letter to every
//! subscriber when a release (or a new version of one) becomes public. The addresses
//! are the only personal data on the public side. They live in one redb file that only
//! its owner may read; no answer, log line, metric or export contains one.
//!
//! Every change is one transaction: a letter is queued in the same transaction that
//! decides it is due, and leaves the queue only once the mail server has taken it, so
//! a crash or an unreachable server delays letters but neither loses nor repeats them
//! (at most the one being handed over when the process dies).

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, WriteTransaction,
};
use serde::{Deserialize, Serialize};

use statvault_release::calendar::{CalendarRelease, Notice};
use statvault_release::tlog::EntryKind;

use crate::mail::{Letters, Mailer};
use crate::store::Catalog;

/// Lower-cased address → `Subscriber` as JSON.
const SUBSCRIBERS: TableDefinition<&str, &[u8]> = TableDefinition::new("subscribers");
/// BLAKE3 of a subscriber's token → lower-cased address. Looking a token up by its
/// hash tells an attacker timing nothing about the token.
const TOKENS: TableDefinition<&str, &str> = TableDefinition::new("tokens");
/// Bundle directory → when its letters were queued.
const ANNOUNCED: TableDefinition<&str, u64> = TableDefinition::new("announced");
/// `kind \t what \t address` → `Queued` as JSON: kind `confirm` (what `-`), `release`
/// (what: the bundle) or `notice` (what: the log index of a postponement or withdrawal).
const OUTBOX: TableDefinition<&str, &[u8]> = TableDefinition::new("outbox");
/// `baseline`: when the bundles already public were recorded without letters.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Unconfirmed addresses are forgotten after this many days (within the hour).
pub const PENDING_DAYS: u64 = 7;
/// At most this many confirmation letters to an unconfirmed address, and one per
/// `CONFIRMATION_GAP` seconds: the form cannot flood somebody's mailbox.
const MAX_CONFIRMATIONS: u32 = 3;
const CONFIRMATION_GAP: u64 = 600;
/// A letter the mail server does not take is tried again, waiting twice as long each
/// time from 30 s up to an hour, this many times (about two days) before it is dropped.
const MAX_ATTEMPTS: u32 = 50;
/// Letters sent per round, so that a large queue does not delay the next bundles.
const ROUND: usize = 500;
/// Letters handed to the mail server at once, each over its own connection: a
/// server answers each letter only after it has stored it, so one connection would
/// spend most of its time waiting.
pub const CONNECTIONS: usize = 8;

/// What went wrong with the subscriber database or a subscription.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// The database refused an operation.
    #[error("subscriber database {path}: {cause}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// Why.
        cause: redb::Error,
    },
    /// The database's file or directory could not be read or written.
    #[error("subscriber database {path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// An address that is not a valid e-mail address.
    #[error("not an e-mail address: {0}")]
    Address(String),
}

#[derive(Serialize, Deserialize)]
struct Subscriber {
    address: String,
    lang: String,
    token: String,
    created: u64,
    confirmed: Option<u64>,
    confirmations_sent: u32,
    last_confirmation: u64,
}

#[derive(Serialize, Deserialize)]
struct Queued {
    attempts: u32,
    next_try: u64,
}

/// What a token opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenState {
    /// Nobody subscribed with it, or the subscriber left.
    Unknown,
    /// A subscription awaiting its confirmation.
    Pending,
    /// A confirmed subscription.
    Confirmed,
}

/// How many subscribers and letters the database holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Subscriptions awaiting confirmation.
    pub pending: u64,
    /// Confirmed subscriptions.
    pub confirmed: u64,
    /// Letters waiting to be sent.
    pub queued: u64,
}

/// What one round of `run` did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Bundles newly public and calendar notices newly logged, whose letters were queued.
    pub announced: u64,
    /// Letters the mail server took.
    pub sent: u64,
    /// Letters it did not take.
    pub failed: u64,
}

/// The subscriber database.
pub struct Subscriptions {
    path: PathBuf,
    db: Database,
}

impl Subscriptions {
    /// Opens the database at `path`, creating it readable by its owner only. One
    /// process at a time: a second opener gets an error.
    pub fn open(path: &Path) -> Result<Subscriptions, SubscriptionError> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|cause| SubscriptionError::Io {
                path: path.to_path_buf(),
                cause,
            })?;
        let db = Database::create(path).map_err(|e| SubscriptionError::Database {
            path: path.to_path_buf(),
            cause: e.into(),
        })?;
        let subscriptions = Subscriptions {
            path: path.to_path_buf(),
            db,
        };
        subscriptions.write(|txn| {
            txn.open_table(SUBSCRIBERS)?;
            txn.open_table(TOKENS)?;
            txn.open_table(ANNOUNCED)?;
            txn.open_table(OUTBOX)?;
            txn.open_table(META)?;
            Ok(())
        })?;
        Ok(subscriptions)
    }

    fn error(&self, source: impl Into<redb::Error>) -> SubscriptionError {
        SubscriptionError::Database {
            path: self.path.clone(),
            cause: source.into(),
        }
    }

    fn read<T>(
        &self,
        look: impl FnOnce(&ReadTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, SubscriptionError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        look(&txn).map_err(|e| self.error(e))
    }

    fn write<T>(
        &self,
        change: impl FnOnce(&WriteTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, SubscriptionError> {
        let txn = self.db.begin_write().map_err(|e| self.error(e))?;
        let result = change(&txn).map_err(|e| self.error(e))?;
        txn.commit().map_err(|e| self.error(e))?;
        Ok(result)
    }

    /// Records `address` as pending and queues a confirmation letter. Says nothing
    /// about whether the address was known: the answer is the same either way.
    pub fn subscribe(&self, address: &str, lang: &str, now: u64) -> Result<(), SubscriptionError> {
        let address = parse_address(address)?;
        let key = address.to_lowercase();
        self.write(|txn| {
            let mut subscribers = txn.open_table(SUBSCRIBERS)?;
            let known: Option<Subscriber> = match subscribers.get(key.as_str())? {
                Some(v) => Some(decode(v.value())?),
                None => None,
            };
            let mut subscriber = match known {
                Some(s)
                    if s.confirmed.is_some()
                        || s.confirmations_sent >= MAX_CONFIRMATIONS
                        || now < s.last_confirmation + CONFIRMATION_GAP =>
                {
                    return Ok(());
                }
                Some(s) => s,
                None => {
                    let token = new_token();
                    txn.open_table(TOKENS)?
                        .insert(token_key(&token).as_str(), key.as_str())?;
                    Subscriber {
                        address,
                        lang: String::new(),
                        token,
                        created: now,
                        confirmed: None,
                        confirmations_sent: 0,
                        last_confirmation: 0,
                    }
                }
            };
            subscriber.lang = lang.to_string();
            subscriber.confirmations_sent += 1;
            subscriber.last_confirmation = now;
            subscribers.insert(key.as_str(), encode(&subscriber).as_slice())?;
            queue(txn, "confirm", "-", &key, now)
        })
    }

    /// What `token` opens, for the pages that show a button before anything changes
    /// (mail scanners open links; only a deliberate POST confirms or unsubscribes).
    pub fn token_state(&self, token: &str) -> Result<TokenState, SubscriptionError> {
        self.read(|txn| {
            let Some(key) = lookup(&txn.open_table(TOKENS)?, token)? else {
                return Ok(TokenState::Unknown);
            };
            Ok(match txn.open_table(SUBSCRIBERS)?.get(key.as_str())? {
                Some(v) if decode::<Subscriber>(v.value())?.confirmed.is_some() => {
                    TokenState::Confirmed
                }
                Some(_) => TokenState::Pending,
                None => TokenState::Unknown,
            })
        })
    }

    /// Confirms the subscription `token` belongs to; false for an unknown token.
    pub fn confirm(&self, token: &str, now: u64) -> Result<bool, SubscriptionError> {
        self.write(|txn| {
            let Some(key) = lookup(&txn.open_table(TOKENS)?, token)? else {
                return Ok(false);
            };
            let mut subscribers = txn.open_table(SUBSCRIBERS)?;
            let Some(found) = subscribers.get(key.as_str())? else {
                return Ok(false);
            };
            let mut subscriber: Subscriber = decode(found.value())?;
            drop(found);
            subscriber.confirmed.get_or_insert(now);
            subscribers.insert(key.as_str(), encode(&subscriber).as_slice())?;
            Ok(true)
        })
    }

    /// Deletes the subscriber `token` belongs to, and their queued letters.
    pub fn unsubscribe(&self, token: &str) -> Result<bool, SubscriptionError> {
        self.write(|txn| {
            let found = lookup(&txn.open_table(TOKENS)?, token)?;
            match found {
                Some(key) => remove(txn, &key),
                None => Ok(false),
            }
        })
    }

    /// Deletes `address` and everything about it (for an erasure request to the
    /// operator); false if it was not there.
    pub fn forget(&self, address: &str) -> Result<bool, SubscriptionError> {
        let key = address.trim().to_lowercase();
        self.write(|txn| remove(txn, &key))
    }

    /// Counts of subscribers and queued letters.
    pub fn counts(&self) -> Result<Counts, SubscriptionError> {
        self.read(|txn| {
            let mut counts = Counts {
                queued: txn.open_table(OUTBOX)?.len()?,
                ..Counts::default()
            };
            for row in txn.open_table(SUBSCRIBERS)?.iter()? {
                match decode::<Subscriber>(row?.1.value())?.confirmed {
                    Some(_) => counts.confirmed += 1,
                    None => counts.pending += 1,
                }
            }
            Ok(counts)
        })
    }

    /// Queues a letter to every confirmed subscriber for each bundle that is public and
    /// was not before, and for each new postponement or withdrawal in the calendar
    /// (which the site has checked against the signed log). What is there when the
    /// database is new is recorded without letters: subscribers hear of what happens
    /// after them.
    fn announce(&self, catalog: &Catalog, now: u64) -> Result<u64, SubscriptionError> {
        let news: Vec<News> = catalog
            .public(now)
            .map(|b| News {
                kind: "release",
                what: b.name.clone(),
                // Keyed on what the signed log says the bundle is, never on its
                // directory name; databases from before recorded the name.
                recorded: format!("release:{}@{}", b.manifest.release, b.manifest.version),
                recorded_before_as: Some(b.name.clone()),
            })
            .chain(notices(catalog).map(|(_, n)| News {
                kind: "notice",
                what: n.log_index.to_string(),
                recorded: format!("notice:{}", n.log_index),
                recorded_before_as: None,
            }))
            .collect();
        // This runs every few seconds: write (and wait for the disk) only with news.
        let quiet = self.read(|txn| {
            let baseline = txn.open_table(META)?.get("baseline")?.is_some();
            Ok(baseline && unrecorded(&txn.open_table(ANNOUNCED)?, &news)?.is_empty())
        })?;
        if quiet {
            return Ok(0);
        }
        self.write(|txn| {
            let mut meta = txn.open_table(META)?;
            let baseline = meta.get("baseline")?.is_some();
            if !baseline {
                meta.insert("baseline", now)?;
            }
            let mut announced = txn.open_table(ANNOUNCED)?;
            let fresh = unrecorded(&announced, &news)?;
            for news in &fresh {
                announced.insert(news.recorded.as_str(), now)?;
            }
            if !baseline || fresh.is_empty() {
                return Ok(0);
            }
            let mut confirmed = Vec::new();
            for row in txn.open_table(SUBSCRIBERS)?.iter()? {
                let (key, value) = row?;
                if decode::<Subscriber>(value.value())?.confirmed.is_some() {
                    confirmed.push(key.value().to_string());
                }
            }
            for news in &fresh {
                for key in &confirmed {
                    queue(txn, news.kind, &news.what, key, now)?;
                }
            }
            Ok(fresh.len() as u64)
        })
    }

    fn expire(&self, now: u64) -> Result<(), SubscriptionError> {
        self.write(|txn| {
            let mut expired = Vec::new();
            for row in txn.open_table(SUBSCRIBERS)?.iter()? {
                let (key, value) = row?;
                let s: Subscriber = decode(value.value())?;
                if s.confirmed.is_none() && now >= s.created + PENDING_DAYS * 86_400 {
                    expired.push(key.value().to_string());
                }
            }
            for key in expired {
                remove(txn, &key)?;
            }
            Ok(())
        })
    }
}

/// The e-mail alerts: the subscriber database, the letters and the mail server.
pub struct Alerts {
    /// The subscriber database.
    pub subscriptions: Subscriptions,
    /// Writes the letters.
    pub letters: Letters,
    /// Sends them.
    pub mailer: Box<dyn Mailer>,
    sent: AtomicU64,
    failed: AtomicU64,
    /// The clock hour (seconds / 3600) of the last sweep for expired addresses.
    swept: AtomicU64,
}

impl Alerts {
    /// Alerts from the database, letters and mail server given.
    pub fn new(subscriptions: Subscriptions, letters: Letters, mailer: Box<dyn Mailer>) -> Alerts {
        Alerts {
            subscriptions,
            letters,
            mailer,
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            swept: AtomicU64::new(u64::MAX),
        }
    }

    /// Letters sent and letters that failed since the process started.
    pub fn letters_sent(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    /// One round: queue letters for bundles that became public and new calendar
    /// notices, forget expired unconfirmed addresses (once an hour), and send the
    /// letters that are due. Blocks on the mail server; call it off the request path.
    pub fn run(&self, catalog: &Catalog, now: u64) -> Result<Round, SubscriptionError> {
        let announced = self.subscriptions.announce(catalog, now)?;
        // A sweep reads every subscriber: once each clock hour is enough.
        if self.swept.swap(now / 3600, Ordering::Relaxed) != now / 3600 {
            self.subscriptions.expire(now)?;
        }
        let (sent, failed) = self.deliver(catalog, now)?;
        Ok(Round {
            announced,
            sent,
            failed,
        })
    }

    /// Sends the letters that are due, over `CONNECTIONS` connections at once.
    fn deliver(&self, catalog: &Catalog, now: u64) -> Result<(u64, u64), SubscriptionError> {
        let due = self.subscriptions.read(|txn| {
            let mut due = Vec::new();
            for row in txn.open_table(OUTBOX)?.iter()? {
                let (key, value) = row?;
                let queued: Queued = decode(value.value())?;
                if queued.next_try <= now && due.len() < ROUND {
                    due.push((key.value().to_string(), queued));
                }
            }
            Ok(due)
        })?;
        let next = AtomicUsize::new(0);
        let (sent, failed) = (AtomicU64::new(0), AtomicU64::new(0));
        let worker = || -> Result<(), SubscriptionError> {
            while let Some((entry, queued)) = due.get(next.fetch_add(1, Ordering::Relaxed)) {
                match self.deliver_one(entry, queued, catalog, now)? {
                    Some(true) => sent.fetch_add(1, Ordering::Relaxed),
                    Some(false) => failed.fetch_add(1, Ordering::Relaxed),
                    None => 0,
                };
            }
            Ok(())
        };
        let outcomes: Vec<Result<(), SubscriptionError>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..CONNECTIONS.min(due.len()))
                .map(|_| scope.spawn(worker))
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        let (sent, failed) = (sent.into_inner(), failed.into_inner());
        self.sent.fetch_add(sent, Ordering::Relaxed);
        self.failed.fetch_add(failed, Ordering::Relaxed);
        outcomes.into_iter().collect::<Result<(), _>>()?;
        Ok((sent, failed))
    }

    /// Sends one queued letter and takes it off the queue, or puts it back for later
    /// if the server did not take it. `Some(sent)`, or `None` when there was nothing
    /// to send: the subscriber left or confirmed meanwhile, or the bundle went.
    fn deliver_one(
        &self,
        entry: &str,
        queued: &Queued,
        catalog: &Catalog,
        now: u64,
    ) -> Result<Option<bool>, SubscriptionError> {
        let mut parts = entry.splitn(3, '\t');
        let (kind, bundle, key) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let subscriber =
            self.subscriptions
                .read(|txn| match txn.open_table(SUBSCRIBERS)?.get(key)? {
                    Some(v) => Ok(Some(decode::<Subscriber>(v.value())?)),
                    None => Ok(None),
                })?;
        let letter = match (kind, &subscriber) {
            ("confirm", Some(s)) if s.confirmed.is_none() => {
                Some(self.letters.confirmation(&s.address, &s.lang, &s.token))
            }
            ("release", Some(s)) if s.confirmed.is_some() => catalog
                .bundle(bundle, now)
                .map(|b| self.letters.release(&s.address, &s.lang, &s.token, b)),
            ("notice", Some(s)) if s.confirmed.is_some() => notices(catalog)
                .find(|(_, n)| n.log_index.to_string() == bundle)
                .map(|(r, n)| self.letters.notice(&s.address, &s.lang, &s.token, r, n)),
            _ => None,
        };
        let outcome = letter.map(|l| self.mailer.send(&l));
        if let Some(Err(why)) = &outcome {
            let address = subscriber.as_ref().map_or("", |s| s.address.as_str());
            // The server's reply may quote the address; the log must not.
            crate::diagnostic!(
                "statvault-site: a {kind} letter ({bundle}) was not sent, attempt {}: {}",
                queued.attempts + 1,
                why.replace(address, "<subscriber>")
            );
        }
        self.subscriptions.write(|txn| {
            let mut outbox = txn.open_table(OUTBOX)?;
            match &outcome {
                Some(Err(_)) if queued.attempts + 1 < MAX_ATTEMPTS => {
                    let again = Queued {
                        attempts: queued.attempts + 1,
                        next_try: now + (30u64 << queued.attempts.min(7)).min(3600),
                    };
                    outbox.insert(entry, encode(&again).as_slice())?;
                }
                _ => {
                    outbox.remove(entry)?;
                }
            }
            Ok(())
        })?;
        Ok(outcome.map(|o| o.is_ok()))
    }
}

/// Something to announce: a public bundle or a calendar notice.
struct News {
    /// The outbox's kind: `release` or `notice`.
    kind: &'static str,
    /// The bundle, or the notice's log index.
    what: String,
    /// Its key in `announced`.
    recorded: String,
    /// The key an older version of the site recorded it under, which counts too.
    recorded_before_as: Option<String>,
}

/// The news `announced` has no record of.
fn unrecorded<'a>(
    announced: &impl ReadableTable<&'static str, u64>,
    news: &'a [News],
) -> Result<Vec<&'a News>, redb::Error> {
    let mut fresh = Vec::new();
    for item in news {
        let mut keys = std::iter::once(&item.recorded).chain(&item.recorded_before_as);
        if keys.try_fold(true, |none, k| {
            Ok::<_, redb::Error>(none && announced.get(k.as_str())?.is_none())
        })? {
            fresh.push(item);
        }
    }
    Ok(fresh)
}

/// The calendar's postponements and withdrawals, with their releases.
fn notices(catalog: &Catalog) -> impl Iterator<Item = (&CalendarRelease, &Notice)> {
    catalog
        .calendar
        .iter()
        .flat_map(|c| &c.releases)
        .flat_map(|r| {
            r.notices
                .iter()
                .filter(|n| matches!(n.kind, EntryKind::Postponement | EntryKind::Withdrawal))
                .map(move |n| (r, n))
        })
}

/// Checks and trims an address as typed into the form.
fn parse_address(typed: &str) -> Result<String, SubscriptionError> {
    let address = typed.trim();
    if address.len() > 254 {
        return Err(SubscriptionError::Address(
            "longer than 254 characters".into(),
        ));
    }
    lettre::Address::from_str(address)
        .map(|a| a.to_string())
        .map_err(|e| SubscriptionError::Address(e.to_string()))
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the operating system's random numbers");
    hex::encode(bytes)
}

fn token_key(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// The lower-cased address `token` belongs to.
fn lookup(
    tokens: &impl ReadableTable<&'static str, &'static str>,
    token: &str,
) -> Result<Option<String>, redb::Error> {
    let key = tokens.get(token_key(token).as_str())?;
    Ok(key.map(|v| v.value().to_string()))
}

fn queue(
    txn: &WriteTransaction,
    kind: &str,
    bundle: &str,
    key: &str,
    now: u64,
) -> Result<(), redb::Error> {
    let queued = Queued {
        attempts: 0,
        next_try: now,
    };
    txn.open_table(OUTBOX)?.insert(
        format!("{kind}\t{bundle}\t{key}").as_str(),
        encode(&queued).as_slice(),
    )?;
    Ok(())
}

/// Deletes a subscriber, their token and their queued letters.
fn remove(txn: &WriteTransaction, key: &str) -> Result<bool, redb::Error> {
    let subscriber: Subscriber = {
        let mut subscribers = txn.open_table(SUBSCRIBERS)?;
        let Some(removed) = subscribers.remove(key)? else {
            return Ok(false);
        };
        decode(removed.value())?
    };
    txn.open_table(TOKENS)?
        .remove(token_key(&subscriber.token).as_str())?;
    let mut outbox = txn.open_table(OUTBOX)?;
    let suffix = format!("\t{key}");
    let mut theirs = Vec::new();
    for row in outbox.iter()? {
        let entry = row?.0.value().to_string();
        if entry.ends_with(&suffix) {
            theirs.push(entry);
        }
    }
    for entry in theirs {
        outbox.remove(entry.as_str())?;
    }
    Ok(true)
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialize")
}

/// Records are only ever written by this module: one that does not parse means the
/// file was damaged or edited, and is reported as such.
fn decode<T: for<'a> Deserialize<'a>>(bytes: &[u8]) -> Result<T, redb::Error> {
    serde_json::from_slice(bytes)
        .map_err(|e| redb::Error::Corrupted(format!("a record does not parse: {e}")))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::mail::Letter;

    /// Keeps the letters it is given, or refuses them while `down`.
    #[derive(Clone, Default)]
    struct Outbox {
        letters: Arc<Mutex<Vec<Letter>>>,
        down: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Mailer for Outbox {
        fn send(&self, letter: &Letter) -> Result<(), String> {
            if self.down.load(Ordering::SeqCst) {
                return Err(format!("550 no such user <{}>", letter.to));
            }
            self.letters.lock().unwrap().push(letter.clone());
            Ok(())
        }
    }

    fn alerts(dir: &Path) -> (Alerts, Outbox) {
        let outbox = Outbox::default();
        let letters =
            Letters::new("Office <office@example.org>", "https://stats.example/").unwrap();
        let subscriptions = Subscriptions::open(&dir.join("subscribers.redb")).unwrap();
        (
            Alerts::new(subscriptions, letters, Box::new(outbox.clone())),
            outbox,
        )
    }

    fn token_of(letter: &Letter) -> String {
        let at = letter.body.find("token=").unwrap() + 6;
        letter.body[at..at + 64].to_string()
    }

    #[test]
    fn double_opt_in_then_unsubscribe() {
        let dir = tempfile::tempdir().unwrap();
        let (alerts, outbox) = alerts(dir.path());
        let s = &alerts.subscriptions;
        s.subscribe(" Ana@Example.org ", "sq", 1000).unwrap();
        assert_eq!(
            s.counts().unwrap(),
            Counts {
                pending: 1,
                confirmed: 0,
                queued: 1
            }
        );
        let round = alerts.run(&Catalog::default(), 1000).unwrap();
        assert_eq!((round.sent, round.failed), (1, 0));
        let letter = outbox.letters.lock().unwrap()[0].clone();
        assert_eq!(letter.to, "Ana@Example.org");
        assert_eq!(
            letter.subject,
            "Konfirmoni abonimin në njoftimet e publikimeve"
        );
        assert!(letter.unsubscribe.is_none());
        let token = token_of(&letter);
        assert!(letter.body.contains(&format!(
            "https://stats.example/sq/subscribe/confirm?token={token}"
        )));
        assert_eq!(s.token_state(&token).unwrap(), TokenState::Pending);
        assert_eq!(s.token_state(&"0".repeat(64)).unwrap(), TokenState::Unknown);
        assert!(!s.confirm(&"0".repeat(64), 1001).unwrap());
        assert!(s.confirm(&token, 1001).unwrap());
        assert_eq!(s.token_state(&token).unwrap(), TokenState::Confirmed);
        // Subscribing again once confirmed sends nothing and changes nothing.
        s.subscribe("ana@example.org", "en", 5000).unwrap();
        assert_eq!(
            s.counts().unwrap(),
            Counts {
                pending: 0,
                confirmed: 1,
                queued: 0
            }
        );
        assert!(s.unsubscribe(&token).unwrap());
        assert!(!s.unsubscribe(&token).unwrap());
        assert_eq!(s.token_state(&token).unwrap(), TokenState::Unknown);
        assert_eq!(s.counts().unwrap(), Counts::default());
    }

    #[test]
    fn the_form_cannot_flood_a_mailbox() {
        let dir = tempfile::tempdir().unwrap();
        let (alerts, outbox) = alerts(dir.path());
        for minute in 0..100 {
            alerts
                .subscriptions
                .subscribe("victim@example.org", "en", minute * 60)
                .unwrap();
            alerts.run(&Catalog::default(), minute * 60).unwrap();
        }
        // One every ten minutes, three at most, all with the same token.
        let letters = outbox.letters.lock().unwrap();
        assert_eq!(letters.len(), MAX_CONFIRMATIONS as usize);
        assert!(letters.iter().all(|l| token_of(l) == token_of(&letters[0])));
    }

    #[test]
    fn bad_addresses_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (alerts, _) = alerts(dir.path());
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.org",
            "a b@example.org",
            &format!("{}@example.org", "a".repeat(250)),
        ] {
            assert!(
                matches!(
                    alerts.subscriptions.subscribe(bad, "en", 0),
                    Err(SubscriptionError::Address(_))
                ),
                "{bad:?}"
            );
        }
        assert_eq!(alerts.subscriptions.counts().unwrap(), Counts::default());
    }

    proptest::proptest! {
        /// Whatever is typed into the form, the answer is an address as typed (trimmed)
        /// or an `Address` error, never a panic.
        #[test]
        fn any_typed_address_is_taken_as_typed_or_refused(typed in "\\PC{0,80}|[a-zA-Z0-9.+_-]{1,20}@[a-z0-9.-]{1,20}") {
            match parse_address(&typed) {
                Ok(address) => {
                    proptest::prop_assert_eq!(address.as_str(), typed.trim());
                    proptest::prop_assert!(address.contains('@') && address.len() <= 254);
                }
                Err(e) => proptest::prop_assert!(matches!(e, SubscriptionError::Address(_))),
            }
        }
    }

    #[test]
    fn unconfirmed_addresses_expire_and_forget_erases() {
        let dir = tempfile::tempdir().unwrap();
        let (alerts, _) = alerts(dir.path());
        let s = &alerts.subscriptions;
        s.subscribe("late@example.org", "en", 0).unwrap();
        s.subscribe("kept@example.org", "en", 0).unwrap();
        alerts
            .run(&Catalog::default(), PENDING_DAYS * 86_400 - 1)
            .unwrap();
        assert_eq!(s.counts().unwrap().pending, 2);
        alerts
            .run(&Catalog::default(), PENDING_DAYS * 86_400)
            .unwrap();
        assert_eq!(s.counts().unwrap(), Counts::default());
        s.subscribe("gone@example.org", "en", 0).unwrap();
        assert!(s.forget("GONE@example.org").unwrap());
        assert!(!s.forget("gone@example.org").unwrap());
        assert_eq!(s.counts().unwrap(), Counts::default());
    }

    #[test]
    fn a_refused_letter_is_tried_again_later() {
        let dir = tempfile::tempdir().unwrap();
        let (alerts, outbox) = alerts(dir.path());
        outbox.down.store(true, Ordering::SeqCst);
        alerts
            .subscriptions
            .subscribe("ana@example.org", "en", 0)
            .unwrap();
        assert_eq!(alerts.run(&Catalog::default(), 0).unwrap().failed, 1);
        // Not due again for 30 s, then tried again.
        outbox.down.store(false, Ordering::SeqCst);
        assert_eq!(alerts.run(&Catalog::default(), 29).unwrap().sent, 0);
        assert_eq!(alerts.run(&Catalog::default(), 30).unwrap().sent, 1);
        assert_eq!(alerts.letters_sent(), (1, 1));
        assert_eq!(alerts.subscriptions.counts().unwrap().queued, 0);
    }

    #[test]
    fn the_database_is_private_and_single_process() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (alerts, _) = alerts(dir.path());
        let path = dir.path().join("subscribers.redb");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(Subscriptions::open(&path).is_err());
        drop(alerts);
        assert!(Subscriptions::open(&path).is_ok());
    }
}
