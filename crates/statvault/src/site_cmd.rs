//! `statvault site …`: the public site.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use statvault_release::minisign::MinisignKey;
use statvault_site::diagnostic;
use statvault_site::mail::{Letters, Smtp};
use statvault_site::mirror::MirrorStatus;
use statvault_site::store::Store;
use statvault_site::subscriptions::{Alerts, Subscriptions};
use statvault_site::{Limits, Site};
use zeroize::Zeroizing;

#[derive(Subcommand)]
pub enum SiteCommand {
    /// Serves the releases directory: calendar, releases, tables, API, feed. Only
    /// bundles that verify are served, none before its release time; new bundles
    /// appear without a restart. Stops gracefully on Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Writes the whole site as static files (pages, assets, feeds, downloads, API
    /// answers for the default selections) that nginx or a CDN serves as they are.
    Export(ExportArgs),
    /// Pulls a primary site's log, calendar and public bundles into a releases
    /// directory, keeping only what verifies against the office's key and refusing a
    /// log whose history was rewritten; with --serve, serves them too, and keeps
    /// serving when the primary is down.
    Mirror(MirrorArgs),
    /// The e-mail alerts' subscriber database: how many subscribers and letters
    /// queued, and --forget to erase one address on request. Never lists addresses.
    Subscribers(SubscribersArgs),
}

#[derive(Args)]
pub struct SubscribersArgs {
    /// The subscriber database of `site serve --subscribers`.
    #[arg(long, value_name = "FILE")]
    db: PathBuf,
    /// Delete this address and everything about it.
    #[arg(long, value_name = "ADDRESS")]
    forget: Option<String>,
}

/// E-mail alerts: on with --subscribers, which needs --smtp and --mail-from.
#[derive(Args)]
pub struct AlertArgs {
    /// The subscriber database, created readable by its owner only. Keep it outside
    /// the releases directory: addresses are personal data and are never served.
    #[arg(long, value_name = "FILE", requires_all = ["smtp", "mail_from"])]
    subscribers: Option<PathBuf>,
    /// The SMTP server: smtp://HOST:25 (no TLS), smtp://USER@HOST:587?tls=required
    /// (STARTTLS) or smtps://USER@HOST:465; the password is read from
    /// STATVAULT_SMTP_PASSWORD.
    #[arg(long, value_name = "URL", requires = "subscribers")]
    smtp: Option<String>,
    /// The letters' sender, e.g. "INSTAT <publikime@instat.gov.al>".
    #[arg(long, value_name = "ADDRESS", requires = "subscribers")]
    mail_from: Option<String>,
}

impl AlertArgs {
    fn alerts(&self, releases: &Path, public_url: &str) -> anyhow::Result<Option<Alerts>> {
        let (Some(path), Some(smtp), Some(from)) = (&self.subscribers, &self.smtp, &self.mail_from)
        else {
            return Ok(None);
        };
        let beside = path.parent().filter(|p| !p.as_os_str().is_empty());
        let folder = std::fs::canonicalize(beside.unwrap_or(Path::new(".")))
            .with_context(|| format!("--subscribers {}", path.display()))?;
        anyhow::ensure!(
            !folder.starts_with(std::fs::canonicalize(releases)?),
            "--subscribers {} is inside the releases directory; keep addresses apart from \
what is published",
            path.display()
        );
        let letters = Letters::new(from, public_url).map_err(anyhow::Error::msg)?;
        let password = std::env::var("STATVAULT_SMTP_PASSWORD")
            .ok()
            .map(Zeroizing::new);
        let smtp =
            Smtp::connect(smtp, password, letters.from.clone()).map_err(anyhow::Error::msg)?;
        let subscriptions = Subscriptions::open(path)?;
        Ok(Some(Alerts::new(subscriptions, letters, Box::new(smtp))))
    }
}

#[derive(Args)]
pub struct MirrorArgs {
    /// The primary site, e.g. https://statistics.example.
    #[arg(long, value_name = "URL")]
    from: String,
    /// The mirror's releases directory.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The office's public key (minisign format), obtained independently.
    #[arg(long, value_name = "FILE")]
    pubkey: PathBuf,
    /// Pull again every this many seconds (default: pull once).
    #[arg(long, value_name = "SECONDS")]
    interval: Option<u64>,
    /// Serve the mirror on this address while pulling.
    #[arg(long, value_name = "ADDR")]
    serve: Option<SocketAddr>,
    /// With --serve, Prometheus metrics (the site's and the pulls') on this address.
    #[arg(long, value_name = "ADDR", requires = "serve")]
    metrics_addr: Option<SocketAddr>,
}

#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// The directory to create.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// What the site serves: a releases directory and the key its bundles must verify with.
#[derive(Args)]
pub struct SourceArgs {
    /// The releases directory (bundles, log/, calendar.json).
    #[arg(long, value_name = "DIR", env = "STATVAULT_RELEASES")]
    releases: PathBuf,
    /// The office's public key (minisign format); default: the key beside the log.
    #[arg(long, value_name = "FILE")]
    pubkey: Option<PathBuf>,
    /// The site's public address, e.g. https://stats.example: for the sitemap, each
    /// page's canonical and language links, and the links in letters [serve's
    /// default: http://ADDR; without it an export has no sitemap].
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
}

impl SourceArgs {
    /// `--public-url` without its trailing slash, checked to be an http(s) address.
    fn public_url(&self) -> anyhow::Result<Option<String>> {
        let Some(url) = &self.public_url else {
            return Ok(None);
        };
        anyhow::ensure!(
            url.starts_with("https://") || url.starts_with("http://"),
            "--public-url {url:?} must start with https:// or http://"
        );
        Ok(Some(url.trim_end_matches('/').to_string()))
    }

