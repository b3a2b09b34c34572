//! Log lines written in batches (issue 15: the per-RPC line is on every
//! RPC's path). A line is appended to a shared buffer (one uncontended lock
//! and a copy); a flusher thread writes the buffer to stdout every
//! [`FLUSH_EVERY`], so an RPC never makes a system call or wakes a thread to
//! log. Nothing is dropped: when the buffer holds [`MAX_PENDING`] bytes, the
//! logging thread writes it out itself. [`Flusher::stop`] (at exit) writes
//! what is left; a process killed outright loses at most the last
//! [`FLUSH_EVERY`] of lines.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// How often the flusher writes.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Bytes pending before the logging thread writes them itself.
pub const MAX_PENDING: usize = 1 << 20;

/// Where batches go (stdout; a buffer in tests).
type Sink = Box<dyn Fn(&[u8]) + Send + Sync>;

struct Shared {
    pending: Mutex<Vec<u8>>,
    sink: Sink,
    stop: AtomicBool,
    wake: Condvar,
    /// Serialises the writes to stdout, so batches keep their order.
    out: Mutex<()>,
}

impl Shared {
    /// Writes whatever is pending to stdout.
    fn flush(&self) {
        let _order = self.out.lock();
        let batch = std::mem::take(&mut *self.pending.lock());
        if batch.is_empty() {
            return;
        }
        (self.sink)(&batch);
    }
}

/// The `MakeWriter` of the batched log (cheap to clone).
#[derive(Clone)]
pub struct Batched {
    shared: Arc<Shared>,
}

/// Stops the flusher and writes what is left; dropping it does the same.
pub struct Flusher {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Flusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Flusher")
    }
}

/// A batched stdout and its flusher thread (None: the thread could not be
/// started; then lines are written as they come).
pub fn stdout() -> (Batched, Option<Flusher>) {
    with_sink(
        Box::new(|batch| {
            let mut stdout = std::io::stdout().lock();
            // Nowhere to report a failed log write: the lines are gone either way.
            let _ = stdout.write_all(batch);
            let _ = stdout.flush();
        }),
        true,
    )
}

fn with_sink(sink: Sink, start_flusher: bool) -> (Batched, Option<Flusher>) {
    let shared = Arc::new(Shared {
        sink,
        pending: Mutex::new(Vec::with_capacity(64 * 1024)),
        stop: AtomicBool::new(false),
        wake: Condvar::new(),
        out: Mutex::new(()),
    });
    let worker = shared.clone();
    let thread = start_flusher
        .then(|| {
            std::thread::Builder::new()
                .name("graph-gateway-log".into())
                .spawn(move || {
                    let mut idle = worker.out.lock();
                    while !worker.stop.load(Ordering::Acquire) {
                        worker.wake.wait_for(&mut idle, FLUSH_EVERY);
                        drop(idle);
                        worker.flush();
                        idle = worker.out.lock();
                    }
                })
        })
        .and_then(Result::ok);
    let flusher = thread.map(|t| Flusher {
        shared: shared.clone(),
        thread: Some(t),
    });
    let batched = Batched { shared };
    if flusher.is_none() {
        batched.shared.stop.store(true, Ordering::Release);
    }
    (batched, flusher)
}

impl Flusher {
    /// Stops the thread and writes the lines still pending.
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.flush();
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.finish();
    }
}

/// One line being written.
pub struct Line<'a> {
    shared: &'a Shared,
}

impl std::io::Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let full = {
            let mut pending = self.shared.pending.lock();
            pending.extend_from_slice(buf);
            pending.len() >= MAX_PENDING
        };
        // Stopped (or no flusher): straight out; a full buffer: written by
        // the thread that filled it, so nothing is dropped.
        if full || self.shared.stop.load(Ordering::Acquire) {
            self.shared.flush();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Batched {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line {
            shared: &self.shared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collected_with(flusher: bool) -> (Batched, Option<Flusher>, Arc<Mutex<Vec<u8>>>) {
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        let (b, f) = with_sink(
            Box::new(move |batch| sink.lock().extend_from_slice(batch)),
            flusher,
        );
        (b, f, out)
    }

    fn collected() -> (Batched, Option<Flusher>, Arc<Mutex<Vec<u8>>>) {
        collected_with(true)
    }

    #[test]
    fn stop_writes_the_pending_lines_and_later_lines_go_straight_out() {
        let (b, flusher, out) = collected();
        let flusher = flusher.unwrap();
        tracing_subscriber::fmt::MakeWriter::make_writer(&b)
            .write_all(b"one\n")
            .unwrap();
        flusher.stop();
        assert_eq!(&*out.lock(), b"one\n");
        assert!(b.shared.pending.lock().is_empty());
        tracing_subscriber::fmt::MakeWriter::make_writer(&b)
            .write_all(b"two\n")
            .unwrap();
        assert_eq!(&*out.lock(), b"one\ntwo\n");
    }

    #[test]
    fn the_flusher_writes_within_its_interval() {
        let (b, _flusher, out) = collected();
        tracing_subscriber::fmt::MakeWriter::make_writer(&b)
            .write_all(b"line\n")
            .unwrap();
        // Polled, not slept: a wall-clock thread, bounded at 100 intervals.
        let give_up = std::time::Instant::now() + FLUSH_EVERY * 100;
        while out.lock().is_empty() && std::time::Instant::now() < give_up {
            std::thread::yield_now();
        }
        assert_eq!(&*out.lock(), b"line\n");
    }

    #[test]
    fn a_full_buffer_is_written_by_the_thread_that_filled_it() {
        let (b, flusher, out) = collected_with(false);
        assert!(flusher.is_none());
        // Without a flusher lines go straight out; a flusher that never
        // comes round is what this test stands for.
        b.shared.stop.store(false, Ordering::Release);
        let mut w = tracing_subscriber::fmt::MakeWriter::make_writer(&b);
        let chunk = vec![b'.'; 4096];
        for _ in 0..(MAX_PENDING / 4096 + 1) {
            w.write_all(&chunk).unwrap();
        }
        assert!(b.shared.pending.lock().len() < MAX_PENDING);
        assert!(out.lock().len() >= MAX_PENDING);
    }
}
