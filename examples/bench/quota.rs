//! The quota benchmark (issue 4): callers asking 10x what an ad account's
//! score allows, against the sandbox's scoring model (Meta's), for a warm-up
//! window and then at least two measured decay windows; once through one
//! gateway process (the in-process quota engine), once through three
//! gateway processes sharing one Redis, and once more through one process
//! against a score that resets (so Meta's `reset_time_duration`, rounded
//! down, names a time that is up to a second later than it says).
//!
//! Everything runs on 127.0.0.1: the sandbox in this process, the gateways
//! (`target/release/graph-gateway serve`) and redis-server as children,
//! killed when the run ends. The decay window is scaled down (see
//! [`Plan`]) so that the whole benchmark takes about two minutes.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use graph_gateway::proto::ad_account_service_client::AdAccountServiceClient;
use graph_gateway::proto::{AdAccountTask, AssignAdAccountUserRequest, ListAdAccountUsersRequest};
use graph_gateway::sandbox::{Decay, Sandbox, ScoringConfig};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;
use tonic_types::StatusExt as _;

use super::procs::{free_addr, wait_serving, Proc};
use super::scenarios::Ctx;

/// The demo business (its admin token reads the ad account).
pub const BUSINESS: &str = "1000000001";
/// The demo ad account every call reads or writes.
pub const ACCOUNT: &str = "act_2000000001";
/// The person the writing caller assigns to the ad account (Acme's
/// employee): the same assignment every time, which Graph accepts again.
pub const WRITE_USER: &str = "10002";
/// Points of a read and of a write in Meta's score (and the gateway's
/// `quota.ad_account_read_points` / `ad_account_write_points` defaults).
pub const READ_POINTS: u64 = 1;
/// See [`READ_POINTS`].
pub const WRITE_POINTS: u64 = 3;
/// Meta's development tier: points per decay window.
pub const MAX_POINTS: u64 = 60;
/// Meta's development tier: the decay window (and the block), seconds.
pub const META_WINDOW_SECS: u64 = 300;
/// Demand over what the score sustains.
pub const OVER_DEMAND: f64 = 10.0;
/// How long a granted point stays in the gateway's own window after the
/// window (`quota.window_margin_ms`): the time a call takes to reach Graph.
/// On loopback that is well under 10 ms; the default (500 ms) is for a real
/// network and would cost 3% of a 15 s window (0.17% of Meta's 300 s).
pub const MARGIN_MS: u64 = 100;
/// Each call's deadline (gRPC timeout).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// The gateway's `quota.target_fraction` (its default).
pub const TARGET_FRACTION: f64 = 0.97;

/// What one run varies: the engine, the score's model and the gateway's
/// target.
#[derive(Clone, Copy, Debug)]
struct Variant {
    gateways: usize,
    redis: bool,
    decay: Decay,
    target_fraction: f64,
    /// Which of the repeated runs (the shared engine's runs are repeated:
    /// three processes racing for one key vary more from run to run).
    run: Option<u32>,
}

/// How often the shared engine's run is repeated.
const SHARED_RUNS: u32 = 3;

/// The runs: the sliding score through one process and through three
/// sharing Redis (three times), then the resetting score (rounded-down reset times)
/// at the default target, and at a target of 1, where the gateway fills
/// the score to 100% and so holds the account for the reported reset
/// time and probes after it.
const VARIANTS: [Variant; 4 + SHARED_RUNS as usize - 1] = [
    Variant {
        gateways: 1,
        redis: false,
        decay: Decay::Sliding,
        target_fraction: TARGET_FRACTION,
        run: None,
    },
    Variant {
        gateways: 3,
        redis: true,
        decay: Decay::Sliding,
        target_fraction: TARGET_FRACTION,
        run: Some(1),
    },
    Variant {
        gateways: 3,
        redis: true,
        decay: Decay::Sliding,
        target_fraction: TARGET_FRACTION,
        run: Some(2),
    },
    Variant {
        gateways: 3,
        redis: true,
        decay: Decay::Sliding,
        target_fraction: TARGET_FRACTION,
        run: Some(3),
    },
    Variant {
        gateways: 1,
        redis: false,
        decay: Decay::Reset,
        target_fraction: TARGET_FRACTION,
        run: None,
    },
    Variant {
        gateways: 1,
        redis: false,
        decay: Decay::Reset,
        target_fraction: 1.0,
        run: None,
    },
];

