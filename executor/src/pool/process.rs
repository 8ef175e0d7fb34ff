//! One supervised worker process: spawn it, wait until its engine is ready, send it
//! runs, and turn everything that can happen to a run (result, snapshot, crash,
//! runaway) into exactly one outcome.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::BufReader;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};

use super::job::{Job, RunOutcome, Status};
use crate::ipc::{self, Ending, FromWorker, ToWorker};

/// How long a run may outlive its deadline (or a cancel) before its worker is killed.
pub const KILL_GRACE: Duration = Duration::from_millis(1500);
const READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("could not start worker process {exe}: {source}")]
    Spawn { exe: String, source: std::io::Error },
    #[error("worker process did not become ready: {0}")]
    NotReady(String),
}

pub struct WorkerProcess {
    child: Child,
    stdin: ChildStdin,
    frames: mpsc::UnboundedReceiver<ipc::Frame<FromWorker>>,
    pub pid: u32,
    stateful: bool,
}

/// Whether the process can take another run.
pub enum After {
    Alive,
    /// It exited on purpose (memory to give back, an isolate it could not free).
    Retired,
    Dead,
}

impl WorkerProcess {
    pub async fn spawn(
        exe: &Path,
        stateful: bool,
        startup: &Path,
        recycle_above_mb: u64,
        extra: &[std::ffi::OsString],
    ) -> Result<Self, SpawnError> {
        let mut cmd = Command::new(exe);
        cmd.arg("__worker").arg("--startup-snapshot").arg(startup);
        cmd.arg("--recycle-above-mb")
            .arg(recycle_above_mb.to_string())
            .args(extra);
        if stateful {
            cmd.arg("--snapshotting");
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|source| SpawnError::Spawn {
            exe: exe.display().to_string(),
            source,
        })?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| SpawnError::NotReady("no stdin".into()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| SpawnError::NotReady("no stdout".into()))?;
        // A dedicated reader keeps frame decoding out of `select!`, where a
        // half-read frame would be lost.
        let (tx, mut frames) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut r = BufReader::with_capacity(1 << 16, stdout);
            while let Ok(Some(frame)) = ipc::read_frame_async::<FromWorker>(&mut r).await {
                if tx.send(frame).is_err() {
                    break;
                }
            }
        });
        let ready = timeout(READY_TIMEOUT, frames.recv()).await;
        let pid = match ready {
            Ok(Some(ipc::Frame {
                msg: FromWorker::Ready { pid, .. },
                ..
            })) => pid,
            Ok(Some(_)) => return Err(SpawnError::NotReady("unexpected first message".into())),
            Ok(None) => {
                let status = child
                    .wait()
                    .await
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                return Err(SpawnError::NotReady(format!("it exited ({status})")));
            }
            Err(_) => return Err(SpawnError::NotReady("timed out".into())),
        };
        Ok(Self {
            child,
            stdin,
            frames,
            pid,
            stateful,
        })
    }

    /// Runs `job` to its one outcome.
    pub async fn run(&mut self, job: &Job) -> After {
        let Some((code, heap, limits)) = job.take_spec() else {
            job.finish(RunOutcome::status(
                Status::Failed,
                "internal error: run dispatched twice",
            ));
            return After::Alive;
        };
        let run_id = job.id;
        let msg = ToWorker::Run {
            run_id,
            code,
            limits,
        };
        if ipc::write_frame_async(&mut self.stdin, &msg, heap.as_deref().unwrap_or(&[]))
            .await
            .is_err()
        {
            return self.died(job, None, None, false).await;
        }
        let mut kill_at = job.deadline + KILL_GRACE;
        let mut cancelling = false;
        let mut result: Option<(Ending, Option<String>, Option<String>)> = None;
        let mut timings = ipc::Timings::default();
        let mut fatal: Option<String> = None;
        loop {
            tokio::select! {
                frame = self.frames.recv() => {
                    let Some(frame) = frame else {
                        return self.died(job, result, fatal, cancelling).await;
                    };
                    match frame.msg {
                        FromWorker::Console { stream, text, .. } => job.console(stream, text),
                        FromWorker::Result { ending, result: r, error, retire, timings: t, .. } => {
                            timings = t;
                            if self.stateful && ending == Ending::Completed {
                                // The heap snapshot follows; the result is safe either way.
                                result = Some((ending, r, error));
                                kill_at = Instant::now() + Duration::from_secs(60);
                            } else {
                                let mut outcome = RunOutcome::from_ending(ending, r, error, None);
                                outcome.timings = timings;
                                job.finish(outcome);
                                return self.after(retire).await;
                            }
                        }
                        FromWorker::Snapshot { error, retire, snapshot_secs, .. } => {
                            let (_, r, _) = result.take().unwrap_or((Ending::Completed, None, None));
                            let snapshot = if error.is_none() { Some(frame.blob) } else { None };
                            let mut outcome = RunOutcome::from_ending(Ending::Completed, r, None, snapshot);
                            outcome.snapshot_error = error;
                            outcome.timings = ipc::Timings { snapshot_secs, ..timings };
                            job.finish(outcome);
                            return self.after(retire).await;
                        }
                        FromWorker::Fatal { error, .. } => fatal = Some(error),
                        FromWorker::Ready { .. } => {}
                    }
                }
                () = job.cancel_requested(), if !cancelling => {
                    cancelling = true;
                    kill_at = kill_at.min(Instant::now() + KILL_GRACE);
                    let _ = ipc::write_frame_async(&mut self.stdin, &ToWorker::Cancel { run_id }, &[]).await;
                }
                () = sleep_until(kill_at) => {
                    // Termination did not take effect (or the snapshot hangs): the
                    // process goes, the run ends, a fresh worker takes its place.
                    let _ = self.child.start_kill();
                    let _ = self.child.wait().await;
                    let outcome = if let Some((_, r, _)) = result.take() {
                        let mut o = RunOutcome::from_ending(Ending::Completed, r, None, None);
                        o.snapshot_error = Some("heap snapshot took too long; the worker was replaced".into());
                        o
                    } else if cancelling {
                        RunOutcome::status(Status::Cancelled, "execution cancelled (the worker did not stop in time and was replaced)")
                    } else {
                        RunOutcome::status(Status::TimedOut, &format!(
                            "execution timed out after {} ms (the worker did not stop in time and was replaced)",
                            job.timeout.as_millis()
                        ))
                    };
                    job.finish(outcome);
                    return After::Dead;
                }
            }
        }
    }

    /// A retiring worker exits by itself after its last frame; reap it.
    async fn after(&mut self, retire: bool) -> After {
        if !retire {
            return After::Alive;
        }
        let _ = timeout(Duration::from_secs(5), self.child.wait()).await;
        After::Retired
    }

    async fn died(
        &mut self,
        job: &Job,
        result: Option<(Ending, Option<String>, Option<String>)>,
        fatal: Option<String>,
        cancelling: bool,
    ) -> After {
        let status = self
            .child
            .wait()
            .await
            .map(|s| s.to_string())
            .unwrap_or_else(|e| e.to_string());
        let outcome = if let Some((_, r, _)) = result {
            let mut o = RunOutcome::from_ending(Ending::Completed, r, None, None);
            o.snapshot_error = Some(format!(
                "the heap could not be saved: V8 aborted while snapshotting ({status}). Either the heap is too \
                 large to serialise within the run's memory (keep big strings and arrays out of top-level \
                 bindings, or raise heap_memory_max_mb), or it still reaches WebAssembly instances or asm.js \
                 functions, which cannot be snapshotted (create and use them inside a function, or run stateless)"
            ));
            o
        } else if let Some(error) = fatal {
            RunOutcome::status(Status::Failed, &error)
        } else if cancelling {
            RunOutcome::status(Status::Cancelled, "execution cancelled")
        } else if Instant::now() >= job.deadline {
            RunOutcome::status(
                Status::TimedOut,
                &format!("execution timed out after {} ms", job.timeout.as_millis()),
            )
        } else {
            RunOutcome::status(
                Status::Failed,
                &format!(
                    "the worker process running this code died ({status}) and was replaced; V8 ends its \
                     process on memory exhaustion it cannot recover from, so if this repeats, raise heap_memory_max_mb"
                ),
            )
        };
        job.finish(outcome);
        After::Dead
    }
}
