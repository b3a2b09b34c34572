//! Command line: `serve`, `sandbox`, `routes`, `hash-key`, `config-reference`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, ProcessEnv};
use crate::routes::RouteTable;

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
        /// Refuse the edges gone from Meta's spec (AG04, AG24–AG26, AP04,
        /// BB01, OB01, OB03, OB05, OB06) as Graph does for an app without
        /// legacy access (default: served).
        #[arg(long)]
        no_legacy_edges: bool,
    },
    /// Print every RPC: its Graph call (HTTP method, path template), a
    /// workflow's steps, or "no Graph call" (vault, quota, health, reflection).
    Routes,
    /// Print the configuration reference (every key, its environment
    /// variable, default and meaning) as a Markdown table.
    ConfigReference {
        /// Replace the generated section of this Markdown file instead (the
        /// lines between its config-reference:begin and :end markers).
        #[arg(long)]
        write: Option<PathBuf>,
    },
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
        Command::Sandbox {
            listen,
            no_legacy_edges,
        } => {
            crate::telemetry::init("human", "info");
            let listener = tokio::net::TcpListener::bind(listen).await?;
            crate::sandbox::Sandbox::demo()
                .with_legacy_edges(!no_legacy_edges)
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
        Command::ConfigReference { write: None } => {
            print!("{}", config_reference());
            Ok(())
        }
        Command::ConfigReference { write: Some(path) } => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            let updated = with_config_reference(&text).ok_or_else(|| {
                anyhow::anyhow!(
                    "{} lacks the lines {REFERENCE_BEGIN}... and {REFERENCE_END}",
                    path.display()
                )
            })?;
            std::fs::write(&path, updated)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
            Ok(())
        }
        Command::Routes => {
            print!("{}", routes_listing()?);
            Ok(())
        }
    }
}

/// `graph-gateway routes`: every RPC the server answers, one line each,
/// tab-separated: the method, then its Graph call (HTTP method and path
/// template); a workflow names its steps (each step is one of the routes),
/// and an RPC that makes no Graph call says so (VaultService, QuotaService,
/// health and reflection).
pub fn routes_listing() -> anyhow::Result<String> {
    let table = RouteTable::embedded()?;
    let mut pools = vec![table.pool().clone()];
    for set in [
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ] {
        pools.push(prost_reflect::DescriptorPool::decode(set)?);
    }
    let mut out = String::new();
    for pool in &pools {
        for svc in pool.services() {
            for m in svc.methods() {
                let full = format!("/{}/{}", svc.full_name(), m.name());
                let method = full.trim_start_matches('/');
                if let Some(r) = table.get(&full) {
                    out.push_str(&format!(
                        "{method}\t{}\t{}\n",
                        r.http.as_str(),
                        r.template.raw
                    ));
                } else if let Some(w) = table.workflows().iter().find(|w| w.full_method == full) {
                    out.push_str(&format!(
                        "{method}\tworkflow\tsteps {}\n",
                        w.steps.join(", ")
                    ));
                } else if svc.name() == "GraphPassthroughService" {
                    // The governed pass-through: the calls policy opens.
                    out.push_str(&format!(
                        "{method}\tpassthrough\tthe calls [[policy]] graph_paths (or passthrough.paths) list\n"
                    ));
                } else {
                    out.push_str(&format!("{method}\t-\tno Graph call\n"));
                }
            }
        }
    }
    Ok(out)
}

/// Where the generated configuration reference starts in a Markdown file
/// (the rest of that line is free text).
pub const REFERENCE_BEGIN: &str = "<!-- config-reference:begin";
/// Where it ends.
pub const REFERENCE_END: &str = "<!-- config-reference:end -->";

/// The configuration reference, from `Config::documented_keys()`: one
/// Markdown table row per key.
pub fn config_reference() -> String {
    // Markdown escapes: a pipe ends the cell, <word> reads as an HTML tag.
    let cell = |s: &str| {
        s.replace('|', "\\|")
            .replace('<', "\\<")
            .replace('>', "\\>")
    };
    let mut out =
        String::from("| Key | Environment variable | Default | Description |\n|---|---|---|---|\n");
    for (key, var, default, description) in Config::documented_keys() {
        let default = if default.is_empty() {
            "(empty)".to_string()
        } else if default == "(unset)" {
            default
        } else {
            format!("`{}`", cell(&default))
        };
        out.push_str(&format!(
            "| `{key}` | `{var}` | {default} | {} |\n",
            cell(description)
        ));
    }
    out
}

/// `text` with the lines between its reference markers replaced by
/// [`config_reference`]; None when a marker is missing.
pub fn with_config_reference(text: &str) -> Option<String> {
    let begin = text.find(REFERENCE_BEGIN)?;
    let body = begin + text[begin..].find('\n')? + 1;
    let end = body + text[body..].find(REFERENCE_END)?;
    Some(format!(
        "{}\n{}\n{}",
        &text[..body],
        config_reference(),
        &text[end..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_md_has_the_generated_configuration_reference() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md");
        let text = std::fs::read_to_string(path).unwrap();
        assert!(
            with_config_reference(&text).as_deref() == Some(text.as_str()),
            "docs/operations.md's configuration reference is out of date: run \
             `cargo run -q -- config-reference --write docs/operations.md`"
        );
    }

    #[test]
    fn every_key_is_one_row() {
        let table = config_reference();
        assert_eq!(
            table.lines().count(),
            Config::documented_keys().len() + 2,
            "{table}"
        );
        assert!(table.contains("| `metrics.listen` | `GRAPH_GATEWAY_METRICS_LISTEN` | (unset) |"));
    }
}
