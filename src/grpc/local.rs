//! Handlers of RPCs that the gateway answers itself, without Graph (RPCs
//! with neither a graph nor a workflow option). build.rs calls
//! `local::<method>(svc, request)` for each; a missing handler is a compile
//! error, never a silent UNIMPLEMENTED.

use std::time::{Duration, SystemTime};

use crate::grpc::GatewayService;
use crate::proto::{
    GetQuotaStatusRequest, GetQuotaStatusResponse, QuotaClass, QuotaKeyStatus, QuotaMode,
    ReportedUsage, WaitingCaller,
};
use crate::quota::{KeyStatus, Mode, QuotaKey};
use crate::routes::QuotaClass as Class;

// BulkService: src/grpc/bulk.rs.
pub(crate) use super::bulk::start_bulk_operation;
// GraphPassthroughService (the governed pass-through): src/grpc/passthrough.rs.
pub(crate) use super::passthrough::call_graph;
// VaultService (admin only): src/grpc/vault.rs.
pub(crate) use super::vault::{check_token, delete_token, list_tokens, put_token, rotate_key};

/// QuotaService.GetQuotaStatus: the quota engine's snapshot, filtered.
pub(crate) async fn get_quota_status(
    svc: &GatewayService,
    request: tonic::Request<GetQuotaStatusRequest>,
) -> Result<tonic::Response<GetQuotaStatusResponse>, tonic::Status> {
    let req = request.into_inner();
    let kind = QuotaClass::try_from(req.kind).unwrap_or(QuotaClass::Unspecified);
    let ad_account = req.ad_account_id.trim_start_matches("act_");
    let snapshot = svc.engine().quota().snapshot().await;
    let keys = snapshot
        .keys
        .iter()
        .filter(|k| kind == QuotaClass::Unspecified || class_of(&k.key) == kind)
        .filter(|k| {
            req.business_id.is_empty()
                || matches!(&k.key, QuotaKey::BusinessUseCase { business, .. } if *business == req.business_id)
        })
        .filter(|k| {
            ad_account.is_empty()
                || matches!(&k.key, QuotaKey::AdAccount { id } if id == ad_account)
        })
        .map(key_status)
        .collect();
    Ok(tonic::Response::new(GetQuotaStatusResponse {
        mode: match snapshot.mode {
            Mode::Local => QuotaMode::Local,
            Mode::Shared => QuotaMode::Shared,
            Mode::Degraded => QuotaMode::Degraded,
        } as i32,
        replicas: i32::try_from(snapshot.replicas).unwrap_or(i32::MAX),
        keys,
    }))
}

fn class_of(key: &QuotaKey) -> QuotaClass {
    match key.class() {
        Class::App => QuotaClass::App,
        Class::BusinessUseCase => QuotaClass::BusinessUseCase,
        Class::AdAccount => QuotaClass::AdAccount,
    }
}

fn key_status(k: &KeyStatus) -> QuotaKeyStatus {
    let (id, use_case) = match &k.key {
        QuotaKey::App => (String::new(), String::new()),
        QuotaKey::BusinessUseCase { business, use_case } => (business.clone(), use_case.clone()),
        QuotaKey::AdAccount { id } => (format!("act_{id}"), String::new()),
    };
    let r = &k.reported;
    let secs = |s: Option<f64>| {
        s.filter(|s| s.is_finite() && *s >= 0.0)
            .and_then(|s| prost_types::Duration::try_from(Duration::from_secs_f64(s)).ok())
    };
    QuotaKeyStatus {
        kind: class_of(&k.key) as i32,
        id,
        use_case,
        reported: k.reported_pct.map(|_| ReportedUsage {
            report_time: r.at.map(timestamp),
            call_count: r.call_count.unwrap_or_default(),
            total_cputime: r.total_cputime.unwrap_or_default(),
            total_time: r.total_time.unwrap_or_default(),
            acc_id_util_pct: r.acc_id_util_pct.unwrap_or_default(),
            reset_time_duration: secs(r.reset_time_duration_secs),
            estimated_time_to_regain_access: secs(
                r.estimated_time_to_regain_access_mins.map(|m| m * 60.0),
            ),
            ads_api_access_tier: r.ads_api_access_tier.clone().unwrap_or_default(),
        }),
        reported_percent: k.reported_pct.unwrap_or_default(),
        budget: k.budget * k.scale,
        window: prost_types::Duration::try_from(k.window).ok(),
        used: k.used,
        left: k.left,
        paced: k.paced,
        rate_per_second: k.rate_per_second,
        hold_until: k.hold_until.map(timestamp),
        probing: k.probing,
        ceiling_applies: k.ceiling_applies,
        limit_percent: k.limit_pct,
        usage_percent: k.usage_pct,
        waiting: k
            .waiting
            .iter()
            .map(|w| WaitingCaller {
                caller: w.caller.clone(),
                calls: i32::try_from(w.calls).unwrap_or(i32::MAX),
            })
            .collect(),
    }
}

fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    prost_types::Timestamp::from(t)
}
