//! The site on a socket: HTTP/1.1 with limits on connections and header time, and a
//! graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;

use crate::router::*;
use crate::state::*;

/// Serves the site on `listener` until `shutdown` completes, letting requests in
/// flight finish; rereads the releases directory every two seconds and, with
/// subscriptions, sends the alerts that are due as often.
pub async fn serve(
    listener: tokio::net::TcpListener,
    site: Arc<Site>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let watcher = site.clone();
    let refresh = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let s = watcher.clone();
            let _ = tokio::task::spawn_blocking(move || s.store.refresh()).await;
        }
    });
    let mail = site.alerts.clone().map(|alerts| {
        let site = site.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let (s, catalog) = (alerts.clone(), site.store.catalog());
                let now = site.store.now();
                match tokio::task::spawn_blocking(move || s.run(&catalog, now)).await {
                    Ok(Ok(round)) if round.announced > 0 => diagnostic!(
                        "statvault-site: {} new release(s) or calendar notice(s); letters queued",
                        round.announced
                    ),
                    Ok(Err(e)) => diagnostic!("statvault-site: e-mail alerts: {e}"),
                    _ => {}
                }
            }
        })
    });
    let served = accept_loop(listener, site, shutdown).await;
    refresh.abort();
    if let Some(mail) = mail {
        mail.abort();
    }
    served
}

/// How long a client may take to send a request's headers, and may keep a connection
/// open between requests: with the cap on connections (`Limits::max_connections`),
/// slow or idle clients cannot hold the site's descriptors.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a graceful shutdown waits for answers in progress.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Accepts connections until `shutdown`: HTTP/1.1 with a header-read timeout (which
/// also ends an idle keep-alive connection) and a cap on connections; then lets the
/// answers in progress finish, for at most SHUTDOWN_GRACE.
pub(crate) async fn accept_loop(
    listener: tokio::net::TcpListener,
    site: Arc<Site>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;
    let slots = Arc::new(tokio::sync::Semaphore::new(site.limits.max_connections));
    let app = router(site);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of descriptors, say: wait a little rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(addr));
                app.clone().oneshot(request.map(Body::new))
            },
        );
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _slot = slot;
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    Ok(())
}
