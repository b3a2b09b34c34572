//! Redis as it runs in production (issue 13): exactly once per request_id
//! through Redis outages and restarts with and without data, two replicas;
//! a 3-master Redis Cluster running quota, vault and idempotency; an ACL
//! user over TLS. Every server is a throwaway redis-server on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use graph_gateway::config::Config;
use graph_gateway::idempotency::{Idempotency, Settled};
use graph_gateway::proto::ad_account_service_client::AdAccountServiceClient;
use graph_gateway::proto::quota_service_client::QuotaServiceClient;
use graph_gateway::proto::{
    CreateAdAccountRequest, CreateAdAccountResponse as AdAccount, GetQuotaStatusRequest,
    ListOwnedAdAccountsRequest, QuotaMode,
};
use graph_gateway::redis_link::RedisLink;
use graph_gateway::sandbox::{FaultConfig, FaultKind, FaultRule, Sandbox, ScoringConfig};
use graph_gateway::secret::Secret;
use graph_gateway::vault::{MemoryVault, Vault};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::harness::TestGateway;
use crate::redis_server::{free_port, RedisServer};

const ACME: &str = "1000000001";
const CREATE_PATH: &str = "/1000000001/adaccount";
const LIST_PATH: &str = "/1000000001/owned_ad_accounts";

