//! Heap store benchmark (`cargo bench -p mcp-v8-store`): compression ratio and speed of
//! the stored format, then put/get latency and throughput for 100 KB and 4 MB snapshots
//! on the directory store, S3 (a moto server on loopback) and cache hits.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_v8_store::{CachedStore, DirStore, HeapId, HeapStore, S3Store, format};

#[allow(dead_code)]
#[path = "../tests/it/data.rs"]
mod data;

const SIZES: [(usize, &str, usize); 2] = [(100 * 1024, "100KB", 40), (4 * 1024 * 1024, "4MB", 10)];

struct Row {
    backend: &'static str,
    size: &'static str,
    op: &'static str,
    samples: Vec<Duration>,
    bytes: usize,
}

fn report(out: &mut impl Write, r: &Row) {
    let mut s = r.samples.clone();
    s.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = s.iter().sum::<Duration>().as_secs_f64() / s.len() as f64;
    let mbps = r.bytes as f64 / mean / 1e6;
    let p95 = s[((s.len() as f64 * 0.95).ceil() as usize).saturating_sub(1)];
    let _ = writeln!(
        out,
        "{:<8} {:>6} {:<4} {:>4} {:>9.2} {:>9.2} {:>9.1}",
        r.backend,
        r.size,
        r.op,
        s.len(),
        ms(s[s.len() / 2]),
        ms(p95),
        mbps
    );
}

async fn bench_store(
    out: &mut impl Write,
    backend: &'static str,
    store: &dyn HeapStore,
    seed: u32,
) {
    for (len, name, n) in SIZES {
        let blobs: Vec<Vec<u8>> = (0..n as u32)
            .map(|i| data::snapshot(seed + i, len))
            .collect();
        let mut ids = Vec::new();
        let mut put = Vec::new();
        for b in &blobs {
            let t = Instant::now();
            ids.push(store.put(b, "bench").await.expect("put"));
            put.push(t.elapsed());
        }
        let mut get = Vec::new();
        for id in &ids {
            let t = Instant::now();
            let heap = store.get(id).await.expect("get");
            get.push(t.elapsed());
            assert_eq!(heap.bytes.len(), len);
        }
        report(
            out,
            &Row {
                backend,
                size: name,
                op: "put",
                samples: put,
                bytes: len,
            },
        );
        report(
            out,
            &Row {
                backend,
                size: name,
                op: "get",
                samples: get,
                bytes: len,
            },
        );
    }
}

fn bench_format(out: &mut impl Write) {
    let _ = writeln!(out, "stored format (zstd level 1, one core):");
    let _ = writeln!(
        out,
        "{:>6} {:>7} {:>14} {:>14}",
        "size", "ratio", "encode MB/s", "decode MB/s"
    );
    for (len, name, n) in SIZES {
        let blob = data::snapshot(1, len);
        let t = Instant::now();
        let mut encoded = (HeapId::of(b""), Vec::new());
        for _ in 0..n {
            encoded = format::encode(&blob, "bench").expect("encode");
        }
        let enc = t.elapsed().as_secs_f64() / n as f64;
        let t = Instant::now();
        for _ in 0..n {
            let heap = format::decode(&encoded.0, &encoded.1).expect("decode");
            assert_eq!(heap.bytes.len(), len);
        }
        let dec = t.elapsed().as_secs_f64() / n as f64;
        let _ = writeln!(
            out,
            "{:>6} {:>7.2} {:>14.1} {:>14.1}",
            name,
            len as f64 / encoded.1.len() as f64,
            len as f64 / enc / 1e6,
            len as f64 / dec / 1e6
        );
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut out = std::io::stdout().lock();
    bench_format(&mut out);
    runtime.block_on(async {
        let moto = mcp_v8_store::testing::Moto::start();
        let tmp = tempfile::tempdir().expect("tempdir");
        let _ = writeln!(
            out,
            "\nput/get (hash + compress + write incl. fsync; get verifies):"
        );
        let _ = writeln!(
            out,
            "{:<8} {:>6} {:<4} {:>4} {:>9} {:>9} {:>9}",
            "backend", "size", "op", "n", "p50 ms", "p95 ms", "MB/s"
        );

        let dir = DirStore::open(tmp.path().join("dir")).expect("dir");
        bench_store(&mut out, "dir", &dir, 1000).await;

        let bucket = moto.bucket("bench").await;
        let s3 = S3Store::connect(&moto.config(&bucket)).await.expect("s3");
        bench_store(&mut out, "s3", &s3, 2000).await;

        // Puts write through to S3; gets are cache hits (everything fits).
        let cached = CachedStore::open(
            DirStore::open(tmp.path().join("cache")).expect("cache"),
            s3.clone(),
            1 << 30,
        )
        .await
        .expect("cached");
        let cached = Arc::new(cached);
        bench_store(&mut out, "cached", &*cached, 3000).await;
        let stats = cached.stats();
        assert_eq!(stats.misses, 0, "every cached get was a hit");
        let _ = writeln!(
            out,
            "(cached: {} hits, {} misses)",
            stats.hits, stats.misses
        );
    });
}