/// One internal caller of the benchmark.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct CallerSpec {
    /// `x-caller`.
    pub name: &'static str,
    /// `quota.callers.NAME.weight`.
    pub weight: u32,
    /// `priority = "batch"` (else interactive).
    pub batch: bool,
    /// Its calls are writes (`AssignAdAccountUser`, 3 points) instead of
    /// reads (`ListAdAccountUsers`, 1 point).
    pub write: bool,
    /// Its demand in points, in multiples of what the score sustains.
    pub demand: f64,
}

impl CallerSpec {
    /// Points of one of its calls.
    pub fn cost(&self) -> u64 {
        if self.write {
            WRITE_POINTS
        } else {
            READ_POINTS
        }
    }
}

/// The callers: 4x + 4x + 2x = 10x the sustainable rate, in points; `api`
/// writes (3 points a call), the others read.
pub const CALLERS: [CallerSpec; 3] = [
    CallerSpec {
        name: "ui",
        weight: 2,
        batch: false,
        write: false,
        demand: 4.0,
    },
    CallerSpec {
        name: "api",
        weight: 1,
        batch: false,
        write: true,
        demand: 4.0,
    },
    CallerSpec {
        name: "reports",
        weight: 1,
        batch: true,
        write: false,
        demand: 2.0,
    },
];

/// The scaled scoring model and the run's length.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Plan {
    /// Decay window (and block) of the sandbox and of the gateways, seconds.
    pub window_secs: u64,
    /// Windows of load before the measured period (from a cold start).
    pub warmup_windows: u32,
    /// Windows measured.
    pub measured_windows: u32,
}

impl Plan {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                window_secs: 5,
                warmup_windows: 1,
                measured_windows: 2,
            }
        } else {
            Self {
                window_secs: 15,
                warmup_windows: 1,
                measured_windows: 2,
            }
        }
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.window_secs)
    }

    /// Points per second the score sustains.
    pub fn sustainable_per_sec(&self) -> f64 {
        MAX_POINTS as f64 / self.window_secs as f64
    }

    /// The most the gateway is designed to use: `target_fraction` of the
    /// budget, each point kept `window + margin`.
    pub fn engine_aim(&self) -> f64 {
        let w = self.window_secs as f64 * 1000.0;
        TARGET_FRACTION * w / (w + MARGIN_MS as f64)
    }
}

/// What one caller got in the measured period.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CallerOutcome {
    /// `x-caller`.
    pub name: String,
    /// Weight.
    pub weight: u32,
    /// "interactive" or "batch".
    pub priority: String,
    /// Calls it sent.
    pub sent: u64,
    /// "read" or "write".
    pub kind: String,
    /// Calls answered OK.
    pub ok: u64,
    /// Points those calls spent (`ok` x the call's points).
    pub points: u64,
    /// Calls refused by the gateway (RESOURCE_EXHAUSTED, QUOTA_EXHAUSTED).
    pub refused: u64,
    /// Its share of the points all OK calls spent.
    pub share: f64,
    /// Its share by weight and priority (weighted max-min over demand).
    pub expected: f64,
}

