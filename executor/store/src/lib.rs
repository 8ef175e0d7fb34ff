//! `mcp-v8-store`: the content-addressed heap snapshot store of mcp-v8.
//!
//! A heap is stored under its `HeapId` (SHA-256 of the uncompressed snapshot) in a small
//! versioned format (`format`) carrying the engine fingerprint and a zstd payload. Three
//! backends implement `HeapStore`: a local directory (`dir`), an S3 bucket (`s3`) and a
//! bounded write-through local cache in front of S3 (`cache`). `args` holds the CLI
//! flags shared by `mcp-v8` and the `mcp-v8-store` admin tool; `config` opens the
//! configured store. Nothing here depends on V8.

mod args;
mod cache;
mod config;
mod dir;
mod error;
pub mod format;
mod id;
mod lru;
mod s3;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use args::{StoreArgs, parse_bytes};
pub use cache::{CacheStats, CachedStore, DEFAULT_CACHE_MAX_BYTES};
pub use config::{OpenedStore, StoreConfig};
pub use dir::{DEFAULT_DIR, DirStore};
pub use error::StoreError;
pub use id::{HEAP_ID_LEN, HeapId};
pub use s3::{S3Config, S3Store};
pub use store::{HeapInfo, HeapStore, StoredHeap, get_matching};
