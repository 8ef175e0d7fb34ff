//! The worker process: `mcp-v8 __worker`. It owns one V8 engine and runs one isolate
//! at a time for the server, speaking [`crate::ipc`] over stdin and a private copy of
//! stdout. The real fd 1 is pointed at stderr first, so nothing V8 or a library
//! prints can corrupt the protocol (or, on the stdio transport, the MCP stream).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::os::fd::OwnedFd;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::engine::limits::{Stop, StopFlag};
use crate::engine::{ENGINE_FLAGS, Engine, snapshot};
use crate::ipc::{self, Ending, FromWorker, RunLimits, ToWorker};

/// A worker whose resident memory stays `above` bytes over where it started
/// (allocator arenas, fragmentation after a memory-hungry run) hands over to a fresh
/// process.
fn retire_now(start_rss: u64, above: u64) -> bool {
    rss_bytes().is_some_and(|rss| rss > start_rss + above)
}

type Writer = Arc<Mutex<BufWriter<File>>>;
/// The run in progress (its id and stop flag), for cancel requests.
type Current = Option<(u64, Arc<StopFlag>)>;

fn send(w: &Writer, msg: &FromWorker, blob: &[u8]) {
    if let Ok(mut w) = w.lock()
        && ipc::write_frame(&mut *w, msg, blob).is_err()
    {
        // The server is gone; nothing left to serve.
        std::process::exit(0);
    }
}

/// Takes fd 1 for the protocol and points fd 1 at stderr.
fn protocol_stdout() -> std::io::Result<File> {
    let proto: OwnedFd = rustix::io::dup(std::io::stdout())?;
    rustix::stdio::dup2_stdout(std::io::stderr())?;
    Ok(File::from(proto))
}

struct Job {
    run_id: u64,
    code: String,
    heap: Option<Vec<u8>>,
    limits: RunLimits,
    stop: Arc<StopFlag>,
}

/// Entry point of `mcp-v8 __worker`.
pub fn main(
    snapshotting: bool,
    startup_snapshot: &std::path::Path,
    recycle_above_mb: u64,
    io_config: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let recycle_above = recycle_above_mb << 20;
    let out: Writer = Arc::new(Mutex::new(BufWriter::new(protocol_stdout()?)));
    deno_core::v8_set_flags(vec!["mcp-v8".into(), ENGINE_FLAGS.into()]);
    let startup = std::fs::read(startup_snapshot)?;
    let io = match io_config {
        Some(path) => serde_json::from_slice(&std::fs::read(path)?)?,
        None => crate::io::IoConfig::default(),
    };
    let engine = Engine::new(snapshotting, startup, &io)?;
    warm_up(&engine);
    let fingerprint = snapshot::fingerprint(if snapshotting {
        "snapshotting"
    } else {
        "plain"
    });
    send(
        &out,
        &FromWorker::Ready {
            fingerprint,
            pid: std::process::id(),
        },
        &[],
    );

    let start_rss = rss_bytes().unwrap_or(0);
    let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
    let watchdog = Watchdog::start(out.clone());
    let current: Arc<Mutex<Current>> = Arc::default();
    {
        let current = current.clone();
        let watchdog = watchdog.clone();
        let out = out.clone();
        std::thread::Builder::new()
            .name("control".into())
            .spawn(move || {
                let mut stdin = BufReader::new(std::io::stdin());
                loop {
                    match ipc::read_frame::<ToWorker>(&mut stdin) {
                        Ok(Some(frame)) => match frame.msg {
                            ToWorker::Run {
                                run_id,
                                code,
                                limits,
                            } => {
                                let stop = Arc::new(StopFlag::default());
                                let notice = out.clone();
                                stop.on_stop(Box::new(move |reason| {
                                    if reason == Stop::HeapLimit {
                                        let error = "RangeError: heap limit exceeded".to_owned();
                                        send(&notice, &FromWorker::Fatal { run_id, error }, &[]);
                                    }
                                }));
                                if let Ok(mut c) = current.lock() {
                                    *c = Some((run_id, stop.clone()));
                                }
                                watchdog.arm(run_id, &limits, stop.clone());
                                let heap = (!frame.blob.is_empty()).then_some(frame.blob);
                                if jobs_tx
                                    .send(Job {
                                        run_id,
                                        code,
                                        heap,
                                        limits,
                                        stop,
                                    })
                                    .is_err()
                                {
                                    return;
                                }
                            }
                            ToWorker::Cancel { run_id } => {
                                if let Ok(c) = current.lock()
                                    && let Some((id, stop)) = c.as_ref()
                                    && *id == run_id
                                {
                                    stop.stop(Stop::Cancelled);
                                }
                            }
                        },
                        // The server closed our stdin (or sent garbage): exit quietly.
                        Ok(None) | Err(_) => std::process::exit(0),
                    }
                }
            })?;
    }

    for job in jobs_rx {
        let console_out = out.clone();
        let run_id = job.run_id;
        let console = Box::new(move |stream, text: &str| {
            send(
                &console_out,
                &FromWorker::Console {
                    run_id,
                    stream,
                    text: text.to_owned(),
                },
                &[],
            );
        });
        let snapshots = engine.will_snapshot();
        let restored = job.heap.is_some();
        let mut reported_at = None;
        let snap = engine.run(&job.code, job.heap, &job.limits, &job.stop, console, |r| {
            watchdog.disarm();
            reported_at = Some(Instant::now());
            let timings = ipc::Timings {
                isolate_secs: Some(engine.last_isolate_setup())
                    .filter(|d| !d.is_zero())
                    .map(|d| d.as_secs_f64()),
                restored,
                snapshot_secs: None,
            };
            // A completed stateful run ends with its Snapshot frame instead.
            let last = !(snapshots && r.ending == Ending::Completed);
            // A stateful isolate stopped from outside (timeout, cancel, heap limit)
            // cannot be freed cleanly (see engine::dispose): a fresh process replaces
            // this one.
            let stopped = snapshots && job.stop.reason().is_some();
            let retire = last && (stopped || retire_now(start_rss, recycle_above));
            let msg = FromWorker::Result {
                run_id,
                ending: r.ending,
                result: r.result.clone(),
                error: r.error.clone(),
                retire,
                timings,
            };
            send(&out, &msg, &[]);
            if retire {
                std::process::exit(0);
            }
        });
        if let Some(snap) = snap {
            let retire = engine.take_leaked() || retire_now(start_rss, recycle_above);
            let (error, bytes) = match snap {
                Ok(bytes) => (None, bytes),
                Err(e) => (Some(e), Vec::new()),
            };
            send(
                &out,
                &FromWorker::Snapshot {
                    run_id,
                    error,
                    retire,
                    snapshot_secs: reported_at.map(|t| t.elapsed().as_secs_f64()),
                },
                &bytes,
            );
            if retire {
                std::process::exit(0);
            }
        }
        // The server may already have sent the next run; only clear our own.
        if let Ok(mut c) = current.lock()
            && c.as_ref().is_some_and(|(id, _)| *id == run_id)
        {
            *c = None;
        }
    }
    Ok(())
}