/// One run: a sandbox, N gateways, the callers.
#[derive(Clone, Debug, serde::Serialize)]
pub struct QuotaRun {
    /// What ran.
    pub name: String,
    /// Gateway processes.
    pub gateways: usize,
    /// The score's model: "sliding" or "reset".
    pub model: String,
    /// The gateways' `quota.target_fraction`.
    pub target_fraction: f64,
    /// Times the sandbox's score went up to 100% (sampled every 50 ms):
    /// each makes Meta report 100% with a reset time, which the gateway
    /// answers with a hold and one probe after it.
    pub full_score_episodes: u64,
    /// Through Redis.
    pub redis: bool,
    /// Calls the sandbox refused for a rate limit during the whole run
    /// (warm-up included): codes 4, 17, 800xx.
    pub sandbox_throttles: u64,
    /// Points the sandbox admitted in each window (warm-up first).
    pub per_window: Vec<u64>,
    /// Points admitted in the measured windows.
    pub spent: u64,
    /// `MAX_POINTS` x measured windows.
    pub allowed: u64,
    /// `spent / allowed`.
    pub used: f64,
    /// Highest score the sandbox showed (`acc_id_util_pct`, sampled every
    /// 50 ms), percent.
    pub peak_score_pct: f64,
    /// Calls sent in the measured period, all callers.
    pub sent: u64,
    /// Answered OK.
    pub ok: u64,
    /// Refused by the gateways: RESOURCE_EXHAUSTED with QUOTA_EXHAUSTED.
    pub refused: u64,
    /// Of those, with RetryInfo.
    pub refused_with_retry_info: u64,
    /// RESOURCE_EXHAUSTED with GRAPH_THROTTLED (Meta's refusal passed on).
    pub graph_throttled: u64,
    /// Every other outcome, by gRPC code.
    pub other: BTreeMap<String, u64>,
    /// Median RetryInfo delay of the refusals, ms.
    pub retry_delay_p50_ms: f64,
    /// Per caller.
    pub callers: Vec<CallerOutcome>,
    /// Largest |share - expected| over the callers, points of percent.
    pub share_error_pts: f64,
}

/// The whole quota benchmark.
#[derive(Clone, Debug, serde::Serialize)]
pub struct QuotaResults {
    /// Window and length.
    pub plan: Plan,
    /// Points per window.
    pub max_points: u64,
    /// `quota.window_margin_ms`.
    pub margin_ms: u64,
    /// `quota.target_fraction`.
    pub target_fraction: f64,
    /// Demand over the sustainable rate.
    pub over_demand: f64,
    /// Callers.
    pub callers: Vec<CallerSpec>,
    /// The runs.
    pub runs: Vec<QuotaRun>,
    /// The gateway configuration of the Redis run (the single one lacks
    /// `[redis]` and has `replicas = 1`).
    pub config: String,
    /// The bulk operation under the business use case budget (issue 16).
    pub bulk: Option<super::bulk::BulkRun>,
    /// The same operation with no interactive caller (issue 16).
    pub bulk_alone: Option<super::bulk::BulkRun>,
}

