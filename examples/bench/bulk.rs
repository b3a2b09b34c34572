//! The bulk quota benchmark (issue 16, item 5): one bulk operation of 1,000
//! targets (`BulkService.StartBulkOperation`: assign a person to 1,000 ad
//! accounts of the sandbox's Umbrella Brands) against the sandbox's scoring
//! model, where the business use case budget (`ads_management`, calls per
//! sliding window) binds, while an interactive caller reads on the same
//! budget. How long the operation takes against the least time the budget
//! permits, how many calls Graph refused (goal 0), and what the interactive
//! caller got.
//!
//! Everything runs on 127.0.0.1: the sandbox in this process, one gateway
//! (`target/release/graph-gateway serve`) as a child, killed at the end.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use graph_gateway::proto::ad_account_service_client::AdAccountServiceClient;
use graph_gateway::proto::bulk_service_client::BulkServiceClient;
use graph_gateway::proto::google::longrunning::operations_client::OperationsClient;
use graph_gateway::proto::google::longrunning::{operation, GetOperationRequest, Operation};
use graph_gateway::proto::{
    AdAccountTask, AssignAdAccountUserRequest, BulkOperationMetadata, BulkOperationResult,
    ListAdAccountUsersRequest, StartBulkOperationRequest,
};
use graph_gateway::sandbox::{Sandbox, ScoringConfig, UseCase};
use prost::Message as _;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

use super::procs::{free_addr, wait_serving, Proc};
use super::quota::serve_sandbox;
use super::scenarios::Ctx;

/// The sandbox's bulk business (1,200 ad accounts).
pub const BUSINESS: &str = "1000000004";
/// Its employee the operation assigns.
pub const USER: &str = "10402";
/// Targets of the operation.
pub const TARGETS: u64 = 1000;
/// The ad account the interactive caller reads (not a target).
pub const READ_ACCOUNT: &str = "act_2200001200";
/// Each interactive call's deadline.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// The budget and the load.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct BulkPlan {
    /// `ads_management` calls per window (sandbox and gateway).
    pub budget: u64,
    /// The sliding window of that budget, seconds.
    pub window_secs: u64,
    /// The interactive caller's demand, as a share of the budget's rate.
    pub interactive_share: f64,
    /// `[bulk] batch_size`.
    pub batch_size: usize,
}

impl BulkPlan {
    /// With an interactive caller at 10% of the budget's rate, or alone.
    fn new(quick: bool, interactive: bool) -> Self {
        Self {
            budget: if quick { 100 } else { 300 },
            window_secs: 10,
            interactive_share: if interactive { 0.1 } else { 0.0 },
            batch_size: 50,
        }
    }

    /// Calls per second the budget sustains.
    pub fn rate(&self) -> f64 {
        self.budget as f64 / self.window_secs as f64
    }
}

/// What the run measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BulkRun {
    /// The plan.
    pub plan: BulkPlan,
    /// From StartBulkOperation's answer to the operation reading done, s.
    pub elapsed_secs: f64,
    /// Calls the sandbox admitted while the operation ran (its 1,000 steps,
    /// the interactive reads, the gateway's own reads if any).
    pub calls_admitted: u64,
    /// The least time in which the budget admits that many calls from an
    /// empty window: `window × (calls − budget) ÷ budget`, s.
    pub minimum_secs: f64,
    /// `elapsed_secs ÷ minimum_secs`.
    pub ratio: f64,
    /// Calls the sandbox refused for a rate limit during the run.
    pub sandbox_throttles: u64,
    /// The operation's result: steps that succeeded, failed.
    pub succeeded: u32,
    /// See `succeeded`.
    pub failed: u32,
    /// Graph batch requests the operation sent.
    pub batch_requests: u32,
    /// Targets whose call reached the sandbox exactly once.
    pub sent_once_at_sandbox: u64,
    /// The others: path and how many requests reached it.
    pub not_once: Vec<String>,
    /// Steps settled by reading Graph (their answer was in doubt).
    pub settled_by_read: u32,
    /// Times the operation was read while it ran.
    pub progress_reads: u64,
    /// Whether `succeeded` never went down between reads.
    pub progress_monotonic: bool,
    /// The estimated end the operation gave when half its targets were
    /// done, minus the actual end, s (positive: it expected to end later).
    pub eta_error_at_half_secs: Option<f64>,
    /// Interactive calls sent while the operation ran.
    pub interactive_sent: u64,
    /// Of those, answered OK.
    pub interactive_ok: u64,
    /// Refused by the gateway (RESOURCE_EXHAUSTED).
    pub interactive_refused: u64,
    /// Any other outcome.
    pub interactive_other: u64,
    /// Median and 99th percentile latency of the OK interactive calls, ms.
    pub interactive_p50_ms: f64,
    /// See `interactive_p50_ms`.
    pub interactive_p99_ms: f64,
    /// Share of the calls admitted during the run that were interactive.
    pub interactive_share_of_calls: f64,
    /// Steps per second between 40% and 90% done.
    pub steady_steps_per_sec: f64,
    /// That plus the interactive caller's OK calls per second, as a share
    /// of the budget's rate.
    pub steady_share_of_budget: f64,
    /// The gateway's configuration.
    pub config: String,
}

