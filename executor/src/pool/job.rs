//! A run as the pool tracks it: queued, running or done, with exactly one outcome
//! delivered whichever of result, cancel, timeout or crash comes first.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;

use crate::ipc::{Ending, RunLimits, Stream, Timings};

/// Final status of a run (the interface contract's statuses minus queued/running).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Completed,
    Failed,
    Cancelled,
    TimedOut,
}

impl Status {
    /// Bounded label for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
            Status::TimedOut => "timed_out",
        }
    }
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub status: Status,
    pub result: Option<String>,
    pub error: Option<String>,
    /// The new heap (stateful, completed runs).
    pub snapshot: Option<Vec<u8>>,
    /// Why a completed stateful run has no heap.
    pub snapshot_error: Option<String>,
    /// What the worker measured (isolate creation, snapshot), for metrics.
    pub timings: Timings,
    /// Time from submission until a worker took the run (`None`: it never got one).
    pub queue_wait: Option<Duration>,
}

impl RunOutcome {
    pub fn from_ending(
        ending: Ending,
        result: Option<String>,
        error: Option<String>,
        snapshot: Option<Vec<u8>>,
    ) -> Self {
        let status = match ending {
            Ending::Completed => Status::Completed,
            Ending::Failed => Status::Failed,
            Ending::TimedOut => Status::TimedOut,
            Ending::Cancelled => Status::Cancelled,
        };
        Self {
            status,
            result,
            error,
            snapshot,
            snapshot_error: None,
            timings: Timings::default(),
            queue_wait: None,
        }
    }

    pub fn status(status: Status, error: &str) -> Self {
        Self {
            status,
            result: None,
            error: Some(error.to_owned()),
            snapshot: None,
            snapshot_error: None,
            timings: Timings::default(),
            queue_wait: None,
        }
    }
}

/// One console line of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleLine {
    pub stream: Stream,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Queued,
    Running,
    Done,
}

/// What the worker needs to run a job: code, input heap, limits.
pub type Spec = (String, Option<Vec<u8>>, RunLimits);

pub struct Job {
    pub id: u64,
    pub deadline: Instant,
    pub timeout: Duration,
    spec: Mutex<Option<Spec>>,
    state: Mutex<State>,
    cancel: Notify,
    cancel_flag: AtomicBool,
    outcome: Mutex<Option<oneshot::Sender<RunOutcome>>>,
    /// Dropped when the run ends, which closes the receiver's stream.
    console: Mutex<Option<mpsc::UnboundedSender<ConsoleLine>>>,
    /// Runs waiting for a worker, shared with the pool (the queue's capacity).
    queued: Arc<AtomicUsize>,
    /// How long the run waited for a worker, once one took it.
    waited: Mutex<Option<Duration>>,
}

impl Job {
    pub fn new(
        id: u64,
        code: String,
        heap: Option<Vec<u8>>,
        limits: RunLimits,
        queued: Arc<AtomicUsize>,
    ) -> (
        Self,
        oneshot::Receiver<RunOutcome>,
        mpsc::UnboundedReceiver<ConsoleLine>,
    ) {
        let (otx, orx) = oneshot::channel();
        let (ctx, crx) = mpsc::unbounded_channel();
        let timeout = Duration::from_millis(limits.timeout_ms);
        let job = Self {
            id,
            deadline: Instant::now() + timeout,
            timeout,
            spec: Mutex::new(Some((code, heap, limits))),
            state: Mutex::new(State::Queued),
            cancel: Notify::new(),
            cancel_flag: AtomicBool::new(false),
            outcome: Mutex::new(Some(otx)),
            console: Mutex::new(Some(ctx)),
            queued,
            waited: Mutex::new(None),
        };
        (job, orx, crx)
    }

    /// Queued → running. False when the run already ended (cancelled or timed out
    /// while queued), so the worker skips it.
    pub fn start(&self) -> bool {
        let mut s = self.state.lock().expect("job state");
        if *s == State::Queued {
            *s = State::Running;
            self.queued.fetch_sub(1, Ordering::Relaxed);
            let submitted = self.deadline - self.timeout;
            *self.waited.lock().expect("job wait") = Some(submitted.elapsed());
            true
        } else {
            false
        }
    }

    /// Whether a worker has taken the run (and it has not ended yet).
    pub fn is_running(&self) -> bool {
        *self.state.lock().expect("job state") == State::Running
    }

    /// The code, heap and limits, with the timeout shortened by the time spent queued.
    /// `None` if it was taken already (a job is dispatched once; `start` ensures it).
    pub fn take_spec(&self) -> Option<Spec> {
        let (code, heap, mut limits) = self.spec.lock().ok()?.take()?;
        let left = self.deadline.saturating_duration_since(Instant::now());
        limits.timeout_ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1);
        Some((code, heap, limits))
    }

    pub fn console(&self, stream: Stream, text: String) {
        if let Some(tx) = self.console.lock().expect("job console").as_ref() {
            let _ = tx.send(ConsoleLine { stream, text });
        }
    }

    pub fn finish(&self, outcome: RunOutcome) {
        *self.state.lock().expect("job state") = State::Done;
        self.deliver(outcome);
    }

    fn deliver(&self, mut outcome: RunOutcome) {
        outcome.queue_wait = *self.waited.lock().expect("job wait");
        self.console.lock().expect("job console").take();
        if let Some(tx) = self.outcome.lock().expect("job outcome").take() {
            let _ = tx.send(outcome);
        }
    }

    /// Ends a queued run at once with `status`; asks a running one to stop.
    pub fn stop(&self, status: Status, error: &str) {
        let was = {
            let mut s = self.state.lock().expect("job state");
            let was = *s;
            if was == State::Queued {
                *s = State::Done;
                self.queued.fetch_sub(1, Ordering::Relaxed);
            }
            was
        };
        match was {
            State::Queued => self.deliver(RunOutcome::status(status, error)),
            State::Running if status == Status::Cancelled => {
                self.cancel_flag.store(true, Ordering::SeqCst);
                self.cancel.notify_one();
            }
            _ => {}
        }
    }

    /// Resolves once a cancel was requested for this (running) job.
    pub async fn cancel_requested(&self) {
        if self.cancel_flag.load(Ordering::SeqCst) {
            return;
        }
        self.cancel.notified().await;
    }
}
