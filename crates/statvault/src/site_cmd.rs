//! `statvault site …`: the public site.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use statvault_release::minisign::MinisignKey;
use statvault_site::store::Store;
use statvault_site::{Limits, Site};

#[derive(Subcommand)]
pub enum SiteCommand {
    /// Serves the releases directory: calendar, releases, tables, API, feed. Only
    /// bundles that verify are served, none before its release time; new bundles
    /// appear without a restart. Stops gracefully on Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Writes the whole site as static files (pages, assets, feeds, downloads, API
    /// answers for the default selections) that nginx or a CDN serves as they are.
    Export(ExportArgs),
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
}

impl SourceArgs {
    fn store(&self) -> anyhow::Result<Store> {
        let key = self
            .pubkey
            .as_ref()
            .map(|p| -> anyhow::Result<MinisignKey> {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                MinisignKey::read(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
            })
            .transpose()?;
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
            site.access_log = a.access_log;
            serve(Arc::new(site), a.addr, a.metrics_addr)?;
            Ok(ExitCode::SUCCESS)
        }
        SiteCommand::Export(a) => {
            let site = Arc::new(Site::new(a.source.store()?, Limits::default()));
            for refused in &site.store.catalog().refused {
                eprintln!("refused (does not verify): {refused}");
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

/// Runs the site until Ctrl-C or SIGTERM, reporting what it serves.
pub fn serve(site: Arc<Site>, addr: SocketAddr, metrics: Option<SocketAddr>) -> anyhow::Result<()> {
    let catalog = site.store.catalog();
    eprintln!(
        "serving {} verified bundle(s) from {}",
        catalog.bundles.len(),
        site.store.dir().display()
    );
    for refused in &catalog.refused {
        eprintln!("refused (does not verify): {refused}");
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
            eprintln!("metrics on http://{metrics}/metrics");
        }
        eprintln!("open http://{addr}/ (Ctrl-C stops)");
        statvault_site::serve(listener, site, shutdown_signal()).await?;
        eprintln!("stopped");
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