/// Runs one trivial script before the worker reports ready. The first isolate of a
/// process maps and touches most of V8 and the binary (well over 100 MB of RSS); doing
/// it here keeps that out of the first real run's latency and out of the memory growth
/// the watchdog allows a run.
fn warm_up(engine: &Engine) {
    let limits = RunLimits {
        heap_bytes: 16 << 20,
        timeout_ms: 10_000,
        max_output_bytes: 1024,
    };
    let stop = Arc::new(StopFlag::default());
    let _ = engine.run("0", None, &limits, &stop, Box::new(|_, _: &str| {}), |_| {});
}

/// Ends runs that pass their deadline, and the worker when its memory runs away
/// (WebAssembly memories are outside both the V8 heap and the ArrayBuffer budget).
#[derive(Clone)]
struct Watchdog(mpsc::Sender<Option<Armed>>);

struct Armed {
    run_id: u64,
    deadline: Instant,
    rss_limit: u64,
    stop: Arc<StopFlag>,
}

const POLL: Duration = Duration::from_millis(25);

impl Watchdog {
    fn start(out: Writer) -> Self {
        let (tx, rx) = mpsc::channel::<Option<Armed>>();
        std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                let mut armed: Option<Armed> = None;
                loop {
                    let msg = if armed.is_some() { rx.recv_timeout(POLL) } else { rx.recv().map_err(|_| RecvTimeoutError::Disconnected) };
                    match msg {
                        Ok(next) => armed = next,
                        Err(RecvTimeoutError::Disconnected) => return,
                        Err(RecvTimeoutError::Timeout) => {}
                    }
                    let Some(a) = armed.as_ref() else { continue };
                    if Instant::now() >= a.deadline {
                        a.stop.stop(Stop::TimedOut);
                    }
                    let rss = rss_bytes().unwrap_or(0);
                    if rss > a.rss_limit {
                        a.stop.stop(Stop::HeapLimit);
                    }
                    if rss > a.rss_limit.saturating_mul(2) {
                        let error = format!(
                            "RangeError: heap limit exceeded (the worker's memory reached {} MB; WebAssembly memories count too)",
                            rss >> 20
                        );
                        send(&out, &FromWorker::Fatal { run_id: a.run_id, error }, &[]);
                        std::process::exit(70);
                    }
                }
            })
            .expect("spawn watchdog thread");
        Watchdog(tx)
    }

    fn arm(&self, run_id: u64, limits: &RunLimits, stop: Arc<StopFlag>) {
        let deadline = Instant::now() + Duration::from_millis(limits.timeout_ms);
        // Growth allowed during this run: the isolate, its buffers and compiled code
        // beyond the heap itself, counted from where this run starts.
        let rss_limit = rss_bytes().unwrap_or(0) + (limits.heap_bytes as u64) * 4 + (128 << 20);
        let _ = self.0.send(Some(Armed {
            run_id,
            deadline,
            rss_limit,
            stop,
        }));
    }

    fn disarm(&self) {
        let _ = self.0.send(None);
    }
}

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Entry point of `mcp-v8 __snapshot`: writes the startup snapshot to `out`.
pub fn make_snapshot(out: &std::path::Path, webassembly_global: bool) -> anyhow::Result<()> {
    // This short-lived process alone keeps V8's flags writable after start-up; see
    // engine::runtime::make_startup_snapshot.
    deno_core::v8_set_flags(vec![
        "mcp-v8".into(),
        "--no-freeze-flags-after-init".into(),
        ENGINE_FLAGS.into(),
    ]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let _enter = rt.enter();
    let bytes = crate::engine::runtime::make_startup_snapshot(webassembly_global);
    let tmp = out.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, out)?;
    Ok(())
}
