//! Command line: `serve`, `sandbox`, `routes`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, ProcessEnv};
use crate::engine::routes::RouteTable;

/// A gRPC gateway in front of Meta's Graph API for business asset management.
#[derive(Debug, Parser)]
#[command(name = "graph-gateway", version, about)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the gateway. Without graph.base_url it runs against the embedded
    /// Graph sandbox, with demo data and a demo token.
    Serve {
        /// TOML configuration file; GRAPH_GATEWAY_* environment variables override it.
        #[arg(long, env = "GRAPH_GATEWAY_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Run the Graph sandbox alone over HTTP.
    Sandbox {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: SocketAddr,
    },
    /// Print every RPC's Graph call: method, HTTP method, path template.
    Routes,
}

/// Runs the command line.
pub async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("graph-gateway: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Serve { config } => {
            let cfg = Config::load(config.as_deref(), &ProcessEnv)?;
            crate::telemetry::init(&cfg.log.format, &cfg.log.filter);
            crate::app::serve(cfg, &ProcessEnv, crate::app::shutdown_signal()).await
        }
        Command::Sandbox { listen } => {
            crate::telemetry::init("human", "info");
            let listener = tokio::net::TcpListener::bind(listen).await?;
            crate::sandbox::Sandbox::demo()
                .serve(listener, crate::app::shutdown_signal())
                .await?;
            Ok(())
        }
        Command::Routes => {
            let table = RouteTable::embedded()?;
            let mut out = String::new();
            for r in table.iter() {
                out.push_str(&format!(
                    "{}\t{}\t{}\n",
                    r.full_method.trim_start_matches('/'),
                    r.http.as_str(),
                    r.template.raw
                ));
            }
            print!("{out}");
            Ok(())
        }
    }
}