async fn sandbox() -> (
    Sandbox,
    String,
    Arc<dyn Vault>,
    tokio::sync::oneshot::Sender<()>,
) {
    let sb = Sandbox::demo().with_scoring(ScoringConfig::standard().headers_only());
    let vault: Arc<dyn Vault> = Arc::new(MemoryVault::new(sb.demo_tokens()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(sb.clone().serve(listener, async move {
        let _ = rx.await;
    }));
    (sb, url, vault, tx)
}

fn reason(st: &tonic::Status) -> String {
    st.get_error_details()
        .error_info()
        .map(|i| i.reason.clone())
        .unwrap_or_default()
}

fn create(i: u32) -> tonic::Request<CreateAdAccountRequest> {
    let mut r = tonic::Request::new(CreateAdAccountRequest {
        business_id: ACME.into(),
        name: format!("Outage Account {i}"),
        currency: "USD".into(),
        timezone_id: 1,
        end_advertiser: ACME.into(),
        media_agency: "NONE".into(),
        partner: "NONE".into(),
        request_id: format!("outage-p{i}"),
        ..Default::default()
    });
    r.set_timeout(Duration::from_secs(8));
    r
}

/// What callers saw.
#[derive(Default, Debug)]
struct Tally {
    idempotency_unavailable: u64,
    other_unavailable: u64,
}

/// Retries the same request while the gateway answers UNAVAILABLE (a
/// connection to a restarted Redis is replaced on the first call), at most
/// 40 times.
async fn until_ok(ch: &Channel, i: u32, tally: &mut Tally) -> AdAccount {
    let mut c = AdAccountServiceClient::new(ch.clone());
    for _ in 0..40 {
        match c.create_ad_account(create(i)).await {
            Ok(r) => return r.into_inner(),
            Err(st) if st.code() == Code::Unavailable => {
                if reason(&st) == "IDEMPOTENCY_UNAVAILABLE" {
                    tally.idempotency_unavailable += 1;
                } else {
                    tally.other_unavailable += 1;
                }
                // A client's backoff between retries.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(st) => panic!("P{i}: {st:?}"),
        }
    }
    panic!("P{i}: no answer after 40 tries")
}

/// The refusal a mutation gets while Redis is down: nothing sent.
async fn refused_while_down(ch: &Channel, i: u32) {
    let st = AdAccountServiceClient::new(ch.clone())
        .create_ad_account(create(i))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::Unavailable, "{st:?}");
    assert_eq!(reason(&st), "IDEMPOTENCY_UNAVAILABLE", "{st:?}");
    assert!(
        st.get_error_details().retry_info().is_some(),
        "RetryInfo: {st:?}"
    );
}

/// (name, id) of the business's owned ad accounts named "Outage Account *".
async fn outage_accounts(ch: &Channel) -> Vec<(String, String)> {
    let r = AdAccountServiceClient::new(ch.clone())
        .list_owned_ad_accounts(ListOwnedAdAccountsRequest {
            business_id: ACME.into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    r.ad_accounts
        .into_iter()
        .filter(|a| a.name.starts_with("Outage Account "))
        .map(|a| (a.name, a.id))
        .collect()
}

/// Waits (bounded) until the sandbox saw `n` creations.
async fn creations_reach(sb: &Sandbox, n: u64) {
    let until = Instant::now() + Duration::from_secs(5);
    while sb.requests_to(CREATE_PATH) < n {
        assert!(
            Instant::now() < until,
            "creation {n} never reached the sandbox"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn replica_config(redis: &RedisServer) -> Config {
    let mut cfg = Config::default();
    cfg.cache.ttl_secs = 0;
    cfg.redis.url = Some(Secret::new(redis.url()));
    cfg.redis.key_prefix = "outage".into();
    cfg.redis.timeout_ms = 300;
    cfg.redis.probe_interval_ms = 200;
    cfg.quota.replicas = 2;
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_id_is_applied_once_through_redis_outages_restarts_and_data_loss() {
    let mut redis = RedisServer::start().await;
    let (sb, url, vault, _stop) = sandbox().await;
    let cfg = replica_config(&redis);
    let a = TestGateway::upstream(&url, vault.clone(), cfg.clone()).await;
    let b = TestGateway::upstream(&url, vault, cfg).await;
    let (ca, cb) = (a.channel().await, b.channel().await);
    let mut tally = Tally::default();
    let mut acknowledged: Vec<(u32, AdAccount)> = Vec::new();
    let mut refusals = 0u64;

    // P1 through a; Redis dies before the caller's retry through b.
    let p1 = until_ok(&ca, 1, &mut tally).await;
    acknowledged.push((1, p1.clone()));
    // A fresh creation is sent without listing the owned accounts first.
    assert_eq!(
        sb.requests_to(LIST_PATH),
        0,
        "no look-up before a fresh create"
    );
    redis.kill();
    refused_while_down(&cb, 1).await;
    // A new P2 during the outage is not sent either; reads keep serving.
    refused_while_down(&ca, 2).await;
    refusals += 2;
    assert_eq!(outage_accounts(&cb).await.len(), 1, "reads serve");
    assert_eq!(sb.requests_to(CREATE_PATH), 1);

    // Back with its data: P1 answers the first outcome, P2 runs once.
    redis.restart().await;
    assert_eq!(until_ok(&cb, 1, &mut tally).await, p1);
    let p2 = until_ok(&ca, 2, &mut tally).await;
    acknowledged.push((2, p2.clone()));
    assert_eq!(until_ok(&cb, 2, &mut tally).await, p2);
    assert_eq!(sb.requests_to(CREATE_PATH), 2);

    // Back WITHOUT its data: the outcomes of P1 and P2 are gone; the
    // replicas see a new epoch and settle by looking the accounts up.
    redis.kill();
    redis.wipe();
    redis.restart().await;
    let lists_before_loss = sb.requests_to(LIST_PATH);
    assert_eq!(until_ok(&ca, 1, &mut tally).await, p1);
    assert_eq!(until_ok(&cb, 2, &mut tally).await, p2);
    assert_eq!(sb.requests_to(CREATE_PATH), 2, "no creation sent again");
    let lookups_after_loss = sb.requests_to(LIST_PATH) - lists_before_loss;
    assert_eq!(lookups_after_loss, 2, "one look-up per settled request_id");
    // A new request after the loss is created once, and stored.
    let p3 = until_ok(&cb, 3, &mut tally).await;
    acknowledged.push((3, p3.clone()));
    assert_eq!(until_ok(&ca, 3, &mut tally).await, p3);
    assert_eq!(sb.requests_to(CREATE_PATH), 3);

    // Redis dies while P4 is at Graph (within the retry window): the caller
    // gets its answer, the outcome is stored when Redis is back (with its
    // data), and the retry through b gets it.
    let slow = || {
        Some(FaultConfig::seeded(
            7,
            vec![FaultRule::new(FaultKind::Slow(Duration::from_millis(800)), 1.0).method("POST")],
        ))
    };
    for (i, keep_data) in [(4u32, true), (5u32, false)] {
        sb.set_faults(slow());
        let before = sb.requests_to(CREATE_PATH);
        let call = tokio::spawn({
            let ca = ca.clone();
            async move {
                AdAccountServiceClient::new(ca)
                    .create_ad_account(create(i))
                    .await
            }
        });
        creations_reach(&sb, before + 1).await;
        redis.kill();
        let first = call.await.unwrap().expect("the caller gets Graph's answer");
        let first = first.into_inner();
        acknowledged.push((i, first.clone()));
        sb.set_faults(None);
        if !keep_data {
            redis.wipe();
        }
        redis.restart().await;
        assert_eq!(until_ok(&cb, i, &mut tally).await, first, "P{i}");
        assert_eq!(until_ok(&ca, i, &mut tally).await, first, "P{i}");
        assert_eq!(sb.requests_to(CREATE_PATH), before + 1, "P{i} sent once");
    }

    // The world: every acknowledged creation exactly once, nothing else.
    let lookups = sb.requests_to(LIST_PATH) - 2;
    let listed = outage_accounts(&ca).await;
    let mut duplicates = 0;
    let mut lost = 0;
    for (i, acc) in &acknowledged {
        let name = format!("Outage Account {i}");
        let n = listed.iter().filter(|(n, _)| *n == name).count();
        duplicates += n.saturating_sub(1);
        if !listed.iter().any(|(n, id)| *n == name && *id == acc.id) {
            lost += 1;
        }
    }
    eprintln!(
        "FIGURE redis outages (2 replicas, kill between call and retry, kill during a call, restart with and without data): \
         {} acknowledged creations, {} creations at the sandbox, {} listed; duplicates {duplicates}, lost acknowledged {lost}; \
         {refusals} mutations refused IDEMPOTENCY_UNAVAILABLE while Redis was down (0 sent), retries saw {tally:?}; \
         owned-account look-ups by the gateway: {lookups} (the test's own reads excluded)",
        acknowledged.len(),
        sb.requests_to(CREATE_PATH),
        listed.len(),
    );
    assert_eq!(duplicates, 0);
    assert_eq!(lost, 0);
    assert_eq!(listed.len(), acknowledged.len());
    assert_eq!(sb.requests_to(CREATE_PATH), acknowledged.len() as u64);
}

/// A 3-master Redis Cluster on free ports, slots spread by redis-cli.
struct Cluster {
    nodes: Vec<RedisServer>,
}

impl Cluster {
    async fn start() -> Self {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(
                RedisServer::start_with(
                    [
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "5000",
                    ]
                    .map(String::from)
                    .to_vec(),
                    None,
                )
                .await,
            );
        }
        // Bounded by timeout(1): never waits for ever.
        let mut cmd = std::process::Command::new("timeout");
        cmd.args(["30", "redis-cli", "--cluster", "create"]);
        for n in &nodes {
            cmd.arg(format!("127.0.0.1:{}", n.port));
        }
        cmd.args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .expect("redis-cli must be installed (scripts/test installs it with redis-server)");
        assert!(
            out.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        // Every node agrees the cluster is up.
        let until = Instant::now() + Duration::from_secs(15);
        for n in &nodes {
            loop {
                let mut c = n.connection().await.unwrap();
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async(&mut c)
                    .await
                    .unwrap();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(Instant::now() < until, "cluster never became ok: {info}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Self { nodes }
    }

    /// A key prefix whose hash tag lands on the third node (the seed in
    /// redis.url is the first: every command is redirected).
    async fn prefix_on_third_node(&self) -> String {
        let mut c = self.nodes[0].connection().await.unwrap();
        for i in 0..1000 {
            let p = format!("gw-cluster-{i}");
            let slot: i64 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(format!("{{{p}}}"))
                .query_async(&mut c)
                .await
                .unwrap();
            if slot > 10923 {
                return p;
            }
        }
        panic!("no prefix on the third node")
    }

    fn config(&self, prefix: &str) -> Config {
        let mut cfg = Config::default();
        cfg.cache.ttl_secs = 0;
        cfg.redis.mode = "cluster".into();
        cfg.redis.url = Some(Secret::new(self.nodes[0].url()));
        cfg.redis.nodes = self.nodes[1..]
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        cfg.redis.key_prefix = prefix.into();
        cfg.redis.timeout_ms = 1000;
        cfg.quota.replicas = 2;
        cfg
    }
}

fn ok(body: &'static [u8]) -> Settled {
    Settled::Final(Ok(bytes::Bytes::from_static(body)))
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quota_vault_and_idempotency_run_on_a_three_master_cluster() {
    let cluster = Cluster::start().await;
    let prefix = cluster.prefix_on_third_node().await;
    let cfg = cluster.config(&prefix);
    let mut passed = Vec::new();

    // Idempotency: two stores share outcomes; the Lua scripts (record +
    // epoch key) run in one slot.
    let x = Idempotency::from_config(&cfg.idempotency, &cfg.redis).unwrap();
    let y = Idempotency::from_config(&cfg.idempotency, &cfg.redis).unwrap();
    let out = x
        .run("k", "fp", soon(), |_| async { ok(b"x") })
        .await
        .unwrap();
    assert_eq!(&out[..], b"x");
    let out = y
        .run("k", "fp", soon(), |_| async { ok(b"y") })
        .await
        .unwrap();
    assert_eq!(&out[..], b"x", "y answers x's outcome");
    assert!(y
        .run("k", "other", soon(), |_| async { ok(b"z") })
        .await
        .is_err());
    passed.push("idempotency store");

    // Two gateways on the cluster: a creation and its retry through the
    // other replica; quota shared.
    let (sb, url, vault, _stop) = sandbox().await;
    let a = TestGateway::upstream(&url, vault.clone(), cfg.clone()).await;
    let b = TestGateway::upstream(&url, vault, cfg.clone()).await;
    let (ca, cb) = (a.channel().await, b.channel().await);
    let mut tally = Tally::default();
    let first = until_ok(&ca, 1, &mut tally).await;
    assert_eq!(until_ok(&cb, 1, &mut tally).await, first);
    assert_eq!(sb.requests_to(CREATE_PATH), 1);
    passed.push("idempotent creation across replicas");
    outage_accounts(&cb).await;
    for ch in [&ca, &cb] {
        let st = QuotaServiceClient::new(ch.clone())
            .get_quota_status(GetQuotaStatusRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(st.mode, QuotaMode::Shared as i32, "{st:?}");
        assert!(!st.keys.is_empty(), "the shared keys are listed: {st:?}");
    }
    passed.push("quota shared (permit, observe, status scripts)");

    // Vault: two replicas share tokens (MULTI pipelines in one slot).
    let link = RedisLink::from_config(&cfg.redis).unwrap().unwrap();
    let vcfg = graph_gateway::config::VaultConfig {
        backend: "redis".into(),
        redis_refresh_ms: 50,
        key: Some(Secret::new("ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=")),
        key_id: "k1".into(),
        ..Default::default()
    };
    let env = std::collections::HashMap::<String, String>::new();
    let v1 = graph_gateway::vault::RedisVault::open(
        &vcfg,
        link.clone(),
        &prefix,
        Duration::from_secs(2),
        &env,
    )
    .await
    .unwrap();
    let v2 =
        graph_gateway::vault::RedisVault::open(&vcfg, link, &prefix, Duration::from_secs(2), &env)
            .await
            .unwrap();
    for e in Sandbox::demo().demo_tokens() {
        v1.put(e).await.unwrap();
    }
    v2.refresh().await.unwrap();
    assert_eq!(v1.entries().len(), v2.entries().len());
    assert!(!v2.entries().is_empty());
    passed.push("vault shared");

    // Every key the gateway wrote is on the third node (one slot).
    let mut c = cluster.nodes[2].connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{{{prefix}}}*"))
        .query_async(&mut c)
        .await
        .unwrap();
    for want in [":idem:epoch", ":vault:tokens", ":q:keys"] {
        assert!(
            keys.iter().any(|k| k.ends_with(want)),
            "{want} on the owner of the slot: {keys:?}"
        );
    }
    eprintln!(
        "FIGURE redis cluster (3 masters, keys on the node the seed redirects to): {} checks passed: {passed:?}; {} keys in slot of {{{prefix}}}",
        passed.len(),
        keys.len()
    );
}

#[tokio::test]
async fn an_acl_user_over_tls_with_a_private_ca() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let path = |n: &str| dir.path().join(n);
    std::fs::write(path("ca.pem"), ca.pem()).unwrap();
    std::fs::write(path("server.pem"), cert.pem()).unwrap();
    std::fs::write(path("server.key"), key.serialize_pem()).unwrap();
    let tls_port = free_port();
    let password = "tls-acl-pw-5f1e";
    let p = |n: &str| path(n).display().to_string();
    let redis = RedisServer::start_with(
        vec![
            "--tls-port".into(),
            tls_port.to_string(),
            "--tls-cert-file".into(),
            p("server.pem"),
            "--tls-key-file".into(),
            p("server.key"),
            "--tls-ca-cert-file".into(),
            p("ca.pem"),
            "--tls-auth-clients".into(),
            "no".into(),
            "--user".into(),
            "gw".into(),
            "on".into(),
            format!(">{password}"),
            "~*".into(),
            "&*".into(),
            "+@all".into(),
            "--user".into(),
            "default".into(),
            "off".into(),
        ],
        Some(("gw".into(), password.into())),
    )
    .await;
    let mut cfg = Config::default();
    cfg.redis.url = Some(Secret::new(format!(
        "rediss://gw:{password}@127.0.0.1:{tls_port}"
    )));
    cfg.redis.tls_ca_file = Some(path("ca.pem"));
    cfg.redis.timeout_ms = 2000;
    let x = Idempotency::from_config(&cfg.idempotency, &cfg.redis).unwrap();
    let y = Idempotency::from_config(&cfg.idempotency, &cfg.redis).unwrap();
    let out = x
        .run("t", "fp", soon(), |_| async { ok(b"tls") })
        .await
        .unwrap();
    assert_eq!(&out[..], b"tls");
    let out = y
        .run("t", "fp", soon(), |_| async { ok(b"no") })
        .await
        .unwrap();
    assert_eq!(&out[..], b"tls");
    // The record is in Redis (seen over the plain port).
    let mut c = redis.connection().await.unwrap();
    let epoch: Option<String> = redis::cmd("GET")
        .arg("{graph-gateway}:idem:epoch")
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(epoch.is_some());

    // A wrong password, or no TLS to the TLS port: refused, and the error
    // never names the password.
    for url in [
        format!("rediss://gw:wrong-{password}@127.0.0.1:{tls_port}"),
        format!("redis://gw:{password}@127.0.0.1:{tls_port}"),
    ] {
        let mut bad = cfg.clone();
        bad.redis.url = Some(Secret::new(url));
        bad.redis.timeout_ms = 500;
        let z = Idempotency::from_config(&bad.idempotency, &bad.redis).unwrap();
        let e = z
            .run("t2", "fp", soon(), |_| async { ok(b"never") })
            .await
            .unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(
            text.contains("IDEMPOTENCY") || text.contains("idempotency"),
            "{text}"
        );
        assert!(!text.contains(password), "{text}");
    }
    eprintln!("FIGURE redis TLS: rediss:// with ACL user gw and a private CA: shared outcome ok; wrong password and plaintext refused without the password in the error");
}

/// A Sentinel process (`redis-server <conf> --sentinel`) watching `master`
/// under the name `gwmaster`; killed when dropped.
struct Sentinel {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Sentinel {
    async fn start(master: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = dir.path().join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor gwmaster 127.0.0.1 {master} 1\n\
                 sentinel down-after-milliseconds gwmaster 2000\n\
                 sentinel failover-timeout gwmaster 10000\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let child = std::process::Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/test installs it)");
        let s = Self {
            child,
            port,
            _dir: dir,
        };
        s.until(|s| s.master_port().is_some(), "the sentinel to answer")
            .await;
        s
    }

    fn client(&self) -> redis::Client {
        redis::Client::open(format!("redis://127.0.0.1:{}", self.port)).unwrap()
    }

    /// The master's port as this Sentinel sees it.
    fn master_port(&self) -> Option<u16> {
        let mut c = self.client().get_connection().ok()?;
        let addr: Vec<String> = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg("gwmaster")
            .query(&mut c)
            .ok()?;
        addr.get(1)?.parse().ok()
    }

    /// How many replicas of the master this Sentinel knows.
    fn replicas(&self) -> usize {
        let Ok(mut c) = self.client().get_connection() else {
            return 0;
        };
        let r: redis::RedisResult<Vec<redis::Value>> = redis::cmd("SENTINEL")
            .arg("REPLICAS")
            .arg("gwmaster")
            .query(&mut c);
        r.map(|v| v.len()).unwrap_or(0)
    }

    /// Polls `ok` (bounded: 30 s), failing the test with `what` otherwise.
    async fn until(&self, ok: impl Fn(&Self) -> bool, what: &str) {
        let until = Instant::now() + Duration::from_secs(30);
        while !ok(self) {
            assert!(Instant::now() < until, "waited 30 s for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sentinel_finds_the_master_and_outcomes_survive_a_failover() {
    let master = RedisServer::start().await;
    let replica = RedisServer::start_with(
        vec![
            "--replicaof".into(),
            "127.0.0.1".into(),
            master.port.to_string(),
        ],
        None,
    )
    .await;
    let sentinel = Sentinel::start(master.port).await;
    assert_eq!(sentinel.master_port(), Some(master.port));
    // The replica has synced (bounded: 30 s).
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let mut m = master.connection().await.unwrap();
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut m)
            .await
            .unwrap();
        if info.contains("connected_slaves:1") && info.contains("state=online") {
            break;
        }
        assert!(Instant::now() < until, "the replica never synced: {info}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut cfg = Config::default();
    cfg.redis.mode = "sentinel".into();
    cfg.redis.url = Some(Secret::new(format!("redis://127.0.0.1:{}", sentinel.port)));
    cfg.redis.sentinel_master = "gwmaster".into();
    // Generous: the whole suite runs in parallel on 2 cores.
    cfg.redis.timeout_ms = 3000;
    // Claims and outcomes count once the replica holds them: the failover
    // below cannot lose them.
    cfg.redis.wait_replicas = 1;
    let x = Idempotency::from_config(&cfg.idempotency, &cfg.redis).unwrap();
    let y = Idempotency::from_config(&cfg.idempotency, &cfg.redis).unwrap();
    // Bounded retries: the replica may still be acknowledging its sync.
    let until = Instant::now() + Duration::from_secs(20);
    let out = loop {
        match x.run("s", "fp", soon(), |_| async { ok(b"before") }).await {
            Ok(out) => break out,
            Err(e) => {
                assert!(
                    Instant::now() < until,
                    "no answer before the failover: {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert_eq!(&out[..], b"before");
    // Through the Sentinel, the record went to the master.
    let mut m = master.connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*idem*")
        .query_async(&mut m)
        .await
        .unwrap();
    assert!(!keys.is_empty(), "the outcome is on the master");
    // ... and reached the replica before the failover (bounded: 30 s).
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let mut r = replica.connection().await.unwrap();
        let on_replica: Vec<String> = redis::cmd("KEYS")
            .arg("*idem*")
            .query_async(&mut r)
            .await
            .unwrap();
        if on_replica.len() == keys.len() {
            break;
        }
        assert!(Instant::now() < until, "the replica never caught up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The Sentinel promotes the replica.
    sentinel
        .until(
            |s| s.replicas() == 1,
            "the sentinel to discover the replica",
        )
        .await;
    let mut s = sentinel
        .client()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: String = redis::cmd("SENTINEL")
        .arg("FAILOVER")
        .arg("gwmaster")
        .query_async(&mut s)
        .await
        .unwrap();
    sentinel
        .until(|s| s.master_port() == Some(replica.port), "the failover")
        .await;

    // The same request id through the new master: the first outcome, and
    // the second call's work never runs. Within a bounded time: a
    // connection to the old master may need a retry.
    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let until = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let ran = ran.clone();
        match y
            .run("s", "fp", soon(), move |_| async move {
                ran.store(true, std::sync::atomic::Ordering::SeqCst);
                ok(b"after")
            })
            .await
        {
            Ok(out) => break out,
            Err(e) => {
                assert!(
                    Instant::now() < until,
                    "no answer after the failover: {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert_eq!(&out[..], b"before", "the outcome survived the failover");
    assert!(
        !ran.load(std::sync::atomic::Ordering::SeqCst),
        "the mutation was not run again"
    );
    // New work goes to the new master, once the Sentinel has turned the old
    // master into a replica (before that, a connection to it may still write
    // there: Redis's asynchronous replication loses such writes, see
    // docs/reliability.md).
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let role: Vec<redis::Value> = redis::cmd("ROLE")
            .query_async(&mut master.connection().await.unwrap())
            .await
            .unwrap();
        if matches!(role.first(), Some(redis::Value::BulkString(r)) if r.as_slice() == b"slave") {
            break;
        }
        assert!(Instant::now() < until, "the old master was never demoted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut r = replica.connection().await.unwrap();
    let before: Vec<String> = redis::cmd("KEYS")
        .arg("*idem*")
        .query_async(&mut r)
        .await
        .unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while x
        .run("s2", "fp", soon(), |_| async { ok(b"new") })
        .await
        .is_err()
    {
        assert!(Instant::now() < until, "x never reached the new master");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after: Vec<String> = redis::cmd("KEYS")
        .arg("*idem*")
        .query_async(&mut r)
        .await
        .unwrap();
    assert_eq!(
        after.len(),
        before.len() + 1,
        "s2 was written to the promoted replica: {after:?}"
    );
    eprintln!(
        "FIGURE redis sentinel: master found, failover to the replica, outcome kept, 0 re-runs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_no_replica_acknowledges_is_not_sent() {
    // A master without replicas, and the gateway asked for one: the claim
    // is never confirmed, so the mutation never runs.
    let master = RedisServer::start().await;
    let mut cfg = Config::default();
    cfg.redis.url = Some(Secret::new(master.url()));
    cfg.redis.timeout_ms = 200;
    cfg.redis.wait_replicas = 1;
    let x = Idempotency::from_config(&cfg.idempotency, &cfg.redis).unwrap();
    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = ran.clone();
    let out = x
        .run("w", "fp", soon(), move |_| async move {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            ok(b"sent")
        })
        .await;
    let err = out.unwrap_err();
    assert!(!ran.load(std::sync::atomic::Ordering::SeqCst), "not sent");
    let st = graph_gateway::grpc::status::to_status(&err);
    assert_eq!(st.code(), Code::Unavailable, "{st:?}");
    assert_eq!(
        st.get_error_details().error_info().unwrap().reason,
        "IDEMPOTENCY_UNAVAILABLE"
    );
    // The claim was given back: with the requirement lifted, the call runs.
    cfg.redis.wait_replicas = 0;
    let y = Idempotency::from_config(&cfg.idempotency, &cfg.redis).unwrap();
    let out = y
        .run("w", "fp", soon(), |_| async { ok(b"sent") })
        .await
        .unwrap();
    assert_eq!(&out[..], b"sent");
}
