//! The worker pool: a bounded queue in front of N supervised worker processes, each
//! running one isolate at a time. Workers are started ahead of need and replaced
//! when they die; a full queue is a clear "server busy", never an unbounded backlog.

mod job;
mod process;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use job::Job;
pub use job::{ConsoleLine, RunOutcome, Status};
use process::{After, WorkerProcess};

use crate::ipc::RunLimits;

#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Worker processes (= runs in parallel).
    pub workers: usize,
    /// Runs that may wait for a worker before submissions are refused.
    pub queue_capacity: usize,
    /// Snapshot the heap after every completed run.
    pub stateful: bool,
    /// The `mcp-v8` binary to start workers from.
    pub worker_exe: PathBuf,
    /// Workers whose memory stays this many MB above their start are replaced.
    pub recycle_above_mb: u64,
    /// What runs may reach outside their isolate.
    pub io: crate::io::IoConfig,
    /// Logging flags workers get (`--log`, `--log-format`), so their lines match the server's.
    pub log_args: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("server busy: {queued} runs are already waiting for a worker; retry shortly")]
    Busy { queued: usize },
    #[error("the worker pool is shut down")]
    Closed,
    #[error("could not build the startup snapshot: {0}")]
    Startup(String),
}

impl PoolError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            PoolError::Busy { .. } => "busy",
            PoolError::Closed => "closed",
            PoolError::Startup(_) => "startup",
        }
    }
}

/// A submitted run: its console lines as they are produced, and its one outcome.
pub struct RunHandle {
    pub id: u64,
    pub console: mpsc::UnboundedReceiver<ConsoleLine>,
    pub outcome: oneshot::Receiver<RunOutcome>,
    job: Arc<Job>,
}

impl RunHandle {
    /// Cancels the run at whatever stage it is in.
    pub fn cancel(&self) {
        self.job.stop(Status::Cancelled, "execution cancelled");
    }

    pub fn canceller(&self) -> Canceller {
        Canceller(self.job.clone())
    }

    /// Waits for the outcome, dropping console lines.
    pub async fn wait(self) -> RunOutcome {
        self.outcome
            .await
            .unwrap_or_else(|_| RunOutcome::status(Status::Failed, "the worker pool shut down"))
    }
}

/// Cancels a run from elsewhere (another task, another request).
#[derive(Clone)]
pub struct Canceller(Arc<Job>);

impl Canceller {
    pub fn cancel(&self) {
        self.0.stop(Status::Cancelled, "execution cancelled");
    }

    /// Whether a worker is running it now (false while queued and once ended).
    pub fn is_running(&self) -> bool {
        self.0.is_running()
    }
}

pub struct Pool {
    /// Unbounded: `queued` (live waiting runs) enforces the capacity, so that a run
    /// cancelled or timed out while waiting frees its place at once.
    queue: async_channel::Sender<Arc<Job>>,
    queued: Arc<AtomicUsize>,
    capacity: usize,
    next_id: AtomicU64,
    in_flight: Arc<AtomicUsize>,
    pids: Arc<Mutex<Vec<u32>>>,
    fingerprint: String,
    _snapshot_dir: tempfile::TempDir,
}

impl Pool {
    /// Builds the startup snapshot and starts the workers (without waiting for them).
    pub async fn start(config: PoolConfig) -> Result<Self, PoolError> {
        let dir = tempfile::Builder::new()
            .prefix("mcp-v8-engine-")
            .tempdir()
            .map_err(|e| PoolError::Startup(format!("temporary directory: {e}")))?;
        let startup = dir.path().join("startup.snapshot");
        let mut cmd = tokio::process::Command::new(&config.worker_exe);
        cmd.arg("__snapshot").arg("--out").arg(&startup);
        if config.stateful {
            cmd.arg("--webassembly-global");
        }
        let status = cmd
            .status()
            .await
            .map_err(|e| PoolError::Startup(e.to_string()))?;
        if !status.success() {
            return Err(PoolError::Startup(format!(
                "the snapshot builder exited with {status}"
            )));
        }
        // The directory is private to this user (0700); the file can hold header secrets.
        let io_config = dir.path().join("io.json");
        let io_json = serde_json::to_vec(&config.io)
            .map_err(|e| PoolError::Startup(format!("I/O settings: {e}")))?;
        std::fs::write(&io_config, io_json)
            .map_err(|e| PoolError::Startup(format!("I/O settings: {e}")))?;
        let (tx, rx) = async_channel::unbounded::<Arc<Job>>();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let pids = Arc::new(Mutex::new(vec![0; config.workers.max(1)]));
        for slot in 0..config.workers.max(1) {
            let rx = rx.clone();
            let pids = pids.clone();
            let exe = config.worker_exe.clone();
            let startup = startup.clone();
            let extra: Vec<std::ffi::OsString> = [
                std::ffi::OsString::from("--io-config"),
                io_config.clone().into_os_string(),
            ]
            .into_iter()
            .chain(config.log_args.iter().map(Into::into))
            .collect();
            let in_flight = in_flight.clone();
            let stateful = config.stateful;
            let recycle = config.recycle_above_mb;
            tokio::spawn(async move {
                supervise(
                    slot,
                    Spawn {
                        exe,
                        stateful,
                        startup,
                        recycle,
                        extra,
                    },
                    rx,
                    in_flight,
                    pids,
                )
                .await;
            });
        }
        let fingerprint = crate::engine::snapshot::fingerprint(if config.stateful {
            "snapshotting"
        } else {
            "plain"
        });
        let queued = Arc::new(AtomicUsize::new(0));
        Ok(Self {
            queue: tx,
            queued,
            capacity: config.queue_capacity.max(1),
            next_id: AtomicU64::new(1),
            in_flight,
            pids,
            fingerprint,
            _snapshot_dir: dir,
        })
    }

