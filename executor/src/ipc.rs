//! The wire protocol between the server and its worker processes.
//!
//! Each frame is `[u32 header_len][u32 blob_len][header JSON][blob]` (little endian) on
//! the worker's stdin (server → worker) and on a private copy of its stdout (worker →
//! server). JSON keeps the messages debuggable; heap snapshots travel as the raw blob so
//! megabytes are never base64-encoded.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Frames larger than this are a protocol error, not an allocation request.
pub const MAX_FRAME: usize = 1 << 30;

/// Which console method produced a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Limits of one run, already checked against the server's maxima.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct RunLimits {
    pub heap_bytes: usize,
    /// Wall-clock budget left for the run when it reaches the worker.
    pub timeout_ms: u64,
    pub max_output_bytes: usize,
}

/// Server → worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToWorker {
    /// Run `code`; the blob, when present, is the heap snapshot to resume.
    Run {
        run_id: u64,
        code: String,
        limits: RunLimits,
    },
    /// Stop the run with this id (no-op when it already finished).
    Cancel { run_id: u64 },
}

/// How a run ended inside the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    Completed,
    Failed,
    TimedOut,
    Cancelled,
}

/// How long the parts of a run took inside the worker, for the server's metrics.
/// Every field defaults, so workers and servers of neighbouring versions interoperate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Seconds to create the run's isolate (from the startup snapshot, or by
    /// deserializing the session's heap snapshot when `restored`).
    #[serde(default)]
    pub isolate_secs: Option<f64>,
    #[serde(default)]
    pub restored: bool,
    /// Seconds to snapshot the heap after a completed stateful run.
    #[serde(default)]
    pub snapshot_secs: Option<f64>,
}

/// Worker → server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromWorker {
    /// Sent once at start: the engine is initialised and this is its fingerprint.
    Ready { fingerprint: String, pid: u32 },
    Console {
        run_id: u64,
        stream: Stream,
        text: String,
    },
    /// The run's outcome; for stateful runs a `Snapshot` follows when `ending` is completed.
    Result {
        run_id: u64,
        ending: Ending,
        result: Option<String>,
        error: Option<String>,
        /// Last frame of this run, and the worker exits after it (see `retire`).
        #[serde(default)]
        retire: bool,
        #[serde(default)]
        timings: Timings,
    },
    /// The heap snapshot of a completed stateful run travels as the frame's blob;
    /// `error` says why there is none.
    Snapshot {
        run_id: u64,
        error: Option<String>,
        /// The worker's memory stayed high after the run: it exits after this frame
        /// and the server starts a fresh one.
        #[serde(default)]
        retire: bool,
        #[serde(default)]
        snapshot_secs: Option<f64>,
    },
    /// The worker is about to exit because of the run (memory far past its limit).
    Fatal { run_id: u64, error: String },
}

/// A decoded frame: header plus optional blob.
pub struct Frame<T> {
    pub msg: T,
    pub blob: Vec<u8>,
}

fn encode<T: Serialize>(msg: &T, blob: &[u8]) -> io::Result<Vec<u8>> {
    let header = serde_json::to_vec(msg).map_err(io::Error::other)?;
    let mut out = Vec::with_capacity(8 + header.len() + blob.len());
    out.extend_from_slice(
        &u32::try_from(header.len())
            .map_err(io::Error::other)?
            .to_le_bytes(),
    );
    out.extend_from_slice(
        &u32::try_from(blob.len())
            .map_err(io::Error::other)?
            .to_le_bytes(),
    );
    out.extend_from_slice(&header);
    out.extend_from_slice(blob);
    Ok(out)
}

fn lengths(prefix: [u8; 8]) -> io::Result<(usize, usize)> {
    let h = u32::from_le_bytes(prefix[..4].try_into().expect("4 bytes")) as usize;
    let b = u32::from_le_bytes(prefix[4..].try_into().expect("4 bytes")) as usize;
    if h > MAX_FRAME || b > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    Ok((h, b))
}

fn decode<T: for<'de> Deserialize<'de>>(header: &[u8], blob: Vec<u8>) -> io::Result<Frame<T>> {
    let msg = serde_json::from_slice(header)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(Frame { msg, blob })
}

/// Blocking write, used inside the worker.
pub fn write_frame<T: Serialize>(w: &mut impl Write, msg: &T, blob: &[u8]) -> io::Result<()> {
    w.write_all(&encode(msg, blob)?)?;
    w.flush()
}

/// Blocking read, used inside the worker. `Ok(None)` at a clean end of stream.
pub fn read_frame<T: for<'de> Deserialize<'de>>(r: &mut impl Read) -> io::Result<Option<Frame<T>>> {
    let mut prefix = [0u8; 8];
    match r.read_exact(&mut prefix) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let (h, b) = lengths(prefix)?;
    let mut header = vec![0; h];
    r.read_exact(&mut header)?;
    let mut blob = vec![0; b];
    r.read_exact(&mut blob)?;
    decode(&header, blob).map(Some)
}

/// Async write, used by the server.
pub async fn write_frame_async<T: Serialize>(
    w: &mut (impl AsyncWrite + Unpin),
    msg: &T,
    blob: &[u8],
) -> io::Result<()> {
    w.write_all(&encode(msg, blob)?).await?;
    w.flush().await
}

/// Async read, used by the server. `Ok(None)` when the worker closed its end.
pub async fn read_frame_async<T: for<'de> Deserialize<'de>>(
    r: &mut (impl AsyncRead + Unpin),
) -> io::Result<Option<Frame<T>>> {
    let mut prefix = [0u8; 8];
    match r.read_exact(&mut prefix).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let (h, b) = lengths(prefix)?;
    let mut header = vec![0; h];
    r.read_exact(&mut header).await?;
    let mut blob = vec![0; b];
    r.read_exact(&mut blob).await?;
    decode(&header, blob).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_with_blob() {
        let mut buf = Vec::new();
        let msg = FromWorker::Snapshot {
            run_id: 7,
            error: None,
            retire: true,
            snapshot_secs: Some(0.25),
        };
        write_frame(&mut buf, &msg, b"heap-bytes").unwrap();
        let frame: Frame<FromWorker> = read_frame(&mut buf.as_slice()).unwrap().unwrap();
        assert!(matches!(
            frame.msg,
            FromWorker::Snapshot {
                run_id: 7,
                error: None,
                retire: true,
                ..
            }
        ));
        assert_eq!(frame.blob, b"heap-bytes");
    }

    #[test]
    fn a_result_without_timings_still_decodes() {
        // What a worker from before `timings` existed sends.
        let old = br#"{"type":"result","run_id":3,"ending":"completed","result":"1","error":null}"#;
        let frame: Frame<FromWorker> = decode(old, Vec::new()).unwrap();
        assert!(matches!(
            frame.msg,
            FromWorker::Result { timings, .. } if timings == Timings::default()
        ));
    }

    #[test]
    fn clean_eof_is_none_and_oversized_frame_is_an_error() {
        let empty: &[u8] = &[];
        assert!(read_frame::<ToWorker>(&mut &*empty).unwrap().is_none());
        let mut huge = Vec::new();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&0u32.to_le_bytes());
        assert!(read_frame::<ToWorker>(&mut huge.as_slice()).is_err());
    }
}
