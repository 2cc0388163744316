//! The letters of the e-mail alerts, in the subscriber's language, and the SMTP server
//! that carries them (lettre). A `Mailer` is anything that can send a letter, so the
//! subscription logic is tested against the real server and, in unit tests, a list.

use std::fmt::Write as _;
use std::str::FromStr;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::PoolConfig;
use lettre::{Message, SmtpTransport, Transport};
use zeroize::Zeroizing;

use statvault_release::calendar::{CalendarRelease, Notice};
use statvault_release::tlog::EntryKind;

use crate::pages::{t, text};
use crate::store::Bundle;

/// One e-mail, ready to send.
#[derive(Clone, Debug)]
pub struct Letter {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
    /// The one-click unsubscribe address (RFC 8058), on every alert.
    pub unsubscribe: Option<String>,
}

/// Where letters go: an SMTP server, or a list in tests.
pub trait Mailer: Send + Sync {
    /// Hands the letter to the mail system; the error says why it did not take it.
    fn send(&self, letter: &Letter) -> Result<(), String>;
}

/// Writes the letters: who they come from and the site's public address for links.
pub struct Letters {
    /// The sender.
    pub from: Mailbox,
    /// `https://www.example.al`, without a trailing slash.
    pub base_url: String,
}

impl Letters {
    /// Letters from `from` (an address, optionally with a name) with links under
    /// `base_url`.
    pub fn new(from: &str, base_url: &str) -> Result<Letters, String> {
        let from = Mailbox::from_str(from)
            .map_err(|e| format!("--mail-from {from:?} is not an address: {e}"))?;
        let base_url = base_url.trim_end_matches('/');
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(format!(
                "--public-url {base_url:?} must start with http:// or https://"
            ));
        }
        Ok(Letters {
            from,
            base_url: base_url.to_string(),
        })
    }

    /// Asks the owner of `to` to confirm (double opt-in).
    pub fn confirmation(&self, to: &str, lang: &str, token: &str) -> Letter {
        let link = format!("{}/{lang}/subscribe/confirm?token={token}", self.base_url);
        let body = if lang == "sq" {
            format!(
                "Dikush, shpresojmë ju, kërkoi të marrë një e-mail sa herë që {site} publikon \
një publikim të ri.\n\nPër ta konfirmuar, hapni:\n{link}\n\nNëse nuk ishit ju, injorojeni \
këtë mesazh: adresa harrohet pas {PENDING_DAYS} ditësh.\n",
                site = t(lang, "site"),
                PENDING_DAYS = crate::subscriptions::PENDING_DAYS,
            )
        } else {
            format!(
                "Someone, hopefully you, asked to receive an e-mail whenever {site} publishes \
a release.\n\nTo confirm, open:\n{link}\n\nIf it was not you, ignore this message: the \
address is forgotten after {PENDING_DAYS} days.\n",
                site = t(lang, "site"),
                PENDING_DAYS = crate::subscriptions::PENDING_DAYS,
            )
        };
        Letter {
            to: to.to_string(),
            subject: t(lang, "confirm_subject").to_string(),
            body,
            unsubscribe: None,
        }
    }

    /// Announces a release (or a new version of one) that has just become public.
    pub fn release(&self, to: &str, lang: &str, token: &str, bundle: &Bundle) -> Letter {
        let base = &self.base_url;
        let title = text(&bundle.manifest.title, lang);
        let version = bundle.manifest.version;
        let subject = if version == 1 {
            format!("{}: {title}", t(lang, "new_release"))
        } else {
            format!(
                "{}: {title} ({} {version})",
                t(lang, "revised_release"),
                t(lang, "version")
            )
        };
        let mut body = format!(
            "{title}\n{} {} (UTC) · {} {version} · {}: {}\n\n{base}/{lang}/releases/{name}\n\n",
            t(lang, "released"),
            bundle.manifest.release_time,
            t(lang, "version"),
            t(lang, "period"),
            bundle.meta.reference_period,
            name = bundle.name,
        );
        for table in &bundle.tables {
            let _ = writeln!(
                body,
                "- {}\n  {base}/{lang}/releases/{}/{}",
                text(&table.title, lang),
                bundle.name,
                table.id
            );
        }
        let _ = write!(
            body,
            "\n{} {}{}.",
            t(lang, "signed_by"),
            bundle.key_id,
            bundle
                .log_index
                .map(|i| format!(", {} {i}", t(lang, "log_entry")))
                .unwrap_or_default(),
        );
        self.alert(to, lang, token, subject, body)
    }

    /// An alert: `body` (ending with where it is recorded), then how to check it and
    /// the unsubscribe link, which is also in the headers.
    fn alert(&self, to: &str, lang: &str, token: &str, subject: String, body: String) -> Letter {
        let base = &self.base_url;
        let unsubscribe = format!("{base}/{lang}/unsubscribe?token={token}");
        let body = format!(
            "{body} {}: {base}/{lang}/authenticity\n\n{}:\n{unsubscribe}\n",
            t(lang, "check_yourself"),
            t(lang, "unsubscribe_line"),
        );
        Letter {
            to: to.to_string(),
            subject,
            body,
            unsubscribe: Some(unsubscribe),
        }
    }

    /// Tells of a postponement or a withdrawal, with its reason.
    pub fn notice(
        &self,
        to: &str,
        lang: &str,
        token: &str,
        release: &CalendarRelease,
        notice: &Notice,
    ) -> Letter {
        let base = &self.base_url;
        let title = text(&release.title, lang);
        let postponed = notice.kind == EntryKind::Postponement;
        let subject = format!(
            "{}: {title}",
            t(
                lang,
                if postponed {
                    "postponed_subject"
                } else {
                    "withdrawn_subject"
                }
            )
        );
        let mut body = format!("{title}\n");
        if postponed {
            let _ = writeln!(
                body,
                "{}: {} (UTC)",
                t(lang, "new_time"),
                notice.release_time
            );
        }
        let _ = write!(
            body,
            "{}: {}\n\n{base}/{lang}/calendar\n\n{} {}.",
            t(lang, "reason"),
            crate::pages::reason_in(lang, notice),
            t(lang, "log_entry_of"),
            notice.log_index,
        );
        self.alert(to, lang, token, subject, body)
    }
}

