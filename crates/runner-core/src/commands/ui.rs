//! `runner ui`: a dashboard over the store in the browser, served by this process.

use std::net::IpAddr;

use anyhow::Result;

use crate::store::Store;
use crate::ui::{ServeOptions, serve};

/// Serve a dashboard of the store's runs on http://127.0.0.1:8765 (read-only)
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  runner ui --open\n  runner --store /data/runs ui --port 9000\n  runner ui --host 0.0.0.0   # reachable from other machines: anyone who can reach it reads the store"
)]
pub struct Args {
    /// The address to listen on; 127.0.0.1 keeps the dashboard to this machine
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// The port to listen on (0: any free port, printed at start)
    #[arg(long, default_value_t = 8765)]
    port: u16,
    /// Open the dashboard in the default browser
    #[arg(long)]
    open: bool,
}

pub fn exec(args: Args, store: &Store) -> Result<()> {
    serve(
        store,
        &ServeOptions {
            host: args.host,
            port: args.port,
            open: args.open,
        },
    )
}
