//! The `graph-gateway` binary: `serve`, `sandbox` and `routes`.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    graph_gateway::cli::main().await
}