fn gateway_toml(plan: BulkPlan, listen: &str, sandbox_url: &str, seed: &str) -> String {
    format!(
        "listen = \"{listen}\"\n\n\
         [graph]\nbase_url = \"{sandbox_url}\"\n\n\
         [vault]\nseed_file = \"{seed}\"\n\n\
         [cache]\nttl_secs = 0\n\n\
         [bulk]\nbatch = true\nbatch_size = {}\n\n\
         [quota]\n\
         per_token_per_sec = 10000\n\
         per_business_per_sec = 10000\n\
         burst = 10000\n\
         window_margin_ms = 100\n\
         target_fraction = 0.97\n\
         app_calls = 1000000\n\
         app_window_secs = 3600\n\
         business_use_case_calls = 1000000\n\
         business_use_case_window_secs = {}\n\
         ad_account_tier = \"development\"\n\
         ad_account_points_development = 1000000\n\
         ad_account_window_secs = {}\n\n\
         [quota.use_case_calls]\nads_management = {}\n\n\
         [quota.callers.ui]\nweight = 1\npriority = \"interactive\"\n\n\
         [quota.callers.bulk]\nweight = 1\npriority = \"batch\"\n",
        plan.batch_size, plan.window_secs, plan.window_secs, plan.budget
    )
}

fn metadata(op: &Operation) -> Option<BulkOperationMetadata> {
    let any = op.metadata.as_ref()?;
    BulkOperationMetadata::decode(any.value.as_slice()).ok()
}

fn caller<T>(req: &mut tonic::Request<T>, name: &str) {
    if let Ok(v) = name.parse() {
        req.metadata_mut().insert("x-caller", v);
    }
}

