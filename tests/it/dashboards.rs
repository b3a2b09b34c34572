//! The Helm chart's Grafana dashboard (`helm/graph-gateway/files/dashboard.json`)
//! and alerts (`files/alerts.yaml`, the PrometheusRule) query only metrics the
//! gateway serves: a gateway with `[metrics] listen` takes some traffic, its
//! /metrics is scraped, and every metric name in every panel query and alert
//! expression must be a served family (histograms and counters count with their
//! `_bucket`, `_count`, `_sum`, `_total` series).

use std::collections::BTreeSet;

use graph_gateway::config::Config;
use graph_gateway::proto::ad_account_service_client::AdAccountServiceClient;
use graph_gateway::proto::page_service_client::PageServiceClient;
use graph_gateway::proto::{ListOwnedAdAccountsRequest, ListOwnedPagesRequest};

use crate::harness::TestGateway;

const DASHBOARD: &str = include_str!("../../helm/graph-gateway/files/dashboard.json");
const ALERTS: &str = include_str!("../../helm/graph-gateway/files/alerts.yaml");

/// PromQL words that are not metric names: aggregation operators, grouping
/// and vector-matching keywords, set and comparison keywords.
const KEYWORDS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
];

/// The metric names a PromQL expression selects: identifiers left once string
/// literals, label matchers, range selectors, grouping label lists and function
/// calls are removed.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = BTreeSet::new();
    let mut i = 0;
    let mut after_grouping = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                while i < chars.len() && chars[i] != close {
                    i += 1;
                }
                i += 1;
            }
            '(' if after_grouping => {
                // `by (le, method)`: label names, not metrics.
                while i < chars.len() && chars[i] != ')' {
                    i += 1;
                }
                i += 1;
                after_grouping = false;
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let is_call = j < chars.len() && chars[j] == '(';
                let lower = word.to_ascii_lowercase();
                if matches!(
                    lower.as_str(),
                    "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
                ) {
                    after_grouping = true;
                } else if !is_call && !KEYWORDS.contains(&lower.as_str()) {
                    out.insert(word);
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                // Numbers, with exponents or duration units (5m, 1e3).
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// Every `expr` of the dashboard's panels, with the panel title.
fn dashboard_queries() -> Vec<(String, String)> {
    let dash: serde_json::Value = serde_json::from_str(DASHBOARD).expect("dashboard.json parses");
    let mut out = Vec::new();
    for panel in dash["panels"].as_array().expect("panels") {
        let title = panel["title"].as_str().unwrap_or("?").to_string();
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                out.push((format!("panel {title:?}"), expr.to_string()));
            }
        }
    }
    out
}

/// Every `expr:` of alerts.yaml (inline or a `|` block), with the alert name.
fn alert_expressions() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let lines: Vec<&str> = ALERTS.lines().collect();
    let mut alert = String::from("?");
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim_start();
        if let Some(name) = t.strip_prefix("- alert:") {
            alert = name.trim().to_string();
        } else if let Some(rest) = t.strip_prefix("expr:") {
            let rest = rest.trim();
            if rest == "|" || rest == "|-" || rest == ">" {
                let indent = line.len() - t.len();
                let mut body = Vec::new();
                while i + 1 < lines.len() {
                    let next = lines[i + 1];
                    let nt = next.trim_start();
                    if !nt.is_empty() && next.len() - nt.len() <= indent {
                        break;
                    }
                    body.push(nt);
                    i += 1;
                }
                out.push((format!("alert {alert}"), body.join(" ")));
            } else {
                out.push((format!("alert {alert}"), rest.to_string()));
            }
        }
        i += 1;
    }
    out
}

/// Metric names /metrics serves: every sample's name, and for every `# TYPE`
/// family its series suffixes.
fn served(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(family) = rest.split_whitespace().next() {
                for suffix in ["", "_total", "_bucket", "_count", "_sum", "_created"] {
                    names.insert(format!("{family}{suffix}"));
                }
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_string());
        }
    }
    names
}

#[test]
fn the_metric_name_extractor_finds_metrics_and_only_metrics() {
    let expr = r#"histogram_quantile(0.99, sum by (le, method) (rate(graph_gateway_rpc_duration_seconds_bucket{method!~"/grpc.health.*"}[5m]))) > 5
        and on (pod) time() - max without (token) (other_metric:rate5m offset 1h) < 7 * 86400"#;
    let names: Vec<String> = metric_names(expr).into_iter().collect();
    assert_eq!(
        names,
        [
            "graph_gateway_rpc_duration_seconds_bucket",
            "other_metric:rate5m"
        ]
    );
    // A misspelled metric is a name like any other: the check below refuses it.
    assert!(
        metric_names("sum(rate(graph_gatway_rpcs_total[5m]))").contains("graph_gatway_rpcs_total")
    );
}

#[tokio::test]
async fn dashboard_and_alerts_query_only_served_metrics() {
    let mut cfg = Config::default();
    cfg.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    let gw = TestGateway::sandbox_with(cfg).await;
    let base = format!("http://{}", gw.metrics_addr.expect("metrics listener"));

    // Traffic: reads through the cache and the quota, an error, token checks.
    let mut pages = PageServiceClient::new(gw.channel().await);
    let list = ListOwnedPagesRequest {
        business_id: "1000000001".into(),
        ..Default::default()
    };
    pages.list_owned_pages(list.clone()).await.unwrap();
    pages.list_owned_pages(list).await.unwrap();
    pages
        .list_owned_pages(ListOwnedPagesRequest {
            business_id: "not-an-id".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    AdAccountServiceClient::new(gw.channel().await)
        .list_owned_ad_accounts(ListOwnedAdAccountsRequest {
            business_id: "1000000001".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    // A token with an expiry (the demo tokens never expire), so that the
    // expiry gauges have a series.
    let vault = gw.engine.vault();
    let mut expiring: graph_gateway::vault::TokenEntry = (*vault
        .entries()
        .into_iter()
        .find(|t| t.businesses.iter().any(|b| b == "1000000001"))
        .expect("a demo token for Acme"))
    .clone();
    expiring.name = "expiring-acme".into();
    expiring.expires_at = Some(4_102_444_800); // 2100-01-01
    vault.put(expiring).await.unwrap();
    graph_gateway::engine::token_health::check_all(&gw.engine, None).await;

    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let served = served(&text);

    let queries: Vec<(String, String)> = dashboard_queries()
        .into_iter()
        .chain(alert_expressions())
        .collect();
    assert!(queries.len() >= 25, "found only {} queries", queries.len());
    let mut queried = BTreeSet::new();
    let mut missing = Vec::new();
    for (place, expr) in &queries {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "{place} queries no metric: {expr}");
        for name in names {
            if !served.contains(&name) {
                missing.push(format!("{place}: {name}"));
            }
            queried.insert(name);
        }
    }
    assert!(
        missing.is_empty(),
        "queried but not served by /metrics:\n  {}\n\nserved:\n{}",
        missing.join("\n  "),
        served.iter().cloned().collect::<Vec<_>>().join("\n")
    );
    // The dashboard and alerts cover the families docs/operations.md lists.
    assert!(queried.len() >= 15, "only {queried:?}");
}
