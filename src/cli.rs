//! Command line: `serve`, `sandbox`, `routes`, `hash-key`.

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
    /// Print a new random caller API key and its key_sha256 for
    /// [[auth.callers]] (HMAC-SHA256 with the pepper of auth.pepper_file or
    /// GRAPH_GATEWAY_AUTH_PEPPER). Give the key to the caller; put only the
    /// hash in the configuration.
    HashKey {
        /// TOML configuration file (for auth.pepper_file).
        #[arg(long, env = "GRAPH_GATEWAY_CONFIG")]
        config: Option<PathBuf>,
        /// Hash a key read from standard input instead of making one.
        #[arg(long)]
        stdin: bool,
    },
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
            let telemetry =
                crate::telemetry::init_with(&cfg.log.format, &cfg.log.filter, &cfg.otel)?;
            let served = crate::app::serve(cfg, &ProcessEnv, crate::app::shutdown_signal()).await;
            // Exports the last spans (blocking, bounded by the exporter's timeout).
            tokio::task::spawn_blocking(move || telemetry.shutdown()).await?;
            served
        }
        Command::Sandbox { listen } => {
            crate::telemetry::init("human", "info");
            let listener = tokio::net::TcpListener::bind(listen).await?;
            crate::sandbox::Sandbox::demo()
                .serve(listener, crate::app::shutdown_signal())
                .await?;
            Ok(())
        }
        Command::HashKey { config, stdin } => {
            let cfg = Config::load(config.as_deref(), &ProcessEnv)?;
            let pepper = cfg.auth.pepper.ok_or_else(|| {
                anyhow::anyhow!(
                    "no pepper: set GRAPH_GATEWAY_AUTH_PEPPER or auth.pepper_file to 32 random bytes, \
                     base64 (openssl rand -base64 32), the same the gateway uses"
                )
            })?;
            let key = if stdin {
                let mut line = zeroize::Zeroizing::new(String::new());
                std::io::stdin().read_line(&mut line)?;
                crate::secret::Secret::new(line.trim())
            } else {
                crate::auth::keys::generate()
            };
            if key.is_empty() {
                anyhow::bail!("no key on standard input");
            }
            let hash = crate::auth::keys::hex_digest(&pepper, &key);
            let mut out = String::new();
            if !stdin {
                out.push_str(&format!("key        = {}\n", key.expose()));
            }
            out.push_str(&format!("key_sha256 = \"{hash}\"\n"));
            print!("{out}");
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
