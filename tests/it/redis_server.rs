//! A throwaway redis-server on 127.0.0.1 for one test: a free port, its own
//! directory (append-only file on, so tests can search everything Redis
//! stored byte-wise), killed when dropped; it can be killed and started
//! again on the same port. `redis-server` must be installed: scripts/test
//! installs it (Debian's package) when it is missing, so a Redis test never
//! skips silently.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running redis-server.
pub struct RedisServer {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
    /// More redis-server arguments (cluster, ACL users, TLS).
    extra: Vec<String>,
    /// An ACL user and password the helper authenticates with.
    auth: Option<(String, String)>,
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RedisServer {
    /// Starts one and waits until it answers.
    pub async fn start() -> Self {
        Self::start_with(Vec::new(), None).await
    }

    /// Starts one with more arguments; `auth`: the ACL user the helper
    /// logs in as.
    pub async fn start_with(extra: Vec<String>, auth: Option<(String, String)>) -> Self {
        let mut server = Self {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            extra,
            auth,
        };
        server.restart().await;
        server
    }

    /// Deletes every file Redis keeps (while it is down): the next
    /// `restart` starts without data.
    pub fn wipe(&self) {
        assert!(self.child.is_none(), "wipe a stopped server");
        for f in files(self.dir.path()) {
            std::fs::remove_file(f).unwrap();
        }
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            for e in entries.flatten() {
                if e.path().is_dir() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }

    /// Starts it (again) on its port and waits until it answers.
    pub async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .args(["--rdbcompression", "no"])
            .args(&self.extra)
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/test installs it)");
        self.child = Some(child);
        for _ in 0..250 {
            if let Ok(mut c) = self.connection().await {
                let pong: Result<String, _> = redis::cmd("PING").query_async(&mut c).await;
                if pong.is_ok() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    /// Kills it (an outage); `restart` brings it back.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        match &self.auth {
            Some((u, p)) => format!("redis://{u}:{p}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// A client connection.
    pub async fn connection(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        redis::Client::open(self.url())?
            .get_multiplexed_async_connection()
            .await
    }

    /// Every byte Redis keeps: its files on disk (the append-only log holds
    /// every write as sent) after a SAVE, plus every key's DUMP.
    pub async fn all_bytes(&self) -> Vec<u8> {
        let mut c = self.connection().await.expect("redis connection");
        let _: String = redis::cmd("SAVE").query_async(&mut c).await.expect("SAVE");
        let mut out = Vec::new();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut c)
            .await
            .expect("KEYS");
        for k in keys {
            out.extend_from_slice(k.as_bytes());
            let dump: Vec<u8> = redis::cmd("DUMP")
                .arg(&k)
                .query_async(&mut c)
                .await
                .expect("DUMP");
            out.extend(dump);
        }
        for file in files(self.dir.path()) {
            out.extend(std::fs::read(file).unwrap_or_default());
        }
        out
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