    /// Queues a run. Its timeout starts now, queue time included.
    pub fn submit(
        &self,
        code: String,
        heap: Option<Vec<u8>>,
        limits: RunLimits,
    ) -> Result<RunHandle, PoolError> {
        let taken = self.queued.fetch_add(1, Ordering::Relaxed);
        if taken >= self.capacity {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(PoolError::Busy { queued: taken });
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (job, outcome, console) = Job::new(id, code, heap, limits, self.queued.clone());
        let job = Arc::new(job);
        if self.queue.try_send(job.clone()).is_err() {
            job.stop(Status::Failed, "the worker pool is shut down");
            return Err(PoolError::Closed);
        }
        // A run that is still queued at its deadline times out where it stands.
        let timer = job.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(timer.deadline).await;
            let msg = format!(
                "execution timed out after {} ms while waiting for a worker",
                timer.timeout.as_millis()
            );
            timer.stop(Status::TimedOut, &msg);
        });
        Ok(RunHandle {
            id,
            console,
            outcome,
            job,
        })
    }

    /// Runs waiting for a worker.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Process ids of the live workers (0 for a slot being restarted).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.pids.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Worker processes up now (slots being restarted do not count).
    pub fn live_workers(&self) -> usize {
        self.worker_pids().iter().filter(|p| **p != 0).count()
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// What snapshots made by this pool's engine are stored with.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// Keeps one worker slot filled: start a process, feed it runs, replace it when it dies.
/// How to start a worker process.
struct Spawn {
    exe: PathBuf,
    stateful: bool,
    startup: PathBuf,
    recycle: u64,
    /// Further worker arguments (I/O settings file, logging).
    extra: Vec<std::ffi::OsString>,
}

async fn supervise(
    slot: usize,
    spawn: Spawn,
    rx: async_channel::Receiver<Arc<Job>>,
    in_flight: Arc<AtomicUsize>,
    pids: Arc<Mutex<Vec<u32>>>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if rx.is_closed() {
            return;
        }
        let mut proc = match WorkerProcess::spawn(
            &spawn.exe,
            spawn.stateful,
            &spawn.startup,
            spawn.recycle,
            &spawn.extra,
        )
        .await
        {
            Ok(p) => {
                backoff = Duration::from_millis(100);
                p
            }
            Err(e) => {
                tracing::error!(slot, error = %e, "worker start failed; retrying");
                if rx.is_closed() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        tracing::debug!(slot, pid = proc.pid, "worker ready");
        if let Ok(mut p) = pids.lock() {
            p[slot] = proc.pid;
        }
        loop {
            let Ok(job) = rx.recv().await else { return };
            if !job.start() {
                continue;
            }
            in_flight.fetch_add(1, Ordering::Relaxed);
            let after = proc.run(&job).await;
            in_flight.fetch_sub(1, Ordering::Relaxed);
            match after {
                After::Alive => {}
                After::Retired => {
                    tracing::debug!(slot, pid = proc.pid, "worker retired; replacing it");
                    break;
                }
                After::Dead => {
                    tracing::warn!(
                        slot,
                        pid = proc.pid,
                        run = job.id,
                        "worker died; replacing it"
                    );
                    break;
                }
            }
        }
        // Not live again until its replacement is ready.
        if let Ok(mut p) = pids.lock() {
            p[slot] = 0;
        }
    }
}
