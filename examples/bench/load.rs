//! The load generator: a tonic client that sends pre-encoded request bytes
//! and keeps the response bytes undecoded (a raw codec), so the client costs
//! the same whatever the server, plus closed-loop (fixed concurrency) and
//! open-loop (fixed rate) drivers with latency percentiles and a count of
//! every non-OK status.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use futures::future::BoxFuture;
use http::uri::PathAndQuery;
use tokio::time::Instant;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint};

/// Sends and receives message bytes as they are: no prost on either side.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawCodec;

/// [`RawCodec`]'s encoder.
pub struct RawEncoder;

/// [`RawCodec`]'s decoder.
pub struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        let n = src.remaining();
        Ok(Some(src.copy_to_bytes(n)))
    }
}

/// `n` HTTP/2 connections to `addr`.
pub async fn connect(addr: SocketAddr, n: usize) -> anyhow::Result<Vec<Channel>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let ch = Endpoint::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .connect()
            .await?;
        out.push(ch);
    }
    Ok(out)
}

/// One unary call with raw bytes.
pub async fn call(ch: &Channel, path: &PathAndQuery, body: Bytes) -> Result<Bytes, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(ch.clone());
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(format!("channel not ready: {e}")))?;
    grpc.unary(tonic::Request::new(body), path.clone(), RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

/// What a run measured.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Summary {
    /// Requests completed inside the measured window.
    pub requests: u64,
    /// Of which OK.
    pub ok: u64,
    /// Non-OK outcomes by gRPC code (or "transport").
    pub non_ok: BTreeMap<String, u64>,
    /// Length of the measured window, seconds.
    pub secs: f64,
    /// Completed requests per second.
    pub rps: f64,
    /// Latency percentiles, microseconds.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest latency.
    pub max_us: f64,
}

/// Latencies and outcomes collected by one worker.
#[derive(Clone, Default)]
pub struct Samples {
    lat_us: Vec<u32>,
    ok: u64,
    non_ok: BTreeMap<String, u64>,
}

impl Samples {
    /// Records one outcome.
    pub fn record(&mut self, latency: Duration, outcome: Result<(), String>) {
        self.lat_us
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
        match outcome {
            Ok(()) => self.ok += 1,
            Err(code) => *self.non_ok.entry(code).or_default() += 1,
        }
    }

    /// Adds another worker's samples.
    pub fn merge(&mut self, other: Samples) {
        self.lat_us.extend(other.lat_us);
        self.ok += other.ok;
        for (k, v) in other.non_ok {
            *self.non_ok.entry(k).or_default() += v;
        }
    }

    /// Percentiles over a window of `secs`, keeping the samples.
    pub fn clone_summary(&self, window: Duration) -> Summary {
        self.clone().summary(window.as_secs_f64())
    }

    /// Percentiles over a window of `secs`.
    pub fn summary(mut self, secs: f64) -> Summary {
        self.lat_us.sort_unstable();
        let n = self.lat_us.len();
        let pct = |q: f64| -> f64 {
            if n == 0 {
                return 0.0;
            }
            let i = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
            f64::from(self.lat_us[i])
        };
        let requests = n as u64;
        Summary {
            requests,
            ok: self.ok,
            non_ok: self.non_ok.clone(),
            secs,
            rps: if secs > 0.0 {
                requests as f64 / secs
            } else {
                0.0
            },
            p50_us: pct(0.50),
            p90_us: pct(0.90),
            p99_us: pct(0.99),
            p999_us: pct(0.999),
            max_us: self.lat_us.last().map_or(0.0, |v| f64::from(*v)),
        }
    }
}

/// The label of a failed call.
pub fn code_label(s: &tonic::Status) -> String {
    format!("{:?}", s.code())
}

/// Closed loop: `concurrency` workers spread over `channels`, each sending
/// the next body of `bodies` as soon as its previous call returned, for
/// `warmup` (not counted) and then `duration` (counted by start time).
pub async fn closed_loop(
    channels: &[Channel],
    path: &PathAndQuery,
    bodies: Arc<Vec<Bytes>>,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> Summary {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(concurrency);
    for w in 0..concurrency {
        let ch = channels[w % channels.len()].clone();
        let path = path.clone();
        let bodies = bodies.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed) % bodies.len();
                let outcome = call(&ch, &path, bodies[i].clone()).await;
                if t0 >= measure_from {
                    samples.record(
                        t0.elapsed(),
                        outcome.map(|_| ()).map_err(|s| code_label(&s)),
                    );
                }
            }
            samples
        }));
    }
    let mut all = Samples::default();
    for t in tasks {
        if let Ok(s) = t.await {
            all.merge(s);
        }
    }
    all.summary(duration.as_secs_f64())
}

/// One call of an open-loop run, given its sequence number.
pub type CallFn = Arc<dyn Fn(usize) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Open loop: starts one call every `1 / rate` seconds for `duration`
/// whatever the previous calls are doing; latency is measured per call from
/// its start. The first `warmup` is not counted.
/// Returns the samples of the counted calls and how many calls started.
pub async fn open_loop(
    rate: u32,
    warmup: Duration,
    duration: Duration,
    f: CallFn,
) -> (Samples, usize) {
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Duration, Result<(), String>)>();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut seq = 0usize;
    loop {
        let at = tick.tick().await;
        if at >= end {
            break;
        }
        let f = f.clone();
        let tx = tx.clone();
        let counted = at >= measure_from;
        let n = seq;
        seq += 1;
        tokio::spawn(async move {
            let t0 = Instant::now();
            let outcome = f(n).await;
            if counted {
                let _ = tx.send((t0.elapsed(), outcome));
            }
        });
    }
    drop(tx);
    let mut samples = Samples::default();
    // Every call holds a sender: this ends when the last call returned.
    while let Some((lat, outcome)) = rx.recv().await {
        samples.record(lat, outcome);
    }
    (samples, seq)
}
