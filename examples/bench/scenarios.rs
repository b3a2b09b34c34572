//! P1-P5 and the hot-path profile: each starts its servers, drives the load,
//! and returns what it measured.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::uri::PathAndQuery;
use prost::Message as _;
use tokio::time::Instant;

use super::load::{self, code_label, CallFn, Samples, Summary};
use super::procs::{
    free_addr, machine_busy_secs, self_cpu_secs, wait_http, wait_serving, Pinning, Proc,
};

/// The RPC every scenario calls.
pub const METHOD: &str = "/graphgateway.v1.PageService/ListOwnedPages";
/// The demo business (sandbox) and the bench token's business (upstream).
pub const BUSINESS: &str = "1000000001";

/// What every scenario needs.
pub struct Ctx {
    /// `graph-gateway` (release).
    pub gateway_bin: PathBuf,
    /// The gateway the valgrind profile runs (`--profile-gateway`: the
    /// profiling build, with line tables), else `gateway_bin`.
    pub profile_bin: PathBuf,
    /// This benchmark's own executable (for the echo, upstream and
    /// library-built gateway children).
    pub self_exe: PathBuf,
    /// Configs, payloads, logs.
    pub dir: PathBuf,
    /// CPU pinning.
    pub pin: Pinning,
    /// Shorter runs (a smoke test of the harness, not for the report).
    pub quick: bool,
    /// The fixed-response upstream.
    pub upstream: SocketAddr,
}

impl Ctx {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn rounds(&self) -> usize {
        if self.quick {
            1
        } else {
            3
        }
    }

