//! Child processes of the benchmark: spawned pinned to a CPU (taskset),
//! killed by pid when dropped, with their CPU time and RSS read from /proc.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use tokio::time::Instant;

/// Which CPUs servers and the load generator run on.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Pinning {
    /// `taskset -c` list for the server under test (gateway or echo).
    pub server: Option<String>,
    /// `taskset -c` list for the load generator and the fixed upstream.
    pub client: Option<String>,
}

impl Pinning {
    /// Server on CPU 0, everything else on CPU 1, when there are two CPUs
    /// and taskset; otherwise nothing is pinned.
    pub fn detect() -> Self {
        let cpus = online_cpus();
        let taskset = Command::new("taskset")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if cpus >= 2 && taskset {
            Self {
                server: Some("0".into()),
                client: Some("1".into()),
            }
        } else {
            Self {
                server: None,
                client: None,
            }
        }
    }
}

/// CPUs online on the machine (not only those this process may use: the
/// load generator itself runs pinned to one).
pub fn online_cpus() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .map(|t| {
            t.trim()
                .split(',')
                .map(|r| match r.split_once('-') {
                    Some((a, b)) => match (a.parse::<usize>(), b.parse::<usize>()) {
                        (Ok(a), Ok(b)) if b >= a => b - a + 1,
                        _ => 0,
                    },
                    None => usize::from(r.parse::<usize>().is_ok()),
                })
                .sum::<usize>()
        })
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// A child process, killed when dropped.
pub struct Proc {
    child: Child,
    /// What it is, for messages.
    pub name: String,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl Proc {
    /// Spawns `program args` pinned to `cpus` (when given), with `envs`, its
    /// output into `log`.
    pub fn spawn(
        name: &str,
        cpus: Option<&str>,
        program: &Path,
        args: &[String],
        envs: &[(&str, String)],
        log: &Path,
    ) -> anyhow::Result<Self> {
        let out =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let mut cmd = match cpus {
            Some(c) => {
                let mut cmd = Command::new("taskset");
                cmd.arg("-c").arg(c).arg(program);
                cmd
            }
            None => Command::new(program),
        };
        // Logging is set by each config, not by the caller's environment.
        cmd.env_remove("RUST_LOG");
        cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        // taskset execs the program, so the pid is the program's.
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name} ({})", program.display()))?;
        Ok(Self {
            child,
            name: name.to_string(),
            log: log.to_path_buf(),
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the process already exited (with the tail of its log).
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            anyhow::bail!("{} exited with {status}:\n{}", self.name, tail.join("\n"));
        }
        Ok(())
    }

    /// CPU seconds used so far (user + system).
    pub fn cpu_secs(&self) -> f64 {
        cpu_secs_of(&format!("/proc/{}/stat", self.pid()))
    }

    /// Resident set size, KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib_of(&format!("/proc/{}/status", self.pid()))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time the whole machine spent busy (not idle, not waiting for I/O),
/// seconds, since boot.
pub fn machine_busy_secs() -> f64 {
    let Ok(text) = std::fs::read_to_string("/proc/stat") else {
        return 0.0;
    };
    let Some(cpu) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let f: Vec<f64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let total: f64 = f.iter().take(8).sum();
    let idle = f.get(3).copied().unwrap_or(0.0) + f.get(4).copied().unwrap_or(0.0);
    (total - idle) / clock_ticks()
}

/// This process's CPU seconds.
pub fn self_cpu_secs() -> f64 {
    cpu_secs_of("/proc/self/stat")
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn cpu_secs_of(stat: &str) -> f64 {
    let Ok(text) = std::fs::read_to_string(stat) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces): state is
    // field 3, utime 14, stime 15.
    let Some((_, rest)) = text.rsplit_once(')') else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / clock_ticks()
}

fn rss_kib_of(status: &str) -> u64 {
    std::fs::read_to_string(status)
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A free port on 127.0.0.1.
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// Polls gRPC health ("readiness") until SERVING; returns when it first was.
pub async fn wait_serving(
    proc: &mut Proc,
    addr: SocketAddr,
    timeout: Duration,
) -> anyhow::Result<Instant> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let give_up = Instant::now() + timeout;
    let url = format!("http://{addr}");
    loop {
        if Instant::now() > give_up {
            anyhow::bail!("{} not SERVING after {timeout:?}", proc.name);
        }
        proc.check_alive()?;
        if let Ok(ch) = tonic::transport::Endpoint::from_shared(url.clone())?
            .connect()
            .await
        {
            let mut client = HealthClient::new(ch);
            if let Ok(r) = client
                .check(HealthCheckRequest {
                    service: "readiness".into(),
                })
                .await
            {
                if r.get_ref().status == ServingStatus::Serving as i32 {
                    return Ok(Instant::now());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Polls an HTTP URL until it answers 200.
pub async fn wait_http(proc: &mut Proc, url: &str, timeout: Duration) -> anyhow::Result<()> {
    let give_up = Instant::now() + timeout;
    let client = reqwest::Client::new();
    loop {
        if Instant::now() > give_up {
            anyhow::bail!("{} not answering {url} after {timeout:?}", proc.name);
        }
        proc.check_alive()?;
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
