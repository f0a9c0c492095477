//! `runner ui`: a dashboard over the store, served from this binary with its pages
//! embedded (no CDN, no other server). It reads the store as `runner list` does, one
//! request at a time, so runs that are training keep writing; it writes nothing.
//!
//! [`http`] routes requests, [`api`] answers them with the commands' JSON, [`images`]
//! serves a run's highest-loss images, [`assets`] holds the page and its script.

mod api;
mod assets;
mod http;
mod images;
mod query;

use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, Result};

use crate::bail_input;
use crate::store::Store;

pub struct ServeOptions {
    pub host: IpAddr,
    pub port: u16,
    /// Open the dashboard in the default browser once it listens.
    pub open: bool,
}

/// Serves the dashboard until Ctrl-C or SIGTERM.
pub fn serve(store: &Store, options: &ServeOptions) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the dashboard's threads")?;
    runtime.block_on(async {
        let wanted = SocketAddr::new(options.host, options.port);
        let listener = match tokio::net::TcpListener::bind(wanted).await {
            Ok(listener) => listener,
            Err(err) => bail_input!(
                "cannot listen on {wanted}: {err} (give another --port, or 0 for any free one)"
            ),
        };
        let address = listener.local_addr()?;
        // Browsers refuse to open 0.0.0.0: the URL names this machine's loopback then.
        let url = if address.ip().is_unspecified() {
            format!("http://127.0.0.1:{}/", address.port())
        } else {
            format!("http://{address}/")
        };
        if !store.root().join("db").exists() {
            tracing::warn!(
                "no run store at `{}` yet: the dashboard shows its runs once `runner run` records some (--store DIR names another)",
                store.root().display()
            );
        }
        println!(
            "serving the store at `{}` on {url} (listening on {address}; read-only; Ctrl-C stops)",
            store.root().display()
        );
        std::io::stdout().flush()?;
        if options.open {
            open_in_browser(&url);
        }
        let router = http::router(http::Reader::new(Store::new(store.root()), address));
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("the dashboard's server stopped")
    })
}

fn open_in_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    if let Err(err) = std::process::Command::new(opener).arg(url).spawn() {
        tracing::warn!("cannot open a browser with `{opener}` ({err}): open {url} yourself");
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminated = async {
        match terminate.as_mut() {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = interrupt => {}
        () = terminated => {}
    }
}