/// Runs both runs.
pub async fn run(ctx: &Ctx) -> anyhow::Result<QuotaResults> {
    let plan = Plan::new(ctx.quick);
    let mut runs = Vec::new();
    let mut config = String::new();
    for v in VARIANTS {
        let (r, cfg) = one_run(ctx, plan, v).await?;
        eprintln!(
            "  quota, {}: {} sandbox throttles, {:.1}% of the allowed points used ({} of {}; per window {:?}), shares {}",
            r.name,
            r.sandbox_throttles,
            r.used * 100.0,
            r.spent,
            r.allowed,
            r.per_window,
            r.callers
                .iter()
                .map(|c| format!("{} {:.1}% (expected {:.1}%)", c.name, c.share * 100.0, c.expected * 100.0))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if v.redis && config.is_empty() {
            config = cfg;
        }
        runs.push(r);
    }
    let bulk = super::bulk::run(ctx, true).await?;
    eprintln!(
        "  quota, bulk: {} targets in {:.1} s, {:.2}x the least time the budget permits ({:.1} s for {} calls); {} sandbox throttles; {} succeeded, {} failed, {} sent once (others: {:?}), {} settled by read; interactive {} of {} OK (p50 {:.0} ms, p99 {:.0} ms), {} refused",
        super::bulk::TARGETS,
        bulk.elapsed_secs,
        bulk.ratio,
        bulk.minimum_secs,
        bulk.calls_admitted,
        bulk.sandbox_throttles,
        bulk.succeeded,
        bulk.failed,
        bulk.sent_once_at_sandbox,
        bulk.not_once,
        bulk.settled_by_read,
        bulk.interactive_ok,
        bulk.interactive_sent,
        bulk.interactive_p50_ms,
        bulk.interactive_p99_ms,
        bulk.interactive_refused
    );
    let alone = super::bulk::run(ctx, false).await?;
    eprintln!(
        "  quota, bulk alone: {:.1} s, {:.2}x the least time ({:.1} s for {} calls); {} sandbox throttles; {} succeeded, {} sent once, {} batch requests",
        alone.elapsed_secs,
        alone.ratio,
        alone.minimum_secs,
        alone.calls_admitted,
        alone.sandbox_throttles,
        alone.succeeded,
        alone.sent_once_at_sandbox,
        alone.batch_requests
    );
    Ok(QuotaResults {
        plan,
        max_points: MAX_POINTS,
        margin_ms: MARGIN_MS,
        target_fraction: TARGET_FRACTION,
        over_demand: OVER_DEMAND,
        callers: CALLERS.to_vec(),
        runs,
        config,
        bulk: Some(bulk),
        bulk_alone: Some(alone),
    })
}

/// The gateway's `[quota]` (and `[redis]`) for the scaled model.
fn quota_toml(plan: Plan, v: Variant, redis_url: Option<&str>) -> String {
    let mut t = format!(
        "[quota]\n\
         ad_account_tier = \"development\"\n\
         ad_account_points_development = {MAX_POINTS}\n\
         ad_account_window_secs = {}\n\
         window_margin_ms = {MARGIN_MS}\n\
         target_fraction = {}\n\
         app_calls = 10000\n\
         app_window_secs = 3600\n\
         business_use_case_calls = 100000\n\
         replicas = {}\n\n\
         [quota.use_case_calls]\n\
         ads_management = 100000\n",
        plan.window_secs, v.target_fraction, v.gateways
    );
    for c in CALLERS {
        t.push_str(&format!(
            "\n[quota.callers.{}]\nweight = {}\npriority = \"{}\"\n",
            c.name,
            c.weight,
            if c.batch { "batch" } else { "interactive" }
        ));
    }
    if let Some(url) = redis_url {
        t.push_str(&format!(
            "\n[redis]\nurl = \"{url}\"\nkey_prefix = \"bench-quota\"\n"
        ));
    }
    t
}

/// Starts redis-server on a free port (no persistence) and waits for PING.
async fn start_redis(ctx: &Ctx) -> anyhow::Result<(Proc, String)> {
    let addr = free_addr()?;
    let dir = ctx.dir.join("redis");
    std::fs::create_dir_all(&dir)?;
    let mut p = Proc::spawn(
        "redis-server",
        ctx.pin.client.as_deref(),
        Path::new("redis-server"),
        &[
            "--port".into(),
            addr.port().to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            "--dir".into(),
            dir.display().to_string(),
        ],
        &[],
        &ctx.dir.join("redis.log"),
    )
    .context("redis-server must be installed (apt-get install redis-server)")?;
    let url = format!("redis://{addr}");
    let client = redis::Client::open(url.as_str())?;
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        p.check_alive()?;
        if let Ok(mut c) = client.get_multiplexed_async_connection().await {
            let pong: Result<String, _> = redis::cmd("PING").query_async(&mut c).await;
            if pong.is_ok() {
                return Ok((p, url));
            }
        }
        anyhow::ensure!(Instant::now() < give_up, "redis-server did not answer PING");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Serves `sandbox` on a free loopback port and writes a vault seed file of
/// its demo tokens (`ctx.dir/seed_name`): (its URL, its stop switch, the
/// seed file).
pub async fn serve_sandbox(
    ctx: &Ctx,
    sandbox: &Sandbox,
    seed_name: &str,
) -> anyhow::Result<(String, tokio::sync::oneshot::Sender<()>, std::path::PathBuf)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let sandbox_url = format!("http://{}", listener.local_addr()?);
    let (stop_sandbox, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(sandbox.clone().serve(listener, async move {
        let _ = stopped.await;
    }));
    let seed = ctx.dir.join(seed_name);
    let mut text = String::new();
    for t in sandbox
        .demo_tokens()
        .iter()
        .filter(|t| !t.businesses.is_empty())
    {
        text.push_str(&format!(
            "[[token]]\nname = {:?}\nkind = \"system_user\"\nbusinesses = {:?}\nvalue = {:?}\n\n",
            t.name,
            t.businesses,
            t.secret.expose()
        ));
    }
    std::fs::write(&seed, text)?;
    Ok((sandbox_url, stop_sandbox, seed))
}

/// How one call ended.
enum Outcome {
    Ok,
    Refused { retry_ms: Option<f64> },
    GraphThrottled,
    Other(String),
}

fn classify(r: Result<(), tonic::Status>) -> Outcome {
    let s = match r {
        Ok(()) => return Outcome::Ok,
        Err(s) => s,
    };
    if s.code() == Code::ResourceExhausted {
        let details = s.get_error_details();
        let reason = details.error_info().map(|i| i.reason.clone());
        match reason.as_deref() {
            Some("QUOTA_EXHAUSTED") => {
                let retry_ms = details
                    .retry_info()
                    .and_then(|r| r.retry_delay)
                    .map(|d| d.as_secs_f64() * 1e3);
                return Outcome::Refused { retry_ms };
            }
            Some("GRAPH_THROTTLED") => return Outcome::GraphThrottled,
            Some(other) => return Outcome::Other(format!("ResourceExhausted/{other}")),
            None => {}
        }
    }
    if s.code() == Code::Cancelled && s.message() == "Timeout expired" {
        // The call's own deadline, seen first by the client's timer.
        return Outcome::Other("DeadlineExceeded (client timer)".into());
    }
    Outcome::Other(format!("{:?}", s.code()))
}

/// One finished call: caller index, when it was sent and answered
/// (seconds from the load's start), how it ended.
struct Done {
    caller: usize,
    answered: f64,
    outcome: Outcome,
}

async fn one_run(ctx: &Ctx, plan: Plan, v: Variant) -> anyhow::Result<(QuotaRun, String)> {
    let (gateways, with_redis) = (v.gateways, v.redis);
    let (name, tag) = match (with_redis, v.decay) {
        (true, _) => {
            let run = v.run.unwrap_or(1);
            (
                format!("{gateways} gateway processes sharing Redis, run {run} of {SHARED_RUNS}"),
                format!("redis-{run}"),
            )
        }
        (false, Decay::Sliding) => (
            "1 gateway process (in-process engine)".to_string(),
            "single".to_string(),
        ),
        (false, Decay::Reset) => (
            format!(
                "1 gateway process, resetting score, reset times rounded down, target {}",
                v.target_fraction
            ),
            format!("reset-{}", v.target_fraction),
        ),
    };
    // The sandbox: Meta's development tier with the window (and block)
    // scaled; business use cases out of the way (only the score binds).
    let sandbox = Sandbox::demo().with_scoring(ScoringConfig {
        decay_window: plan.window(),
        decay: v.decay,
        block_duration: plan.window(),
        buc_calls: 100_000,
        ..ScoringConfig::development()
    });
    let (sandbox_url, stop_sandbox, seed) =
        serve_sandbox(ctx, &sandbox, "quota-tokens.toml").await?;

    let redis = if with_redis {
        Some(start_redis(ctx).await?)
    } else {
        None
    };
    let quota = quota_toml(plan, v, redis.as_ref().map(|(_, u)| u.as_str()));
    let mut procs = Vec::new();
    let mut channels = Vec::new();
    for i in 0..gateways {
        let addr = free_addr()?;
        let cfg = ctx.dir.join(format!("quota-{tag}-{i}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "listen = \"{addr}\"\n\n[graph]\nbase_url = \"{sandbox_url}\"\n\n[vault]\nseed_file = \"{}\"\n\n[cache]\nttl_secs = 0\n\n{quota}",
                seed.display()
            ),
        )?;
        let gw_name = format!("quota {tag} gateway {i}");
        let mut p = Proc::spawn(
            &gw_name,
            ctx.pin.server.as_deref(),
            &ctx.gateway_bin,
            &["serve".into(), "--config".into(), cfg.display().to_string()],
            &[],
            &ctx.dir.join(format!("quota-{tag}-{i}.log")),
        )?;
        wait_serving(&mut p, addr, Duration::from_secs(60)).await?;
        procs.push(p);
        channels.push(
            Endpoint::from_shared(format!("http://{addr}"))?
                .tcp_nodelay(true)
                .connect()
                .await?,
        );
    }

    let result = drive(&sandbox, plan, &channels).await;
    for p in &mut procs {
        p.check_alive()?;
    }
    drop(procs);
    drop(redis);
    let _ = stop_sandbox.send(());
    let mut r = result?;
    r.name = name;
    r.gateways = gateways;
    r.redis = with_redis;
    r.model = match v.decay {
        Decay::Sliding => "sliding".to_string(),
        Decay::Reset => "reset".to_string(),
    };
    r.target_fraction = v.target_fraction;
    Ok((r, quota))
}

/// Sends the load, samples the sandbox, and sums up.
async fn drive(sandbox: &Sandbox, plan: Plan, channels: &[Channel]) -> anyhow::Result<QuotaRun> {
    let window = plan.window();
    let total_windows = plan.warmup_windows + plan.measured_windows;
    let t0 = Instant::now();
    let end = t0 + window * total_windows;
    let done: Arc<Mutex<Vec<Done>>> = Arc::default();
    let sent: Arc<Vec<AtomicU64>> = Arc::new(CALLERS.iter().map(|_| AtomicU64::new(0)).collect());
    let measure_from = (window * plan.warmup_windows).as_secs_f64();
    let seq = Arc::new(AtomicU64::new(0));

    // Open loop per caller: one call every 1/rate s, whatever the others do.
    let mut senders = Vec::new();
    for (ci, spec) in CALLERS.iter().enumerate() {
        let rate = spec.demand * plan.sustainable_per_sec() / spec.cost() as f64;
        let period = Duration::from_secs_f64(1.0 / rate);
        let (channels, done, sent, seq) =
            (channels.to_vec(), done.clone(), sent.clone(), seq.clone());
        let name = spec.name;
        let write = spec.write;
        senders.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(t0, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut calls = Vec::new();
            loop {
                let at = tick.tick().await;
                if at >= end {
                    break;
                }
                let n = seq.fetch_add(1, Ordering::Relaxed);
                if at.duration_since(t0).as_secs_f64() >= measure_from {
                    if let Some(s) = sent.get(ci) {
                        s.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let Some(ch) = channels.get(n as usize % channels.len()).cloned() else {
                    break;
                };
                let done = done.clone();
                calls.push(tokio::spawn(async move {
                    let r = if write {
                        let mut req = tonic::Request::new(AssignAdAccountUserRequest {
                            ad_account_id: ACCOUNT.into(),
                            business_id: BUSINESS.into(),
                            user: WRITE_USER.into(),
                            tasks: vec![AdAccountTask::Analyze as i32],
                            ..Default::default()
                        });
                        req.set_timeout(CALL_TIMEOUT);
                        if let Ok(v) = name.parse() {
                            req.metadata_mut().insert("x-caller", v);
                        }
                        AdAccountServiceClient::new(ch)
                            .assign_ad_account_user(req)
                            .await
                            .map(|_| ())
                    } else {
                        let mut req = tonic::Request::new(ListAdAccountUsersRequest {
                            ad_account_id: ACCOUNT.into(),
                            business: BUSINESS.into(),
                            // Distinct requests (page_size is 1..=1000, and
                            // far fewer than 1000 calls are in flight at
                            // once): nothing cached or coalesced.
                            page_size: i32::try_from(n % 1000 + 1).unwrap_or(1),
                            ..Default::default()
                        });
                        req.set_timeout(CALL_TIMEOUT);
                        if let Ok(v) = name.parse() {
                            req.metadata_mut().insert("x-caller", v);
                        }
                        AdAccountServiceClient::new(ch)
                            .list_ad_account_users(req)
                            .await
                            .map(|_| ())
                    };
                    let answered = t0.elapsed().as_secs_f64();
                    let outcome = classify(r);
                    if let Ok(mut d) = done.lock() {
                        d.push(Done {
                            caller: ci,
                            answered,
                            outcome,
                        });
                    }
                }));
            }
            for c in calls {
                let _ = c.await;
            }
        }));
    }

    // The sandbox at every window boundary, and its score every 50 ms.
    let mut boundaries = vec![sandbox.points_spent(ACCOUNT)];
    let mut peak: f64 = 0.0;
    let (mut full_episodes, mut full) = (0u64, false);
    for j in 1..=total_windows {
        let at = t0 + window * j;
        while Instant::now() < at {
            let score = sandbox.score(ACCOUNT);
            peak = peak.max(score);
            let now_full = score >= 100.0;
            if now_full && !full {
                full_episodes += 1;
            }
            full = now_full;
            let next = (Instant::now() + Duration::from_millis(50)).min(at);
            tokio::time::sleep_until(next).await;
        }
        boundaries.push(sandbox.points_spent(ACCOUNT));
    }
    for s in senders {
        s.await?;
    }
    let sandbox_throttles = sandbox.throttled_count();

    let per_window: Vec<u64> = boundaries.windows(2).map(|w| w[1] - w[0]).collect();
    let spent: u64 = per_window.iter().skip(plan.warmup_windows as usize).sum();
    let allowed = MAX_POINTS * u64::from(plan.measured_windows);
    let measure_to = (window * total_windows).as_secs_f64();

    let done = std::mem::take(&mut *done.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    let mut ok = vec![0u64; CALLERS.len()];
    let mut refused = vec![0u64; CALLERS.len()];
    let (mut with_retry, mut graph_throttled) = (0u64, 0u64);
    let mut other = BTreeMap::<String, u64>::new();
    let mut delays = Vec::new();
    for d in &done {
        if d.answered < measure_from || d.answered >= measure_to {
            continue;
        }
        match &d.outcome {
            Outcome::Ok => ok[d.caller] += 1,
            Outcome::Refused { retry_ms } => {
                refused[d.caller] += 1;
                if let Some(ms) = retry_ms {
                    with_retry += 1;
                    delays.push(*ms);
                }
            }
            Outcome::GraphThrottled => graph_throttled += 1,
            Outcome::Other(code) => *other.entry(code.clone()).or_default() += 1,
        }
    }
    delays.sort_by(f64::total_cmp);
    let total_ok: u64 = ok.iter().sum();
    let points: Vec<u64> = CALLERS.iter().zip(&ok).map(|(c, n)| n * c.cost()).collect();
    let total_points: u64 = points.iter().sum();
    let expected = fair_shares();
    let callers: Vec<CallerOutcome> = CALLERS
        .iter()
        .enumerate()
        .map(|(i, c)| CallerOutcome {
            name: c.name.to_string(),
            weight: c.weight,
            priority: if c.batch { "batch" } else { "interactive" }.to_string(),
            sent: sent.get(i).map_or(0, |s| s.load(Ordering::Relaxed)),
            kind: if c.write { "write" } else { "read" }.to_string(),
            ok: ok[i],
            points: points[i],
            refused: refused[i],
            share: if total_points > 0 {
                points[i] as f64 / total_points as f64
            } else {
                0.0
            },
            expected: expected[i],
        })
        .collect();
    let share_error_pts = callers
        .iter()
        .map(|c| (c.share - c.expected).abs() * 100.0)
        .fold(0.0, f64::max);
    Ok(QuotaRun {
        name: String::new(),
        gateways: 0,
        model: String::new(),
        target_fraction: 0.0,
        full_score_episodes: full_episodes,
        redis: false,
        sandbox_throttles,
        per_window,
        spent,
        allowed,
        used: spent as f64 / allowed as f64,
        peak_score_pct: peak,
        sent: callers.iter().map(|c| c.sent).sum(),
        ok: total_ok,
        refused: refused.iter().sum(),
        refused_with_retry_info: with_retry,
        graph_throttled,
        other,
        retry_delay_p50_ms: delays.get(delays.len() / 2).copied().unwrap_or(0.0),
        callers,
        share_error_pts,
    })
}

/// Each caller's share of a capacity of 1 (in units of the sustainable
/// rate): interactive callers first, then batch; within a priority,
/// weighted max-min fairness over their demands (what weighted fair
/// queuing converges to when every caller keeps calls waiting).
pub fn fair_shares() -> Vec<f64> {
    let mut share = vec![0.0; CALLERS.len()];
    let mut left = 1.0_f64;
    for batch in [false, true] {
        let mut open: Vec<usize> = (0..CALLERS.len())
            .filter(|&i| CALLERS[i].batch == batch)
            .collect();
        while left > 1e-12 && !open.is_empty() {
            let weights: f64 = open.iter().map(|&i| f64::from(CALLERS[i].weight)).sum();
            // The largest step before some caller's demand is met.
            let step = open
                .iter()
                .map(|&i| (CALLERS[i].demand - share[i]) / f64::from(CALLERS[i].weight))
                .fold(left / weights, f64::min);
            for &i in &open {
                share[i] += step * f64::from(CALLERS[i].weight);
            }
            left -= step * weights;
            open.retain(|&i| CALLERS[i].demand - share[i] > 1e-12);
        }
    }
    share
}
