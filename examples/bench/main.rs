//! The gateway's benchmark (issue 8): one run measures
//! - P1 cache-hit throughput vs a bare tonic echo server,
//! - P2 cache-miss added latency vs a direct reqwest call,
//! - P3 identical concurrent cold reads vs upstream calls,
//! - P4 throughput with the quota engine on vs off,
//! - P5 idle RSS and time to SERVING,
//! - and a valgrind profile of the hot path;
//! - and the quota benchmark of issue 4 (`quota.rs`: 10x over-demand on one
//!   ad account against the sandbox's scoring model, one gateway process,
//!   then three sharing Redis),
//!
//! and rewrites its block and the Quota section of BENCHMARKS.md. Run it with `scripts/bench`,
//! which builds in release and pins this process to the load generator's CPU.
//!
//! ```text
//! bench run [--out BENCHMARKS.md] [--gateway target/release/graph-gateway] [--quick] [--no-profile] [--only p1,p2,...,p6,quota]
//! bench quota [--out BENCHMARKS.md] [--gateway ...] [--quick]   (the quota benchmark alone; rewrites only the Quota section)
//! bench echo --listen ADDR --payload FILE       (child: the bare tonic server)
//! bench upstream --listen ADDR                  (child: the fixed-response upstream)
//! bench gateway-lib --config FILE --quota on|off (child: the gateway for P4)
//! bench call --addr ADDR [--n 1000] [--miss]    (by hand: n calls in a row, e.g. under callgrind)
//! ```
//!
//! Everything listens on 127.0.0.1 and every child (gateways, servers,
//! redis-server) is killed when the run ends.

mod bulk;
mod load;
mod procs;
mod quota;
mod report;
mod scenarios;
mod servers;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio::time::Instant;