fn ts_secs(t: &prost_types::Timestamp) -> f64 {
    t.seconds as f64 + f64::from(t.nanos) / 1e9
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// Runs the benchmark once.
pub async fn run(ctx: &Ctx, interactive: bool) -> anyhow::Result<BulkRun> {
    let plan = BulkPlan::new(ctx.quick, interactive);
    let window = Duration::from_secs(plan.window_secs);
    let sandbox = Sandbox::demo().with_scoring(ScoringConfig {
        max_points: 1_000_000,
        decay_window: window,
        block_duration: window,
        buc_calls: 1_000_000,
        buc_calls_by_use_case: [(UseCase::AdsManagement, plan.budget)].into(),
        buc_window: window,
        buc_block: window,
        app_calls: 1_000_000,
        ..ScoringConfig::development()
    });
    let (sandbox_url, stop_sandbox, seed) =
        serve_sandbox(ctx, &sandbox, "bulk-tokens.toml").await?;
    let addr = free_addr()?;
    let config = gateway_toml(
        plan,
        &addr.to_string(),
        &sandbox_url,
        &seed.display().to_string(),
    );
    let cfg = ctx.dir.join("bulk-gateway.toml");
    std::fs::write(&cfg, &config)?;
    let mut p = Proc::spawn(
        "bulk gateway",
        ctx.pin.server.as_deref(),
        &ctx.gateway_bin,
        &["serve".into(), "--config".into(), cfg.display().to_string()],
        &[],
        &ctx.dir.join("bulk-gateway.log"),
    )?;
    wait_serving(&mut p, addr, Duration::from_secs(60)).await?;
    let ch = Endpoint::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect()
        .await?;

    let result = drive(&sandbox, plan, ch).await;
    p.check_alive()?;
    drop(p);
    let _ = stop_sandbox.send(());
    let mut r = result?;
    r.config = config;
    Ok(r)
}

/// One interactive call's end: OK with its latency, refused, or other.
enum Outcome {
    Ok(f64),
    Refused,
    Other,
}

async fn drive(sandbox: &Sandbox, plan: BulkPlan, ch: Channel) -> anyhow::Result<BulkRun> {
    let throttles_before = sandbox.throttled_count();
    let admitted_before = sandbox.calls_admitted();
    let targets: Vec<String> = (1..=TARGETS)
        .map(|n| format!("act_{}", 2_200_000_000 + n))
        .collect();
    let template = prost_types::Any {
        type_url: "type.googleapis.com/graphgateway.v1.AssignAdAccountUserRequest".into(),
        value: AssignAdAccountUserRequest {
            business_id: BUSINESS.into(),
            user: USER.into(),
            tasks: vec![AdAccountTask::Analyze as i32],
            ..Default::default()
        }
        .encode_to_vec(),
    };
    let mut start = tonic::Request::new(StartBulkOperationRequest {
        method: "graphgateway.v1.AdAccountService/AssignAdAccountUser".into(),
        template: Some(template),
        target_field: "ad_account_id".into(),
        targets,
        request_id: "bench-bulk-1".into(),
    });
    caller(&mut start, "bulk");

    // The interactive caller: open loop at its share of the budget's rate,
    // from just before the operation starts until it ends.
    let running = Arc::new(AtomicBool::new(true));
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let reader = {
        let (running, outcomes, ch) = (running.clone(), outcomes.clone(), ch.clone());
        let per_sec = plan.rate() * plan.interactive_share;
        let period = Duration::from_secs_f64(1.0 / per_sec.max(1e-3));
        tokio::spawn(async move {
            if per_sec <= 0.0 {
                return;
            }
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut calls = Vec::new();
            let mut n: u64 = 0;
            while running.load(Ordering::Relaxed) {
                tick.tick().await;
                n += 1;
                let (ch, outcomes) = (ch.clone(), outcomes.clone());
                calls.push(tokio::spawn(async move {
                    let mut req = tonic::Request::new(ListAdAccountUsersRequest {
                        ad_account_id: READ_ACCOUNT.into(),
                        business: BUSINESS.into(),
                        page_size: i32::try_from(n % 1000 + 1).unwrap_or(1),
                        ..Default::default()
                    });
                    req.set_timeout(CALL_TIMEOUT);
                    caller(&mut req, "ui");
                    let sent = Instant::now();
                    let r = AdAccountServiceClient::new(ch)
                        .list_ad_account_users(req)
                        .await;
                    let o = match r {
                        Ok(_) => Outcome::Ok(sent.elapsed().as_secs_f64() * 1e3),
                        Err(s) if s.code() == Code::ResourceExhausted => Outcome::Refused,
                        Err(_) => Outcome::Other,
                    };
                    if let Ok(mut v) = outcomes.lock() {
                        v.push(o);
                    }
                }));
            }
            for c in calls {
                let _ = c.await;
            }
        })
    };

    let op = BulkServiceClient::new(ch.clone())
        .start_bulk_operation(start)
        .await?
        .into_inner();
    let t0 = Instant::now();
    let name = op.name.clone();
    let mut ops = OperationsClient::new(ch.clone());
    let (mut reads, mut monotonic, mut last) = (0u64, true, 0i32);
    let mut eta_at_half: Option<f64> = None;
    // (seconds since start, succeeded) at every read.
    let mut samples: Vec<(f64, u64)> = Vec::new();
    let give_up = t0 + Duration::from_secs(600);
    let finished = loop {
        let mut req = tonic::Request::new(GetOperationRequest { name: name.clone() });
        caller(&mut req, "bulk");
        let op = ops.get_operation(req).await?.into_inner();
        reads += 1;
        if let Some(m) = metadata(&op) {
            samples.push((
                t0.elapsed().as_secs_f64(),
                u64::try_from(m.succeeded).unwrap_or(0),
            ));
            monotonic &= m.succeeded >= last;
            last = m.succeeded;
            if eta_at_half.is_none() && u64::try_from(m.succeeded).unwrap_or(0) * 2 >= TARGETS {
                eta_at_half = m.estimated_end_time.as_ref().map(ts_secs);
            }
        }
        if op.done {
            break op;
        }
        anyhow::ensure!(
            Instant::now() < give_up,
            "the operation did not finish in 600 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let elapsed = t0.elapsed().as_secs_f64();
    let ended_unix = unix_now();
    running.store(false, Ordering::Relaxed);
    let admitted = sandbox.calls_admitted() - admitted_before;
    reader.await?;
    let throttles = sandbox.throttled_count() - throttles_before;

    let meta = metadata(&finished).unwrap_or_default();
    let result = match finished.result {
        Some(operation::Result::Response(any)) => {
            BulkOperationResult::decode(any.value.as_slice())?
        }
        Some(operation::Result::Error(st)) => anyhow::bail!("the operation failed: {st:?}"),
        None => anyhow::bail!("a done operation without a result"),
    };
    let mut not_once = Vec::new();
    for n in 1..=TARGETS {
        let path = format!("/act_{}/assigned_users", 2_200_000_000 + n);
        let sent = sandbox.requests_to(&path);
        if sent != 1 {
            not_once.push(format!("{path}: {sent}"));
        }
    }
    let once = TARGETS - not_once.len() as u64;

    let outcomes = std::mem::take(&mut *outcomes.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    let mut lat: Vec<f64> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Ok(ms) => Some(*ms),
            _ => None,
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Refused))
        .count() as u64;
    let other = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Other))
        .count() as u64;
    let pick = |q: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 - 1.0) * q).round() as usize;
        lat.get(i).copied().unwrap_or_default()
    };
    // The steady rate: steps per second between 40% and 90% done (after
    // the first window's burst and wait), with the interactive caller's.
    let at = |share: f64| {
        samples
            .iter()
            .find(|(_, n)| *n as f64 >= share * TARGETS as f64)
            .copied()
    };
    let steady_steps_per_sec = match (at(0.4), at(0.9)) {
        (Some((t1, n1)), Some((t2, n2))) if t2 > t1 => (n2 - n1) as f64 / (t2 - t1),
        _ => 0.0,
    };
    let interactive_per_sec = lat.len() as f64 / elapsed.max(1e-9);
    let minimum = plan.window_secs as f64 * (admitted.saturating_sub(plan.budget)) as f64
        / plan.budget as f64;
    Ok(BulkRun {
        plan,
        elapsed_secs: elapsed,
        calls_admitted: admitted,
        minimum_secs: minimum,
        ratio: if minimum > 0.0 {
            elapsed / minimum
        } else {
            0.0
        },
        sandbox_throttles: throttles,
        succeeded: u32::try_from(result.succeeded).unwrap_or(0),
        failed: u32::try_from(result.failed).unwrap_or(0),
        batch_requests: u32::try_from(meta.batch_requests).unwrap_or(0),
        sent_once_at_sandbox: once,
        not_once,
        settled_by_read: u32::try_from(meta.settled_by_read).unwrap_or(0),
        progress_reads: reads,
        progress_monotonic: monotonic,
        eta_error_at_half_secs: eta_at_half.map(|eta| eta - ended_unix),
        interactive_sent: outcomes.len() as u64,
        interactive_ok: lat.len() as u64,
        interactive_refused: refused,
        interactive_other: other,
        interactive_p50_ms: pick(0.5),
        interactive_p99_ms: pick(0.99),
        interactive_share_of_calls: if admitted > 0 {
            lat.len() as f64 / admitted as f64
        } else {
            0.0
        },
        steady_steps_per_sec,
        steady_share_of_budget: (steady_steps_per_sec + interactive_per_sec) / plan.rate(),
        config: String::new(),
    })
}