/// An SMTP server, reached by URL: `smtp://host:25` (no TLS, for a relay on the same
/// host), `smtp://host:587?tls=required` (STARTTLS) or `smtps://host:465`; a user
/// name in the URL logs in with the password from the environment.
pub struct Smtp {
    transport: SmtpTransport,
    from: Mailbox,
}

impl Smtp {
    /// An SMTP client for `url` (`smtp://`, `smtps://`, with an optional user); the
    /// password comes apart from the URL, never inside it.
    pub fn connect(
        url: &str,
        password: Option<Zeroizing<String>>,
        from: Mailbox,
    ) -> Result<Smtp, String> {
        let authority = url.split_once("://").map_or(url, |(_, rest)| rest);
        let user = authority.split_once('@').map(|(user, _)| user);
        if user.is_some_and(|u| u.contains(':')) {
            return Err(
                "put the SMTP password in STATVAULT_SMTP_PASSWORD, not in the URL".to_string(),
            );
        }
        let mut builder = SmtpTransport::from_url(url).map_err(|e| format!("--smtp {url}: {e}"))?;
        if let Some(password) = password {
            let user =
                user.ok_or("STATVAULT_SMTP_PASSWORD is set but the --smtp URL names no user")?;
            builder = builder.credentials(Credentials::new(user.to_string(), password.to_string()));
        }
        let pool = PoolConfig::new().max_size(crate::subscriptions::CONNECTIONS as u32);
        Ok(Smtp {
            transport: builder.pool_config(pool).build(),
            from,
        })
    }
}

impl Mailer for Smtp {
    fn send(&self, letter: &Letter) -> Result<(), String> {
        let to = Mailbox::from_str(&letter.to).map_err(|e| e.to_string())?;
        let mut message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&letter.subject)
            .message_id(None)
            .header(ContentType::TEXT_PLAIN)
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".into(),
            ));
        if let Some(link) = &letter.unsubscribe {
            message = message
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{link}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".into(),
                ));
        }
        let message = message
            .body(letter.body.clone())
            .map_err(|e| e.to_string())?;
        self.transport
            .send(&message)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(url: &str, password: Option<&str>) -> Result<Smtp, String> {
        let from = Mailbox::from_str("Office <office@example.org>").unwrap();
        Smtp::connect(url, password.map(|p| Zeroizing::new(p.to_string())), from)
    }

    #[test]
    fn smtp_urls_and_where_the_password_comes_from() {
        assert!(connect("smtp://127.0.0.1:2525", None).is_ok());
        assert!(connect("smtp://office@mail.example:587?tls=required", Some("pw")).is_ok());
        assert!(connect("smtps://office@mail.example", Some("pw")).is_ok());
        let in_url = connect("smtp://office:pw@mail.example", None)
            .err()
            .unwrap();
        assert!(in_url.contains("STATVAULT_SMTP_PASSWORD") && !in_url.contains("pw@"));
        assert!(connect("smtp://mail.example", Some("pw"))
            .err()
            .unwrap()
            .contains("no user"));
        assert!(connect("imap://mail.example", None).is_err());
    }

    #[test]
    fn public_url_and_sender_are_checked() {
        assert!(Letters::new("Office <office@example.org>", "https://stats.example/").is_ok());
        assert!(Letters::new("not an address", "https://stats.example").is_err());
        assert!(Letters::new("office@example.org", "stats.example").is_err());
        let letters = Letters::new("office@example.org", "https://stats.example//").unwrap();
        assert_eq!(letters.base_url, "https://stats.example");
    }
}