    fn warmup(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn measure(&self) -> Duration {
        Duration::from_secs(if self.quick { 2 } else { 4 })
    }

    fn server_cpus(&self) -> Option<&str> {
        self.pin.server.as_deref()
    }

    fn client_cpus(&self) -> Option<&str> {
        self.pin.client.as_deref()
    }

    /// Starts `graph-gateway serve --config <config>` on the server CPU.
    async fn gateway(&self, name: &str, config: &Path, addr: SocketAddr) -> anyhow::Result<Proc> {
        let mut p = Proc::spawn(
            name,
            self.server_cpus(),
            &self.gateway_bin,
            &[
                "serve".into(),
                "--config".into(),
                config.display().to_string(),
            ],
            &[],
            &self.path(&format!("{}.log", slug(name))),
        )?;
        wait_serving(&mut p, addr, Duration::from_secs(60)).await?;
        Ok(p)
    }

    /// Starts this benchmark's own `args` on `cpus`.
    fn child(&self, name: &str, cpus: Option<&str>, args: &[String]) -> anyhow::Result<Proc> {
        Proc::spawn(
            name,
            cpus,
            &self.self_exe,
            args,
            &[],
            &self.path(&format!("{}.log", slug(name))),
        )
    }

    fn upstream_url(&self) -> String {
        format!("http://{}", self.upstream)
    }

    async fn set_upstream_delay(&self, ms: u64) -> anyhow::Result<()> {
        reqwest::Client::new()
            .post(format!("{}/__delay/{ms}", self.upstream_url()))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    async fn upstream_calls(&self) -> anyhow::Result<u64> {
        let body = reqwest::Client::new()
            .get(format!("{}/__stats", self.upstream_url()))
            .send()
            .await?
            .bytes()
            .await?;
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        v.get("calls")
            .and_then(serde_json::Value::as_u64)
            .context("upstream /__stats without calls")
    }

    /// A config for the binary in front of the fixed upstream: the seed
    /// file's one token, cache TTL `ttl`, quota limits that never bind.
    fn upstream_config(&self, name: &str, listen: SocketAddr, ttl: u64) -> anyhow::Result<PathBuf> {
        self.upstream_config_with(name, listen, ttl, "")
    }

    /// [`Self::upstream_config`] plus `extra` TOML (a `[log]` section).
    fn upstream_config_with(
        &self,
        name: &str,
        listen: SocketAddr,
        ttl: u64,
        extra: &str,
    ) -> anyhow::Result<PathBuf> {
        let seed = self.path("tokens.toml");
        if !seed.exists() {
            std::fs::write(
                &seed,
                format!(
                    "[[token]]\nname = \"bench\"\nkind = \"system_user\"\nbusinesses = [\"1000000001\", {}]\nvalue = \"EAAB-bench-not-a-real-token\"\n",
                    super::servers::SIZES
                        .iter()
                        .map(|n| format!("\"{}\"", sized_business(*n)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )?;
        }
        let text = format!(
            "listen = \"{listen}\"\n\n[graph]\nbase_url = \"{}\"\n\n[vault]\nseed_file = \"{}\"\n\n[cache]\nttl_secs = {ttl}\n\n{}{extra}",
            self.upstream_url(),
            seed.display(),
            high_quota_toml()
        );
        let path = self.path(name);
        std::fs::write(&path, text)?;
        Ok(path)
    }

    /// A config for the binary with its embedded sandbox, plus `extra`.
    fn sandbox_config(
        &self,
        name: &str,
        listen: SocketAddr,
        extra: &str,
    ) -> anyhow::Result<PathBuf> {
        let path = self.path(name);
        std::fs::write(
            &path,
            format!("listen = \"{listen}\"\n\n[cache]\nttl_secs = 3600\n{extra}"),
        )?;
        Ok(path)
    }
}

/// `[quota]` with every limit the configuration offers set so high it never
/// binds (only keys the gateway knows are written).
pub fn high_quota_toml() -> String {
    let known: Vec<&str> = graph_gateway::config::Config::documented_keys()
        .into_iter()
        .map(|(k, ..)| k)
        .collect();
    let mut out = String::from("[quota]\n");
    for key in [
        "per_token_per_sec",
        "per_business_per_sec",
        "burst",
        "app_calls",
        "business_use_case_calls",
        "ad_account_points_development",
        "ad_account_points_standard",
    ] {
        if known.contains(&format!("quota.{key}").as_str()) {
            out.push_str(&format!("{key} = 1000000000\n"));
        }
    }
    if known.contains(&"quota.use_case_calls") {
        out.push_str("\n[quota.use_case_calls]\n");
        for uc in [
            "ads_management",
            "custom_audience",
            "catalog_management",
            "pages",
            "instagram",
            "business_management",
        ] {
            out.push_str(&format!("{uc} = 1000000000\n"));
        }
    }
    out
}

/// Runs a command to completion off the runtime's worker.
async fn blocking(cmd: &mut std::process::Command) -> anyhow::Result<std::process::Output> {
    let mut cmd = std::mem::replace(cmd, std::process::Command::new("true"));
    Ok(tokio::task::spawn_blocking(move || cmd.output()).await??)
}

fn slug(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// ListOwnedPages of the demo business, with `page_size` (0: unset).
pub fn request(page_size: i32) -> Bytes {
    request_of(BUSINESS, page_size)
}

/// ListOwnedPages of `business`, with `page_size` (0: unset).
pub fn request_of(business: &str, page_size: i32) -> Bytes {
    Bytes::from(
        graph_gateway::proto::ListOwnedPagesRequest {
            business_id: business.into(),
            page_size,
            ..Default::default()
        }
        .encode_to_vec(),
    )
}

/// The business whose pages the fixed upstream answers `n` of.
pub fn sized_business(n: usize) -> String {
    (super::servers::SIZED_BASE + n as u64).to_string()
}

fn method_path() -> PathAndQuery {
    PathAndQuery::from_static(METHOD)
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One measured run of one variant.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Round {
    /// Which variant.
    pub variant: String,
    /// What the load generator saw.
    pub summary: Summary,
    /// The server's CPU use, in cores (1.0 = one core busy).
    pub server_cpu: f64,
    /// The load generator's CPU use, in cores.
    pub client_cpu: f64,
    /// The whole machine's CPU use, in cores (anything above server + load
    /// generator + upstream is other work disturbing the measurement).
    pub machine_cpu: f64,
}

impl Round {
    /// Server CPU microseconds per request.
    pub fn cpu_us_per_req(&self) -> f64 {
        if self.summary.rps > 0.0 {
            self.server_cpu * 1e6 / self.summary.rps
        } else {
            0.0
        }
    }
}

async fn measured<F, Fut>(variant: &str, server: &Proc, run: F) -> Round
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Summary>,
{
    let (c0, s0, m0, t0) = (
        server.cpu_secs(),
        self_cpu_secs(),
        machine_busy_secs(),
        Instant::now(),
    );
    let summary = run().await;
    let wall = t0.elapsed().as_secs_f64();
    Round {
        variant: variant.to_string(),
        summary,
        server_cpu: (server.cpu_secs() - c0) / wall,
        client_cpu: (self_cpu_secs() - s0) / wall,
        machine_cpu: (machine_busy_secs() - m0) / wall,
    }
}

fn medians(rounds: &[Round], variant: &str) -> (f64, f64, f64) {
    let of = |f: &dyn Fn(&Round) -> f64| {
        median(
            rounds
                .iter()
                .filter(|r| r.variant == variant)
                .map(f)
                .collect(),
        )
    };
    (
        of(&|r| r.summary.rps),
        of(&|r| r.cpu_us_per_req()),
        of(&|r| r.server_cpu),
    )
}

// === P1 ===

/// P1: cache-hit throughput of the gateway vs a bare tonic echo.
#[derive(Debug, serde::Serialize)]
pub struct P1 {
    /// The fixed upstream's 25 pages (true) or the sandbox's 3.
    pub large: bool,
    /// Size of the response message, bytes.
    pub payload_bytes: usize,
    /// Closed-loop workers.
    pub concurrency: usize,
    /// HTTP/2 connections they share.
    pub connections: usize,
    /// Every round, alternating.
    pub rounds: Vec<Round>,
    /// Median echo throughput.
    pub echo_rps: f64,
    /// Median gateway throughput.
    pub gateway_rps: f64,
    /// gateway / echo.
    pub ratio: f64,
    /// Median server CPU per request, echo, microseconds.
    pub echo_cpu_us: f64,
    /// Median server CPU per request, gateway, microseconds.
    pub gateway_cpu_us: f64,
    /// Median server CPU use (cores), echo.
    pub echo_server_cpu: f64,
    /// Median server CPU use (cores), gateway.
    pub gateway_server_cpu: f64,
    /// Median throughput of the gateway with `log.filter = "warn"` (no
    /// per-RPC log line).
    pub quiet_rps: f64,
    /// Median server CPU per request of that gateway, microseconds.
    pub quiet_cpu_us: f64,
    /// The same with h2load, when installed: (echo rps, gateway rps).
    pub h2load: Option<(f64, f64)>,
    /// Resident set of the gateway after the load, KiB.
    pub gateway_rss_after_kib: u64,
    /// Resident set of the echo after the load, KiB.
    pub echo_rss_after_kib: u64,
}

/// Closed-loop workers of P1 and P4.
pub const CONCURRENCY: usize = 32;
/// HTTP/2 connections of P1 and P4.
pub const CONNECTIONS: usize = 4;

/// Runs P1: with the demo sandbox's answer (`large` false: 3 pages) or the
/// fixed upstream's (25 pages).
pub async fn p1(ctx: &Ctx, large: bool) -> anyhow::Result<P1> {
    let tag = if large { "P1L" } else { "P1" };
    let file = |what: &str| format!("{}-{what}", tag.to_ascii_lowercase());
    let config = |name: &str, addr: SocketAddr, extra: &str| {
        if large {
            ctx.upstream_config_with(name, addr, 3600, extra)
        } else {
            ctx.sandbox_config(name, addr, extra)
        }
    };
    let gw_addr = free_addr()?;
    let cfg = config(&file("gateway.toml"), gw_addr, "")?;
    let gw = ctx
        .gateway(&format!("{tag} gateway"), &cfg, gw_addr)
        .await?;
    let path = method_path();
    let gw_chans = load::connect(gw_addr, CONNECTIONS).await?;
    let body = request(0);
    // The first call fills the cache; the second is a hit.
    let first = load::call(&gw_chans[0], &path, body.clone()).await?;
    let payload = load::call(&gw_chans[0], &path, body.clone()).await?;
    anyhow::ensure!(first == payload, "a cache hit differs from the miss");
    let payload_file = ctx.path(&file("payload.bin"));
    std::fs::write(&payload_file, &payload)?;

    let (echo, echo_addr, echo_chans) =
        start_echo(ctx, &format!("{tag} echo"), &payload_file, CONNECTIONS).await?;
    let echoed = load::call(&echo_chans[0], &path, body.clone()).await?;
    anyhow::ensure!(echoed == payload, "the echo answers other bytes");

    // The same gateway without its per-RPC log line (log.filter = "warn"),
    // to show what that line costs.
    let quiet_addr = free_addr()?;
    let quiet_cfg = config(
        &file("gateway-quiet.toml"),
        quiet_addr,
        "\n[log]\nfilter = \"warn\"\n",
    )?;
    let quiet = ctx
        .gateway(&format!("{tag} gateway quiet"), &quiet_cfg, quiet_addr)
        .await?;
    let quiet_chans = load::connect(quiet_addr, CONNECTIONS).await?;
    load::call(&quiet_chans[0], &path, body.clone()).await?;

    let bodies = Arc::new(vec![body.clone()]);
    let mut rounds = Vec::new();
    for _ in 0..ctx.rounds() {
        for (variant, chans, server) in [
            ("echo", &echo_chans, &echo),
            ("gateway", &gw_chans, &gw),
            ("gateway, log.filter=warn", &quiet_chans, &quiet),
        ] {
            let r = measured(variant, server, || {
                load::closed_loop(
                    chans,
                    &path,
                    bodies.clone(),
                    CONCURRENCY,
                    ctx.warmup(),
                    ctx.measure(),
                )
            })
            .await;
            eprintln!(
                "  {tag} {variant:24} {:>9.0} rps  p50 {:>6.0} us  p99 {:>6.0} us  server {:.2} cores  client {:.2} cores  non-OK {:?}",
                r.summary.rps, r.summary.p50_us, r.summary.p99_us, r.server_cpu, r.client_cpu, r.summary.non_ok
            );
            rounds.push(r);
        }
    }
    let (echo_rps, echo_cpu_us, echo_server_cpu) = medians(&rounds, "echo");
    let (gateway_rps, gateway_cpu_us, gateway_server_cpu) = medians(&rounds, "gateway");
    let (quiet_rps, quiet_cpu_us, _) = medians(&rounds, "gateway, log.filter=warn");
    let h2load = match h2load_rps(ctx, echo_addr, &body)
        .await
        .map(|r| r.filter(|_| !large))
    {
        Ok(Some(e)) => h2load_rps(ctx, gw_addr, &body)
            .await
            .ok()
            .flatten()
            .map(|g| (e, g)),
        _ => None,
    };
    if let Some((e, g)) = h2load {
        eprintln!("  {tag} h2load  echo {e:.0} rps, gateway {g:.0} rps");
    }
    Ok(P1 {
        large,
        payload_bytes: payload.len(),
        concurrency: CONCURRENCY,
        connections: CONNECTIONS,
        echo_rps,
        gateway_rps,
        ratio: if echo_rps > 0.0 {
            gateway_rps / echo_rps
        } else {
            0.0
        },
        echo_cpu_us,
        gateway_cpu_us,
        echo_server_cpu,
        gateway_server_cpu,
        rounds,
        quiet_rps,
        quiet_cpu_us,
        h2load,
        gateway_rss_after_kib: gw.rss_kib(),
        echo_rss_after_kib: echo.rss_kib(),
    })
}

/// Starts the bare tonic echo answering the bytes of `payload_file` on the
/// server CPU, and connects `conns` channels to it.
async fn start_echo(
    ctx: &Ctx,
    name: &str,
    payload_file: &Path,
    conns: usize,
) -> anyhow::Result<(Proc, SocketAddr, Vec<tonic::transport::Channel>)> {
    let addr = free_addr()?;
    let mut echo = ctx.child(
        name,
        ctx.server_cpus(),
        &[
            "echo".into(),
            "--listen".into(),
            addr.to_string(),
            "--payload".into(),
            payload_file.display().to_string(),
        ],
    )?;
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        echo.check_alive()?;
        if let Ok(c) = load::connect(addr, conns).await {
            return Ok((echo, addr, c));
        }
        anyhow::ensure!(Instant::now() < give_up, "echo not listening");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// h2load's throughput for unary calls of `body` (None when h2load is not
/// installed).
async fn h2load_rps(ctx: &Ctx, addr: SocketAddr, body: &Bytes) -> anyhow::Result<Option<f64>> {
    if std::process::Command::new("h2load")
        .arg("--version")
        .output()
        .is_err()
    {
        return Ok(None);
    }
    let frame = ctx.path("p1-request.grpc");
    let mut f = vec![0u8];
    f.extend_from_slice(&u32::try_from(body.len())?.to_be_bytes());
    f.extend_from_slice(body);
    std::fs::write(&frame, f)?;
    let mut args: Vec<String> = Vec::new();
    if let Some(c) = ctx.client_cpus() {
        args.extend(["-c".into(), c.into(), "h2load".into()]);
    }
    args.extend(
        [
            "-t",
            "1",
            "-c",
            &CONNECTIONS.to_string(),
            "-m",
            &(CONCURRENCY / CONNECTIONS).to_string(),
            "--warm-up-time=1",
            "-D",
            &ctx.measure().as_secs().to_string(),
            "-d",
            &frame.display().to_string(),
            "-H",
            "content-type: application/grpc",
            "-H",
            "te: trailers",
            &format!("http://{addr}{METHOD}"),
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let program = if ctx.client_cpus().is_some() {
        "taskset"
    } else {
        "h2load"
    };
    let out = blocking(std::process::Command::new(program).args(&args)).await?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "finished in 5.00s, 23456.70 req/s, 12.34MB/s"
    let rps = text
        .lines()
        .find(|l| l.starts_with("finished in"))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|s| s.trim_end_matches(" req/s").parse::<f64>().ok());
    let failed = text
        .lines()
        .find(|l| l.starts_with("requests:"))
        .is_some_and(|l| !l.contains(" 0 failed, 0 errored"));
    anyhow::ensure!(!failed, "h2load saw failures:\n{text}");
    Ok(rps)
}

// === P2 ===

/// P2: latency added on a cache miss, vs a direct reqwest call.
#[derive(Debug, serde::Serialize)]
pub struct P2 {
    /// Calls per second, both variants.
    pub rate: u32,
    /// Rounds per variant.
    pub rounds: usize,
    /// Pooled over the rounds.
    pub direct: Summary,
    /// Pooled over the rounds.
    pub gateway: Summary,
    /// Upstream calls the gateway made per RPC (1.0: every RPC was a miss).
    pub upstream_calls_per_rpc: f64,
}

/// Open-loop rate of P2.
pub const P2_RATE: u32 = 500;

/// Runs P2 and P3 against one gateway (cache TTL 0) in front of the
/// fixed-response upstream.
pub async fn p2_p3(ctx: &Ctx) -> anyhow::Result<(P2, P3)> {
    let gw_addr = free_addr()?;
    let cfg = ctx.upstream_config("p2-gateway.toml", gw_addr, 0)?;
    let gw = ctx.gateway("P2 gateway", &cfg, gw_addr).await?;
    let p2 = p2(ctx, gw_addr).await?;
    let p3 = p3(ctx, gw_addr).await?;
    drop(gw);
    Ok((p2, p3))
}

async fn p2(ctx: &Ctx, gw_addr: SocketAddr) -> anyhow::Result<P2> {
    let table = graph_gateway::engine::routes::RouteTable::embedded()?;
    let fields = table
        .by_operation("PG04")
        .and_then(|r| r.default_fields.clone())
        .context("PG04 has no default fields")?;
    // The client the gateway itself uses upstream (src/graph/client.rs).
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .build()?;
    let url = Arc::new(format!(
        "{}/v26.0/{BUSINESS}/owned_pages",
        ctx.upstream_url()
    ));
    let fields = Arc::new(fields);
    let direct: CallFn = Arc::new(move |n| {
        let http = http.clone();
        let url = url.clone();
        let fields = fields.clone();
        Box::pin(async move {
            let limit = (n % 1000 + 1).to_string();
            let resp = http
                .get(url.as_str())
                .query(&[("fields", fields.as_str()), ("limit", limit.as_str())])
                .header(
                    http::header::AUTHORIZATION,
                    "Bearer EAAB-bench-not-a-real-token",
                )
                .send()
                .await
                .map_err(|_| "transport".to_string())?;
            if !resp.status().is_success() {
                return Err(format!("HTTP {}", resp.status().as_u16()));
            }
            resp.bytes().await.map_err(|_| "transport".to_string())?;
            Ok(())
        })
    });
    let chans = load::connect(gw_addr, 1).await?;
    let bodies: Arc<Vec<Bytes>> = Arc::new((1..=1000).map(request).collect());
    let path = method_path();
    let ch = chans[0].clone();
    let gateway: CallFn = Arc::new(move |n| {
        let ch = ch.clone();
        let body = bodies[n % bodies.len()].clone();
        let path = path.clone();
        Box::pin(async move {
            load::call(&ch, &path, body)
                .await
                .map(|_| ())
                .map_err(|s| code_label(&s))
        })
    });
    let (mut d_all, mut g_all) = (Samples::default(), Samples::default());
    let measure = ctx.measure();
    let (mut upstream_calls, mut gateway_rpcs) = (0u64, 0usize);
    for _ in 0..ctx.rounds() {
        let (d, _) = load::open_loop(P2_RATE, ctx.warmup(), measure, direct.clone()).await;
        let c0 = ctx.upstream_calls().await?;
        let (g, started) = load::open_loop(P2_RATE, ctx.warmup(), measure, gateway.clone()).await;
        let c1 = ctx.upstream_calls().await?;
        upstream_calls += c1 - c0;
        gateway_rpcs += started;
        let dn = d.clone_summary(measure);
        let gn = g.clone_summary(measure);
        eprintln!(
            "  P2 direct  p50 {:>6.0} us  p99 {:>6.0} us | gateway p50 {:>6.0} us  p99 {:>6.0} us  ({} upstream calls for {started} RPCs)  non-OK {:?} {:?}",
            dn.p50_us, dn.p99_us, gn.p50_us, gn.p99_us, c1 - c0, dn.non_ok, gn.non_ok
        );
        d_all.merge(d);
        g_all.merge(g);
    }
    let secs = measure.as_secs_f64() * ctx.rounds() as f64;
    Ok(P2 {
        rate: P2_RATE,
        rounds: ctx.rounds(),
        direct: d_all.summary(secs),
        gateway: g_all.summary(secs),
        upstream_calls_per_rpc: upstream_calls as f64 / gateway_rpcs.max(1) as f64,
    })
}

// === P3 ===

/// P3: identical concurrent cold reads vs upstream calls.
#[derive(Debug, serde::Serialize)]
pub struct P3 {
    /// Concurrent identical reads per trial.
    pub n: usize,
    /// The upstream's answer delay while they run, ms.
    pub delay_ms: u64,
    /// One entry per trial.
    pub trials: Vec<P3Trial>,
}

/// One P3 trial.
#[derive(Debug, serde::Serialize)]
pub struct P3Trial {
    /// Upstream calls the N reads caused.
    pub upstream_calls: u64,
    /// Reads answered OK.
    pub ok: u64,
    /// Reads answered otherwise.
    pub non_ok: u64,
    /// From the first send to the last answer, ms.
    pub wall_ms: f64,
}

/// Concurrent identical reads of P3.
pub const P3_N: usize = 1000;
/// The upstream's delay during P3, ms.
pub const P3_DELAY_MS: u64 = 1000;

async fn p3(ctx: &Ctx, gw_addr: SocketAddr) -> anyhow::Result<P3> {
    let path = method_path();
    ctx.set_upstream_delay(P3_DELAY_MS).await?;
    let mut trials = Vec::new();
    for t in 0..3 {
        let chans = load::connect(gw_addr, 8).await?;
        // Cache TTL 0 keeps nothing, so every read is cold; a page size per
        // trial keeps the trials apart anyway.
        let body = request(1000 - t);
        let before = ctx.upstream_calls().await?;
        let t0 = Instant::now();
        let mut tasks = Vec::with_capacity(P3_N);
        for i in 0..P3_N {
            let ch = chans[i % chans.len()].clone();
            let (path, body) = (path.clone(), body.clone());
            tasks.push(tokio::spawn(async move {
                load::call(&ch, &path, body).await.is_ok()
            }));
        }
        let (mut ok, mut non_ok) = (0, 0);
        for task in tasks {
            if task.await.unwrap_or(false) {
                ok += 1;
            } else {
                non_ok += 1;
            }
        }
        let wall_ms = t0.elapsed().as_secs_f64() * 1e3;
        let upstream_calls = ctx.upstream_calls().await? - before;
        eprintln!("  P3 trial {t}: {P3_N} reads -> {upstream_calls} upstream call(s), {ok} OK, {non_ok} not, {wall_ms:.0} ms");
        trials.push(P3Trial {
            upstream_calls,
            ok,
            non_ok,
            wall_ms,
        });
    }
    ctx.set_upstream_delay(0).await?;
    Ok(P3 {
        n: P3_N,
        delay_ms: P3_DELAY_MS,
        trials,
    })
}

// === P4 ===

/// P4: miss throughput with the quota engine on (limits that never bind)
/// vs off.
#[derive(Debug, serde::Serialize)]
pub struct P4 {
    /// Every round, alternating.
    pub rounds: Vec<Round>,
    /// Median throughput, quota off.
    pub off_rps: f64,
    /// Median throughput, quota on.
    pub on_rps: f64,
    /// on / off.
    pub ratio: f64,
    /// Median server CPU per request, off, microseconds.
    pub off_cpu_us: f64,
    /// Median server CPU per request, on, microseconds.
    pub on_cpu_us: f64,
    /// Median server CPU use (cores), off.
    pub off_server_cpu: f64,
    /// Median server CPU use (cores), on.
    pub on_server_cpu: f64,
    /// The `[quota]` section of the "on" config.
    pub quota_config: String,
}

/// Runs P4.
pub async fn p4(ctx: &Ctx) -> anyhow::Result<P4> {
    let mut servers = Vec::new();
    for (variant, flag) in [("quota off", "off"), ("quota on", "on")] {
        let addr = free_addr()?;
        let cfg = ctx.upstream_config(&format!("p4-{flag}.toml"), addr, 0)?;
        let mut p = ctx.child(
            &format!("P4 gateway {variant}"),
            ctx.server_cpus(),
            &[
                "gateway-lib".into(),
                "--config".into(),
                cfg.display().to_string(),
                "--quota".into(),
                flag.into(),
            ],
        )?;
        wait_serving(&mut p, addr, Duration::from_secs(60)).await?;
        let chans = load::connect(addr, CONNECTIONS).await?;
        servers.push((variant, p, chans));
    }
    let bodies: Arc<Vec<Bytes>> = Arc::new((1..=1000).map(request).collect());
    let path = method_path();
    let mut rounds = Vec::new();
    for _ in 0..ctx.rounds() {
        for (variant, server, chans) in &servers {
            let r = measured(variant, server, || {
                load::closed_loop(
                    chans,
                    &path,
                    bodies.clone(),
                    CONCURRENCY,
                    ctx.warmup(),
                    ctx.measure(),
                )
            })
            .await;
            eprintln!(
                "  P4 {variant:10} {:>8.0} rps  p50 {:>6.0} us  p99 {:>6.0} us  server {:.2} cores  client {:.2} cores  non-OK {:?}",
                r.summary.rps, r.summary.p50_us, r.summary.p99_us, r.server_cpu, r.client_cpu, r.summary.non_ok
            );
            rounds.push(r);
        }
    }
    let (off_rps, off_cpu_us, off_server_cpu) = medians(&rounds, "quota off");
    let (on_rps, on_cpu_us, on_server_cpu) = medians(&rounds, "quota on");
    Ok(P4 {
        ratio: if off_rps > 0.0 { on_rps / off_rps } else { 0.0 },
        rounds,
        off_rps,
        on_rps,
        off_cpu_us,
        on_cpu_us,
        off_server_cpu,
        on_server_cpu,
        quota_config: high_quota_toml(),
    })
}

// === P5 ===

/// P5: idle RSS and time from start to SERVING.
#[derive(Debug, serde::Serialize)]
pub struct P5 {
    /// With the embedded sandbox (`graph-gateway serve`, demo data).
    pub sandbox: P5Mode,
    /// In front of an upstream (graph.base_url and a seed file): the
    /// production shape.
    pub upstream: P5Mode,
}

/// P5 for one configuration.
#[derive(Debug, serde::Serialize)]
pub struct P5Mode {
    /// Spawn to first SERVING health answer, ms, per trial.
    pub ready_ms: Vec<f64>,
    /// VmRSS after a second idle, KiB, per trial.
    pub idle_rss_kib: Vec<u64>,
}

impl P5Mode {
    /// Medians: (ready ms, RSS KiB).
    pub fn medians(&self) -> (f64, f64) {
        (
            median(self.ready_ms.clone()),
            median(self.idle_rss_kib.iter().map(|k| *k as f64).collect()),
        )
    }
}

/// Runs P5.
pub async fn p5(ctx: &Ctx) -> anyhow::Result<P5> {
    let trials = if ctx.quick { 2 } else { 5 };
    let mut modes = Vec::new();
    for sandbox in [true, false] {
        let mut mode = P5Mode {
            ready_ms: Vec::new(),
            idle_rss_kib: Vec::new(),
        };
        for t in 0..trials {
            let addr = free_addr()?;
            let cfg = if sandbox {
                ctx.sandbox_config(&format!("p5-sandbox-{t}.toml"), addr, "")?
            } else {
                ctx.upstream_config(&format!("p5-upstream-{t}.toml"), addr, 60)?
            };
            let t0 = Instant::now();
            let name = if sandbox {
                "P5 gateway sandbox"
            } else {
                "P5 gateway upstream"
            };
            let mut p = Proc::spawn(
                name,
                ctx.server_cpus(),
                &ctx.gateway_bin,
                &["serve".into(), "--config".into(), cfg.display().to_string()],
                &[],
                &ctx.path(&format!("{}-{t}.log", slug(name))),
            )?;
            let ready = wait_serving(&mut p, addr, Duration::from_secs(60)).await?;
            mode.ready_ms.push((ready - t0).as_secs_f64() * 1e3);
            tokio::time::sleep(Duration::from_secs(1)).await;
            mode.idle_rss_kib.push(p.rss_kib());
        }
        let (ms, kib) = mode.medians();
        eprintln!(
            "  P5 {}: SERVING after {ms:.1} ms, idle RSS {:.1} MiB (medians of {trials})",
            if sandbox {
                "embedded sandbox"
            } else {
                "upstream + seed file"
            },
            kib / 1024.0
        );
        modes.push(mode);
    }
    let upstream = modes.pop().context("P5 upstream mode")?;
    let sandbox = modes.pop().context("P5 sandbox mode")?;
    Ok(P5 { sandbox, upstream })
}

// === the upstream ===

/// Starts the fixed-response upstream on the client CPU.
pub async fn start_upstream(
    dir: &Path,
    self_exe: &Path,
    pin: &Pinning,
) -> anyhow::Result<(Proc, SocketAddr)> {
    let addr = free_addr()?;
    let mut p = Proc::spawn(
        "upstream",
        pin.client.as_deref(),
        self_exe,
        &["upstream".into(), "--listen".into(), addr.to_string()],
        &[],
        &dir.join("upstream.log"),
    )?;
    wait_http(
        &mut p,
        &format!("http://{addr}/__stats"),
        Duration::from_secs(30),
    )
    .await?;
    Ok((p, addr))
}

// === the profile ===

/// Instructions and allocations per request, from valgrind.
#[derive(Debug, serde::Serialize)]
pub struct Profile {
    /// Calls counted per path by callgrind.
    pub callgrind_calls: u64,
    /// DHAT: calls in the short and the long series; per-request figures are
    /// (long - short) / (difference), so start-up and shutdown cancel out.
    pub dhat_calls: (u64, u64),
    /// Cache hit: instructions per request (callgrind).
    pub hit_instructions: f64,
    /// Cache hit: heap allocations per request (DHAT).
    pub hit_allocs: f64,
    /// Cache hit: bytes allocated per request (DHAT).
    pub hit_alloc_bytes: f64,
    /// Cache miss: instructions per request (callgrind).
    pub miss_instructions: f64,
    /// The bare tonic echo answering the hit's bytes: instructions per
    /// request (callgrind, same client, same count).
    pub echo_instructions: f64,
    /// Cache miss: heap allocations per request (DHAT).
    pub miss_allocs: f64,
    /// Cache miss: bytes allocated per request (DHAT).
    pub miss_alloc_bytes: f64,
}

/// Calls counted by callgrind per path.
const CALLGRIND_CALLS: u64 = 500;
/// DHAT's short and long series.
const DHAT_CALLS: (u64, u64) = (100, 500);

/// The release gateway in front of the fixed upstream (cache TTL 3600 s)
/// under valgrind: hits repeat one request, misses each ask a page size not
/// asked before. callgrind counts instructions between `callgrind_control`
/// zero and dump; DHAT counts allocations over whole runs, so three runs
/// (short/short, long hits, long misses) are subtracted. None when valgrind
/// is not installed.
pub async fn profile(ctx: &Ctx) -> anyhow::Result<Option<Profile>> {
    if std::process::Command::new("valgrind")
        .arg("--version")
        .output()
        .is_err()
    {
        return Ok(None);
    }
    // callgrind: one run, two counted phases.
    let (mut p, addr, out) = valgrind(ctx, "callgrind", "all").await?;
    let ch = load::connect(addr, 1).await?;
    series(&ch, 1, 0, 0).await?; // fills the cache for the hits
    series(&ch, 20, 20, 1).await?;
    let pid = p.pid().to_string();
    let mut dumps = Vec::new();
    for (hits, misses, from) in [(CALLGRIND_CALLS, 0, 0), (0, CALLGRIND_CALLS, 21)] {
        control(&["-z", &pid]).await?;
        series(&ch, hits, misses, from).await?;
        control(&["-d", &pid]).await?;
        dumps.push(PathBuf::from(format!(
            "{}.{}",
            out.display(),
            dumps.len() + 1
        )));
    }
    // The hit's bytes, for the echo's run below.
    let payload = load::call(&ch[0], &method_path(), request(0)).await?;
    drop(ch);
    stop(&mut p).await?;
    // The baseline under the same tool: the bare tonic echo answering the
    // same bytes, counted over as many calls after the same warm-up.
    let payload_file = ctx.path("profile-echo-payload.bin");
    std::fs::write(&payload_file, &payload)?;
    let echo_addr = free_addr()?;
    let echo_out = ctx.path("callgrind-echo.out");
    let mut echo = Proc::spawn(
        "valgrind callgrind echo",
        ctx.server_cpus(),
        Path::new("valgrind"),
        &[
            "--tool=callgrind".into(),
            format!("--callgrind-out-file={}", echo_out.display()),
            ctx.self_exe.display().to_string(),
            "echo".into(),
            "--listen".into(),
            echo_addr.to_string(),
            "--payload".into(),
            payload_file.display().to_string(),
        ],
        &[],
        &ctx.path("callgrind-echo.log"),
    )?;
    let give_up = Instant::now() + Duration::from_secs(180);
    let echo_ch = loop {
        echo.check_alive()?;
        if let Ok(c) = load::connect(echo_addr, 1).await {
            break c;
        }
        anyhow::ensure!(
            Instant::now() < give_up,
            "echo under valgrind not listening"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    series(&echo_ch, 21, 0, 0).await?;
    let echo_pid = echo.pid().to_string();
    control(&["-z", &echo_pid]).await?;
    series(&echo_ch, CALLGRIND_CALLS, 0, 0).await?;
    control(&["-d", &echo_pid]).await?;
    drop(echo_ch);
    stop(&mut echo).await?;
    dumps.push(PathBuf::from(format!("{}.1", echo_out.display())));
    let mut per = Vec::new();
    for (dump, what) in dumps.iter().zip(["hit", "miss", "echo"]) {
        let text =
            std::fs::read_to_string(dump).with_context(|| format!("reading {}", dump.display()))?;
        let total = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("summary:")
                    .or_else(|| l.strip_prefix("totals:"))
            })
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .context("callgrind dump without a summary")?;
        per.push(total / CALLGRIND_CALLS as f64);
        let listing = blocking(
            std::process::Command::new("callgrind_annotate")
                .arg("--inclusive=yes")
                .arg(dump),
        )
        .await?;
        std::fs::write(ctx.path(&format!("callgrind-{what}.txt")), &listing.stdout)?;
    }
    // DHAT: (short hits, short misses), (long hits, short misses),
    // (short hits, long misses).
    let (a, b) = DHAT_CALLS;
    let mut totals = Vec::new();
    for (hits, misses) in [(a, a), (b, a), (a, b)] {
        let (mut p, addr, _) = valgrind(ctx, "dhat", &format!("{hits}-{misses}")).await?;
        {
            let ch = load::connect(addr, 1).await?;
            series(&ch, 1, 0, 0).await?;
            series(&ch, hits, misses, 1).await?;
        }
        stop(&mut p).await?;
        totals.push(dhat_totals(&p.log)?);
    }
    let diff = (b - a) as f64;
    let profile = Profile {
        callgrind_calls: CALLGRIND_CALLS,
        dhat_calls: DHAT_CALLS,
        hit_instructions: per[0],
        miss_instructions: per[1],
        echo_instructions: per.get(2).copied().unwrap_or_default(),
        hit_allocs: (totals[1].0 - totals[0].0) / diff,
        hit_alloc_bytes: (totals[1].1 - totals[0].1) / diff,
        miss_allocs: (totals[2].0 - totals[0].0) / diff,
        miss_alloc_bytes: (totals[2].1 - totals[0].1) / diff,
    };
    eprintln!(
        "  profile: hit {:.0} instructions, {:.1} allocations ({:.0} B); miss {:.0} instructions, {:.1} allocations ({:.0} B) per request; echo {:.0} instructions",
        profile.hit_instructions,
        profile.hit_allocs,
        profile.hit_alloc_bytes,
        profile.miss_instructions,
        profile.miss_allocs,
        profile.miss_alloc_bytes,
        profile.echo_instructions
    );
    Ok(Some(profile))
}

/// `hits` calls of one request (cached by a first call), then `misses`
/// calls with page sizes `from`, `from + 1`, ... (each a key not read
/// before), one after another on one connection.
async fn series(
    ch: &[tonic::transport::Channel],
    hits: u64,
    misses: u64,
    from: i32,
) -> anyhow::Result<()> {
    let path = method_path();
    for _ in 0..hits {
        load::call(&ch[0], &path, request(0)).await?;
    }
    for i in 0..misses {
        // page_size is 1..=1000.
        let page_size = (i64::from(from) - 1 + i as i64).rem_euclid(1000) as i32 + 1;
        load::call(&ch[0], &path, request(page_size)).await?;
    }
    Ok(())
}

/// Starts the gateway under valgrind `tool` on the server CPU, in front of
/// the fixed upstream with cache TTL 3600 s.
async fn valgrind(
    ctx: &Ctx,
    tool: &str,
    label: &str,
) -> anyhow::Result<(Proc, SocketAddr, PathBuf)> {
    let addr = free_addr()?;
    let cfg = ctx.upstream_config(&format!("profile-{tool}-{label}.toml"), addr, 3600)?;
    let out = ctx.path(&format!("{tool}-{label}.out"));
    let mut args = vec![format!("--tool={tool}")];
    args.push(if tool == "callgrind" {
        format!("--callgrind-out-file={}", out.display())
    } else {
        format!("--dhat-out-file={}", out.display())
    });
    args.extend([
        ctx.profile_bin.display().to_string(),
        "serve".into(),
        "--config".into(),
        cfg.display().to_string(),
    ]);
    let mut p = Proc::spawn(
        &format!("valgrind {tool} {label}"),
        ctx.server_cpus(),
        Path::new("valgrind"),
        &args,
        &[],
        &ctx.path(&format!("{tool}-{label}.log")),
    )?;
    wait_serving(&mut p, addr, Duration::from_secs(180)).await?;
    Ok((p, addr, out))
}

async fn control(args: &[&str]) -> anyhow::Result<()> {
    let o = blocking(std::process::Command::new("callgrind_control").args(args)).await?;
    anyhow::ensure!(o.status.success(), "callgrind_control {args:?} failed");
    Ok(())
}

/// SIGTERM (the gateway drains and exits, so valgrind writes its output),
/// then waits for the exit.
async fn stop(p: &mut Proc) -> anyhow::Result<()> {
    let o = blocking(
        std::process::Command::new("kill")
            .arg("-TERM")
            .arg(p.pid().to_string()),
    )
    .await?;
    anyhow::ensure!(o.status.success(), "could not signal {}", p.name);
    let give_up = Instant::now() + Duration::from_secs(120);
    while p.check_alive().is_ok() {
        anyhow::ensure!(Instant::now() < give_up, "{} did not stop", p.name);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// DHAT's "Total: B bytes in N blocks" as (blocks, bytes).
fn dhat_totals(log: &Path) -> anyhow::Result<(f64, f64)> {
    let text = std::fs::read_to_string(log)?;
    let line = text
        .lines()
        .find_map(|l| l.split_once("Total:").map(|(_, r)| r.to_string()))
        .context("DHAT output without a total")?;
    let nums: Vec<f64> = line
        .split_whitespace()
        .filter_map(|w| w.replace(',', "").parse::<f64>().ok())
        .collect();
    anyhow::ensure!(nums.len() >= 2, "unexpected DHAT total: {line}");
    Ok((nums[1], nums[0]))
}

/// One warm-up call, then `n` calls one after another on one connection: a
/// hit series repeats one request (the warm-up filled the cache); a miss
/// series varies the page size, so with cache TTL 0 every call goes upstream.
pub async fn calls(addr: SocketAddr, n: u64, hit: bool) -> anyhow::Result<()> {
    let ch = load::connect(addr, 1).await?;
    if hit {
        series(&ch, n + 1, 0, 0).await
    } else {
        series(&ch, 0, n + 1, 1).await
    }
}

// === P6: how cost grows ===

/// P6: server CPU per hit and per miss against the response size and the
/// number of calls in flight.
#[derive(Debug, serde::Serialize)]
pub struct P6 {
    /// By response size (pages): one row each.
    pub by_size: Vec<GrowthRow>,
    /// By calls in flight (25 pages): one row each.
    pub by_concurrency: Vec<GrowthRow>,
}

/// One point of P6.
#[derive(Clone, Debug, serde::Serialize)]
pub struct GrowthRow {
    /// Pages in the answer.
    pub pages: usize,
    /// Closed-loop workers.
    pub in_flight: usize,
    /// Size of the response message, bytes.
    pub payload_bytes: usize,
    /// The bare echo with the same bytes.
    pub echo: Round,
    /// Cache hits.
    pub hit: Round,
    /// Cache misses (one upstream call each).
    pub miss: Round,
}

/// Runs P6: a hit gateway (TTL 3600) and a miss gateway (TTL 0) in front of
/// the fixed upstream, and an echo of the same answer, at each size, then
/// at each concurrency.
pub async fn p6(ctx: &Ctx) -> anyhow::Result<P6> {
    let hit_addr = free_addr()?;
    let hit_cfg = ctx.upstream_config("p6-hit.toml", hit_addr, 3600)?;
    let hit = ctx.gateway("P6 gateway hit", &hit_cfg, hit_addr).await?;
    let miss_addr = free_addr()?;
    let miss_cfg = ctx.upstream_config("p6-miss.toml", miss_addr, 0)?;
    let miss = ctx.gateway("P6 gateway miss", &miss_cfg, miss_addr).await?;
    let path = method_path();
    let window = if ctx.quick {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(3)
    };
    let warmup = Duration::from_millis(500);
    let mut points: Vec<(usize, usize)> = super::servers::SIZES
        .iter()
        .map(|&n| (n, CONCURRENCY))
        .collect();
    points.extend([(25, 1), (25, 256)]);
    let mut by_size = Vec::new();
    let mut by_concurrency = Vec::new();
    for (pages, in_flight) in points {
        let business = sized_business(pages);
        let conns = in_flight.min(CONNECTIONS);
        let hit_chans = load::connect(hit_addr, conns).await?;
        let miss_chans = load::connect(miss_addr, conns).await?;
        let hit_body = request_of(&business, 0);
        load::call(&hit_chans[0], &path, hit_body.clone()).await?;
        let payload = load::call(&hit_chans[0], &path, hit_body.clone()).await?;
        let payload_file = ctx.path(&format!("p6-payload-{pages}.bin"));
        std::fs::write(&payload_file, &payload)?;
        let (echo, _, echo_chans) =
            start_echo(ctx, &format!("P6 echo {pages}"), &payload_file, conns).await?;
        let run = |chans: Vec<tonic::transport::Channel>, bodies: Arc<Vec<Bytes>>| {
            let path = path.clone();
            async move { load::closed_loop(&chans, &path, bodies, in_flight, warmup, window).await }
        };
        let hits = Arc::new(vec![hit_body.clone()]);
        // Page sizes 1..=1000 with the sized business: no two calls in
        // flight share a key, so each is a real miss (the fixed upstream
        // answers `pages` pages whatever the limit).
        let misses: Arc<Vec<Bytes>> =
            Arc::new((1..=1000).map(|n| request_of(&business, n)).collect());
        let echo_round = measured("echo", &echo, || run(echo_chans.clone(), hits.clone())).await;
        let hit_round = measured("hit", &hit, || run(hit_chans.clone(), hits.clone())).await;
        let miss_round = measured("miss", &miss, || run(miss_chans.clone(), misses.clone())).await;
        eprintln!(
            "  P6 {pages:>4} pages {in_flight:>3} in flight: echo {:.1} us, hit {:.1} us, miss {:.1} us per request (non-OK {:?} {:?})",
            echo_round.cpu_us_per_req(),
            hit_round.cpu_us_per_req(),
            miss_round.cpu_us_per_req(),
            hit_round.summary.non_ok,
            miss_round.summary.non_ok,
        );
        drop(echo);
        let row = GrowthRow {
            pages,
            in_flight,
            payload_bytes: payload.len(),
            echo: echo_round,
            hit: hit_round,
            miss: miss_round,
        };
        if in_flight == CONCURRENCY {
            by_size.push(row);
        } else {
            by_concurrency.push(row);
        }
    }
    // The 32-in-flight row of 25 pages belongs to both tables.
    if let Some(r) = by_size.iter().find(|r| r.pages == 25) {
        by_concurrency.push(r.clone());
    }
    by_concurrency.sort_by_key(|r| r.in_flight);
    drop((hit, miss));
    Ok(P6 {
        by_size,
        by_concurrency,
    })
}
