//! Lets heap snapshots chain: snapshot → restore → run → snapshot → restore → …
//!
//! deno_core (0.413) keeps the source text of its own JS and of our bootstrap as V8
//! external strings, and a snapshot's sidecar carries those sources so a restored
//! isolate can re-create them (at fixed external-reference indices). A snapshot made
//! *from a restored isolate* writes an empty source list, although its heap still
//! refers to those indices; restoring it would read the wrong references and crash.
//! Every heap of this engine descends from one startup snapshot, so its sources are
//! the right ones for every generation: after each snapshot, the sidecar's source
//! count and source list are set back to the startup snapshot's.
//!
//! The sidecar format (deno_core `runtime/snapshot.rs`, `snapshot_format.rs`) ends
//! with `op_count: u64, source_count: u64, addl_refs_count: u64, ext_source_maps:
//! seq, external_strings: seq`, where a seq is a `u32` count followed by its items
//! and a byte string is a `u32` length followed by the bytes; the blob is
//! `v8 data ‖ sidecar ‖ v8_data_len: u64`. Everything is checked before it is
//! touched, so a different layout is an error, never a corrupt heap.

/// The startup snapshot's source list, ready to be written into later snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartupSources {
    /// The encoded `external_strings` seq.
    strings: Vec<u8>,
    count: u64,
    op_count: u64,
    addl_refs: u64,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Splits a deno_core snapshot into (v8 data, sidecar).
fn split(blob: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let n = blob.len();
    let v8_len = n
        .checked_sub(8)
        .and_then(|at| u64_at(blob, at))
        .ok_or("snapshot too short")? as usize;
    if v8_len > n - 8 {
        return Err("snapshot length field out of range".into());
    }
    Ok((&blob[..v8_len], &blob[v8_len..n - 8]))
}

/// Walks a seq of `count` items starting at `at`, each item being `fields` byte
/// strings (with `u32` lengths; the top bit of a str header is a flag). Returns the end.
fn walk_seq(b: &[u8], at: usize, fields: usize) -> Option<usize> {
    let count = u32_at(b, at)? as usize;
    let mut pos = at + 4;
    for _ in 0..count {
        for _ in 0..fields {
            let len = (u32_at(b, pos)? & 0x7fff_ffff) as usize;
            pos = pos.checked_add(4 + len)?;
            if pos > b.len() {
                return None;
            }
        }
    }
    Some(pos)
}

impl StartupSources {
    /// Reads the source list of a snapshot built from scratch (the startup snapshot).
    pub fn from_startup(blob: &[u8]) -> Result<Self, String> {
        let (_, side) = split(blob)?;
        // The string list is the last field: find where a seq starting there ends
        // exactly at the end, then confirm the fields before it.
        for p in (0..side.len().saturating_sub(4)).rev() {
            let Some(count) = u32_at(side, p) else {
                continue;
            };
            if count == 0 || count > 10_000 || walk_seq(side, p, 1) != Some(side.len()) {
                continue;
            }
            for q in (0..p.saturating_sub(24)).rev() {
                if u64_at(side, q + 8) == Some(u64::from(count))
                    && walk_seq(side, q + 24, 2) == Some(p)
                {
                    return Ok(Self {
                        strings: side[p..].to_vec(),
                        count: u64::from(count),
                        op_count: u64_at(side, q).unwrap_or(0),
                        addl_refs: u64_at(side, q + 16).unwrap_or(0),
                    });
                }
            }
        }
        Err("the startup snapshot's sidecar does not have the expected layout".into())
    }

    /// Gives a snapshot made from a restored isolate the startup snapshot's sources.
    pub fn rechain(&self, blob: &[u8]) -> Result<Vec<u8>, String> {
        let (v8, side) = split(blob)?;
        let n = side.len();
        let tail = n.checked_sub(32).ok_or("snapshot sidecar too short")?;
        let (ops, sources, addl) = (
            u64_at(side, tail),
            u64_at(side, tail + 8),
            u64_at(side, tail + 16),
        );
        let (maps, strings) = (u32_at(side, n - 8), u32_at(side, n - 4));
        if (ops, addl) != (Some(self.op_count), Some(self.addl_refs))
            || maps != Some(0)
            || strings != Some(0)
            || sources.is_none()
        {
            return Err("the heap snapshot's sidecar does not have the expected layout".into());
        }
        let mut out = Vec::with_capacity(blob.len() + self.strings.len());
        out.extend_from_slice(v8);
        out.extend_from_slice(&side[..tail + 8]);
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&side[tail + 16..n - 4]);
        out.extend_from_slice(&self.strings);
        out.extend_from_slice(&(v8.len() as u64).to_le_bytes());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(v8: &[u8], side: &[u8]) -> Vec<u8> {
        let mut b = v8.to_vec();
        b.extend_from_slice(side);
        b.extend_from_slice(&(v8.len() as u64).to_le_bytes());
        b
    }

    fn tail(ops: u64, sources: u64, addl: u64, maps: &[u8], strings: &[u8]) -> Vec<u8> {
        let mut t = b"module-map-and-templates".to_vec();
        t.extend_from_slice(&ops.to_le_bytes());
        t.extend_from_slice(&sources.to_le_bytes());
        t.extend_from_slice(&addl.to_le_bytes());
        t.extend_from_slice(maps);
        t.extend_from_slice(strings);
        t
    }

    fn seq(items: &[&[u8]]) -> Vec<u8> {
        let mut s = (items.len() as u32).to_le_bytes().to_vec();
        for i in items {
            s.extend_from_slice(&(i.len() as u32).to_le_bytes());
            s.extend_from_slice(i);
        }
        s
    }

    #[test]
    fn a_restored_snapshot_gets_the_startup_sources_back() {
        let strings = seq(&[b"function a() {}", b"console.log(1)"]);
        let mut maps = 1u32.to_le_bytes().to_vec();
        maps.extend_from_slice(&seq(&[b"ext:x.js"])[4..]);
        maps.extend_from_slice(&seq(&[b"map"])[4..]);
        let startup = blob(b"V8DATA", &tail(40, 2, 2, &maps, &strings));
        let s = StartupSources::from_startup(&startup).unwrap();
        assert_eq!((s.count, s.op_count, s.addl_refs), (2, 40, 2));

        let gen2 = blob(
            b"V8HEAP!",
            &tail(40, 0, 2, &0u32.to_le_bytes(), &0u32.to_le_bytes()),
        );
        let fixed = s.rechain(&gen2).unwrap();
        let expected = blob(b"V8HEAP!", &tail(40, 2, 2, &0u32.to_le_bytes(), &strings));
        assert_eq!(fixed, expected);
    }

    #[test]
    fn an_unexpected_layout_is_an_error() {
        let startup = blob(b"V8", &tail(40, 1, 0, &0u32.to_le_bytes(), &seq(&[b"src"])));
        let s = StartupSources::from_startup(&startup).unwrap();
        let other_ops = blob(
            b"V8",
            &tail(41, 0, 0, &0u32.to_le_bytes(), &0u32.to_le_bytes()),
        );
        assert!(s.rechain(&other_ops).is_err());
        assert!(s.rechain(&[1, 2, 3]).is_err());
        assert!(StartupSources::from_startup(b"garbage-garbage-garbage").is_err());
    }
}