    fn store(&self) -> anyhow::Result<Store> {
        let key = self.pubkey.as_deref().map(read_key).transpose()?;
        anyhow::ensure!(
            self.releases.is_dir(),
            "{} is not a directory",
            self.releases.display()
        );
        Ok(Store::open(&self.releases, key))
    }
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Serve Prometheus metrics on this address (keep it private).
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// Most cells one API request may select.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_cells)]
    max_cells: u64,
    /// API requests a minute per client.
    #[arg(long, value_name = "N", default_value_t = Limits::default().requests_per_minute)]
    rate: u32,
    /// Print one JSON line per request on standard error.
    #[arg(long)]
    access_log: bool,
    #[command(flatten)]
    alerts: AlertArgs,
}

pub fn run(cmd: SiteCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SiteCommand::Serve(a) => {
            let limits = Limits {
                max_cells: a.max_cells,
                requests_per_minute: a.rate,
                ..Limits::default()
            };
            let mut site = Site::new(a.source.store()?, limits);
            let public_url = a
                .source
                .public_url()?
                .unwrap_or_else(|| format!("http://{}", a.addr));
            site.access_log = a.access_log;
            site.alerts = a
                .alerts
                .alerts(&a.source.releases, &public_url)?
                .map(Arc::new);
            site.public_url = Some(public_url);
            if let Some(path) = &a.alerts.subscribers {
                diagnostic!("e-mail alerts on; subscribers in {}", path.display());
            }
            serve(Arc::new(site), a.addr, a.metrics_addr)?;
            Ok(ExitCode::SUCCESS)
        }
        SiteCommand::Mirror(a) => mirror(a),
        SiteCommand::Subscribers(a) => {
            let subscriptions = Subscriptions::open(&a.db)?;
            if let Some(address) = &a.forget {
                let forgotten = subscriptions.forget(address)?;
                println!(
                    "{}",
                    if forgotten {
                        "forgotten: the address and its queued letters are deleted"
                    } else {
                        "that address is not in the database"
                    }
                );
            }
            let counts = subscriptions.counts()?;
            println!(
                "{} confirmed, {} awaiting confirmation, {} letter(s) queued",
                counts.confirmed, counts.pending, counts.queued
            );
            Ok(ExitCode::SUCCESS)
        }
        SiteCommand::Export(a) => {
            let mut site = Site::new(a.source.store()?, Limits::default());
            site.public_url = a.source.public_url()?;
            site.static_copy = true;
            let site = Arc::new(site);
            for refused in &site.store.catalog().refused {
                diagnostic!("refused: {refused}");
            }
            let report = tokio::runtime::Runtime::new()?
                .block_on(statvault_site::export::export(site, &a.out))
                .with_context(|| format!("exporting to {}", a.out.display()))?;
            println!(
                "{} bundle(s): {} files, {} bytes in {}",
                report.bundles,
                report.files,
                report.bytes,
                a.out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn read_key(path: &std::path::Path) -> anyhow::Result<MinisignKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    MinisignKey::read(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn mirror(a: MirrorArgs) -> anyhow::Result<ExitCode> {
    let key = read_key(&a.pubkey)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let status = Arc::new(MirrorStatus::default());
    let pull_once = {
        let (from, out, status) = (a.from.clone(), a.out.clone(), status.clone());
        move || -> bool {
            let outcome = statvault_site::mirror::pull(
                &from,
                &out,
                key,
                statvault_site::store::unix_now(),
                statvault_site::mirror::PULL_DEADLINE,
            );
            status.record(&outcome, statvault_site::store::unix_now());
            match outcome {
                Ok(r) => {
                    diagnostic!(
                        "pulled from {from}: {} new bundle(s), {} kept, log of {} entries",
                        r.new_bundles.len(),
                        r.kept_bundles,
                        r.log_size
                    );
                    for refused in &r.refused {
                        diagnostic!("REFUSED {refused}");
                    }
                    r.refused.is_empty()
                }
                Err(e) => {
                    diagnostic!("REFUSED the pull from {from}: {e}; serving what this mirror has");
                    false
                }
            }
        }
    };
    let pulls = move || -> bool {
        let clean = pull_once();
        if let Some(seconds) = a.interval {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(seconds));
                pull_once();
            }
        }
        clean
    };
    let Some(addr) = a.serve else {
        return Ok(if pulls() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    };
    // Serving starts at once, with what the mirror holds: a primary that is slow or
    // down cannot keep the mirror from serving.
    std::thread::spawn(pulls);
    let mut site = Site::new(Store::open(&a.out, Some(key)), Limits::default());
    site.mirror = Some(status);
    serve(Arc::new(site), addr, a.metrics_addr)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the site until Ctrl-C or SIGTERM, reporting what it serves.
pub fn serve(site: Arc<Site>, addr: SocketAddr, metrics: Option<SocketAddr>) -> anyhow::Result<()> {
    let catalog = site.store.catalog();
    diagnostic!(
        "serving {} verified bundle(s) from {}",
        catalog.bundles.len(),
        site.store.dir().display()
    );
    for refused in &catalog.refused {
        diagnostic!("refused: {refused}");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr}"))?;
        if let Some(metrics) = metrics {
            let listener = tokio::net::TcpListener::bind(metrics)
                .await
                .with_context(|| format!("listening on {metrics}"))?;
            let router = statvault_site::metrics_router(site.clone());
            tokio::spawn(async move { axum::serve(listener, router).await });
            diagnostic!("metrics on http://{metrics}/metrics");
        }
        // The address bound, which says the port when --addr asked for any (port 0).
        let bound = listener.local_addr().unwrap_or(addr);
        diagnostic!("open http://{bound}/ (Ctrl-C stops)");
        statvault_site::serve(listener, site, shutdown_signal()).await?;
        diagnostic!("stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