/// The gateway's benchmark harness.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the benchmark and rewrite BENCHMARKS.md.
    Run {
        /// The report to (re)write.
        #[arg(long, default_value = "BENCHMARKS.md")]
        out: PathBuf,
        /// The gateway binary under test.
        #[arg(long, default_value = "target/release/graph-gateway")]
        gateway: PathBuf,
        /// Where configs, logs and results go (emptied first).
        #[arg(long, default_value = "target/bench")]
        dir: PathBuf,
        /// Short runs: a smoke test of the harness; the report is not written.
        #[arg(long)]
        quick: bool,
        /// Skip the valgrind profile.
        #[arg(long)]
        no_profile: bool,
        /// The gateway binary the valgrind profile runs: the same build with
        /// line tables (`cargo build --profile profiling`, as scripts/bench
        /// does); the release binary when absent.
        #[arg(long)]
        profile_gateway: Option<PathBuf>,
        /// Only these scenarios (p1,p2,p3,p4,p5,p6,profile,quota); P2 and P3 run together.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Run the quota benchmark alone and rewrite the Quota section of the
    /// report (and its row in the generated block).
    Quota {
        /// The report to update.
        #[arg(long, default_value = "BENCHMARKS.md")]
        out: PathBuf,
        /// The gateway binary under test.
        #[arg(long, default_value = "target/release/graph-gateway")]
        gateway: PathBuf,
        /// Where configs, logs and results go (emptied first).
        #[arg(long, default_value = "target/bench")]
        dir: PathBuf,
        /// A short window (5 s): a smoke test; the report is not written.
        #[arg(long)]
        quick: bool,
    },
    /// Serve the bare tonic echo (a child of `run`).
    Echo {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        payload: PathBuf,
    },
    /// Serve the fixed-response upstream (a child of `run`).
    Upstream {
        #[arg(long)]
        listen: SocketAddr,
    },
    /// Send `n` ListOwnedPages calls one after another (for profiling by
    /// hand: hits repeat one request, misses vary the page size).
    Call {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value_t = 1000)]
        n: u64,
        #[arg(long)]
        miss: bool,
    },
    /// Serve the gateway built from the library (a child of `run`, for P4).
    GatewayLib {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        quota: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Cmd::Run {
            out,
            gateway,
            dir,
            quick,
            no_profile,
            profile_gateway,
            only,
        } => {
            run(
                out,
                gateway,
                profile_gateway,
                dir,
                quick,
                no_profile,
                only,
                false,
            )
            .await
        }
        Cmd::Quota {
            out,
            gateway,
            dir,
            quick,
        } => {
            run(
                out,
                gateway,
                None,
                dir,
                quick,
                true,
                vec!["quota".into()],
                true,
            )
            .await
        }
        Cmd::Echo { listen, payload } => servers::echo(listen, &payload).await,
        Cmd::Upstream { listen } => servers::upstream(listen).await,
        Cmd::Call { addr, n, miss } => scenarios::calls(addr, n, !miss).await,
        Cmd::GatewayLib { config, quota } => match quota.as_str() {
            "on" => servers::gateway_lib(&config, true).await,
            "off" => servers::gateway_lib(&config, false).await,
            other => Err(anyhow::anyhow!("--quota on|off, got {other:?}")),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Cores the machine keeps busy over 2 s while this benchmark is idle.
async fn background() -> f64 {
    let (m0, t0) = (procs::machine_busy_secs(), Instant::now());
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    (procs::machine_busy_secs() - m0) / t0.elapsed().as_secs_f64()
}

#[allow(clippy::too_many_arguments)]
async fn run(
    out: PathBuf,
    gateway: PathBuf,
    profile_gateway: Option<PathBuf>,
    dir: PathBuf,
    quick: bool,
    no_profile: bool,
    only: Vec<String>,
    quota_only: bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    anyhow::ensure!(
        gateway.exists(),
        "{} is missing: cargo build --release --bins --examples",
        gateway.display()
    );
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("emptying {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let dir = dir.canonicalize()?;
    let gateway_bin = gateway.canonicalize()?;
    let profile_bin = match &profile_gateway {
        Some(p) => p.canonicalize().with_context(|| {
            format!(
                "{} is missing: cargo build --profile profiling",
                p.display()
            )
        })?,
        None => gateway_bin.clone(),
    };
    let self_exe = std::env::current_exe()?;
    let pin = procs::Pinning::detect();
    let machine = report::Machine::detect();
    eprintln!(
        "bench: {} ({} CPUs), server CPU {:?}, client CPU {:?}, logs in {}",
        machine.cpu,
        machine.cpus,
        pin.server,
        pin.client,
        dir.display()
    );
    let wants = |s: &str| only.is_empty() || only.iter().any(|o| o == s);

    let background_before = background().await;
    let (upstream_proc, upstream) = scenarios::start_upstream(&dir, &self_exe, &pin).await?;
    let ctx = scenarios::Ctx {
        gateway_bin,
        profile_bin,
        self_exe,
        dir: dir.clone(),
        pin: pin.clone(),
        quick,
        upstream,
    };
    let mut failures = Vec::new();
    let mut note = |what: &str, e: anyhow::Error| {
        eprintln!("bench: {what} failed: {e:#}");
        failures.push(format!("{what}: {e:#}"));
    };

    let mut results = report::Results {
        machine,
        pinning: pin,
        p1: None,
        p1_large: None,
        p2: None,
        p3: None,
        p4: None,
        p5: None,
        p6: None,
        profile: None,
        quota: None,
        background_cpu: (background_before, 0.0),
        failures: Vec::new(),
        run_secs: 0.0,
    };
    if wants("p5") {
        eprintln!("P5: idle RSS and time to SERVING");
        match scenarios::p5(&ctx).await {
            Ok(p) => results.p5 = Some(p),
            Err(e) => note("P5", e),
        }
    }
    if wants("p1") {
        eprintln!("P1: cache-hit throughput vs a bare tonic echo (sandbox, 3 pages)");
        match scenarios::p1(&ctx, false).await {
            Ok(p) => results.p1 = Some(p),
            Err(e) => note("P1", e),
        }
        eprintln!("P1: cache-hit throughput vs a bare tonic echo (fixed upstream, 25 pages)");
        match scenarios::p1(&ctx, true).await {
            Ok(p) => results.p1_large = Some(p),
            Err(e) => note("P1 (25 pages)", e),
        }
    }
    if wants("p2") || wants("p3") {
        eprintln!("P2: cache-miss added latency; P3: coalescing of identical cold reads");
        match scenarios::p2_p3(&ctx).await {
            Ok((p2, p3)) => {
                results.p2 = Some(p2);
                results.p3 = Some(p3);
            }
            Err(e) => note("P2/P3", e),
        }
    }
    if wants("p4") {
        eprintln!("P4: cache-miss throughput, quota engine on vs off");
        match scenarios::p4(&ctx).await {
            Ok(p) => results.p4 = Some(p),
            Err(e) => note("P4", e),
        }
    }
    if wants("p6") {
        eprintln!("P6: how cost grows with response size and calls in flight");
        match scenarios::p6(&ctx).await {
            Ok(p) => results.p6 = Some(p),
            Err(e) => note("P6", e),
        }
    }
    if wants("profile") && !no_profile {
        eprintln!("profile: valgrind (callgrind, DHAT) on the hit and miss paths");
        match scenarios::profile(&ctx).await {
            Ok(p) => results.profile = p,
            Err(e) => note("profile", e),
        }
    }
    if wants("quota") {
        eprintln!(
            "Quota: {}x over-demand on one ad account, 1 gateway, then 3 sharing Redis",
            quota::OVER_DEMAND
        );
        match quota::run(&ctx).await {
            Ok(q) => results.quota = Some(q),
            Err(e) => note("Quota", e),
        }
    }
    drop(upstream_proc);
    results.background_cpu.1 = background().await;
    results.failures = failures;
    results.run_secs = started.elapsed().as_secs_f64();
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    if quick {
        eprintln!(
            "bench: quick run done in {:.0} s; {} not rewritten (quick runs are not reported)",
            results.run_secs,
            out.display()
        );
        if !quota_only {
            println!("{}", report::render(&results, None));
        }
        if let Some(q) = &results.quota {
            println!("{}", report::render_quota(q));
        }
    } else if quota_only {
        if let Some(q) = &results.quota {
            report::write_quota(&out, q)?;
        }
        eprintln!(
            "bench: done in {:.0} s; updated the Quota section of {}",
            results.run_secs,
            out.display()
        );
    } else {
        report::write(&out, &results)?;
        eprintln!(
            "bench: done in {:.0} s; wrote {}",
            results.run_secs,
            out.display()
        );
    }
    anyhow::ensure!(
        results.failures.is_empty(),
        "{} scenario(s) failed: {}",
        results.failures.len(),
        results.failures.join("; ")
    );
    Ok(())
}
