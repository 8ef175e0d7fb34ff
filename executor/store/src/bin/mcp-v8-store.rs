//! `mcp-v8-store`: admin CLI for operators inspecting a heap store, configured with the
//! same storage flags (and `MCP_V8_*` env vars) as `mcp-v8`.
//!
//! Exit status: 0 success, 1 a failed operation (missing or corrupt heap, store down),
//! 2 bad usage.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mcp_v8_store::{HeapId, HeapStore, OpenedStore, StoreArgs, StoreError};

#[derive(Parser, Debug)]
#[command(
    name = "mcp-v8-store",
    version,
    about = "Inspect and maintain an mcp-v8 heap store"
)]
struct Cli {
    #[command(flatten)]
    store: StoreArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Store a file (or stdin with `-`) as a heap and print its id
    Put {
        file: PathBuf,
        /// Engine fingerprint recorded with the heap
        #[arg(long, default_value = "")]
        fingerprint: String,
    },
    /// Write a heap's bytes to stdout (verified against its id)
    Get { id: String },
    /// List heap ids, one per line
    Ls,
    /// Show size, compressed size, fingerprint and where a heap was found
    Stat {
        id: String,
        /// Print JSON instead of `key: value` lines
        #[arg(long)]
        json: bool,
    },
    /// Re-hash heaps (all when no id is given); exit status 1 if any is missing or corrupt
    Verify { ids: Vec<String> },
}

/// A command failure: the message goes to stderr, the status to the shell.
struct Failure(String);

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure(format!("error: {e}"))
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure(format!("error: {e}"))
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&Failure(format!("error: cannot start the runtime: {e}"))),
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(f) => fail(&f),
    }
}

fn fail(f: &Failure) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "{}", f.0);
    ExitCode::FAILURE
}

async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let config = cli.store.validate()?;
    let Some(store) = config.open_backend().await? else {
        return Err(Failure(
            "error: --stateless has no heap store to inspect".into(),
        ));
    };
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Put { file, fingerprint } => {
            let bytes = if file.as_os_str() == "-" {
                let mut buf = Vec::new();
                std::io::stdin().read_to_end(&mut buf)?;
                buf
            } else {
                std::fs::read(&file)
                    .map_err(|e| Failure(format!("error: cannot read {}: {e}", file.display())))?
            };
            let id = store.as_dyn().put(&bytes, &fingerprint).await?;
            writeln!(out, "{id}")?;
        }
        Command::Get { id } => {
            let heap = store.as_dyn().get(&parse_id(&id)?).await?;
            out.write_all(&heap.bytes)?;
        }
        Command::Ls => {
            for id in store.as_dyn().list().await? {
                writeln!(out, "{id}")?;
            }
        }
        Command::Stat { id, json } => {
            let info = store.as_dyn().stat(&parse_id(&id)?).await?;
            if json {
                let text =
                    serde_json::to_string(&info).map_err(|e| Failure(format!("error: {e}")))?;
                writeln!(out, "{text}")?;
            } else {
                writeln!(out, "id: {}", info.id)?;
                writeln!(out, "size: {}", info.size)?;
                writeln!(out, "stored_size: {}", info.stored_size)?;
                writeln!(out, "compression: {}", info.compression)?;
                writeln!(out, "fingerprint: {}", info.fingerprint)?;
                writeln!(out, "location: {}", info.location)?;
            }
        }
        Command::Verify { ids } => return verify(&store, ids, &mut out).await,
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_id(s: &str) -> Result<HeapId, Failure> {
    s.parse::<HeapId>().map_err(Failure::from)
}

/// Verifies every copy that the store holds: for a cached store that is the S3 object
/// and, when present, the cache entry, since either can rot independently.
async fn verify(
    store: &OpenedStore,
    ids: Vec<String>,
    out: &mut impl Write,
) -> Result<ExitCode, Failure> {
    let ids: Vec<HeapId> = if ids.is_empty() {
        let mut all = store.as_dyn().list().await?;
        // A cache entry whose S3 object is gone (a failed write-through, a deleted
        // object) is worth reporting too.
        if let OpenedStore::Cached(s) = store {
            all.extend(s.cache().list().await?);
            all.sort();
            all.dedup();
        }
        all
    } else {
        ids.iter().map(|s| parse_id(s)).collect::<Result<_, _>>()?
    };
    let mut layers: Vec<(&str, &dyn HeapStore)> = Vec::new();
    match store {
        OpenedStore::Dir(s) => layers.push(("dir", s)),
        OpenedStore::S3(s) => layers.push(("s3", s)),
        OpenedStore::Cached(s) => {
            layers.push(("s3", s.remote()));
            layers.push(("cache", s.cache()));
        }
    }
    let (mut ok, mut bad) = (0usize, 0usize);
    for id in &ids {
        for (i, (location, layer)) in layers.iter().enumerate() {
            // The cache layer only holds some ids: absent there is fine.
            let optional = i > 0;
            match layer.get(id).await {
                Ok(_) => {
                    ok += 1;
                    writeln!(out, "ok {id} {location}")?;
                }
                Err(StoreError::NotFound { .. }) if optional => {}
                Err(e @ (StoreError::NotFound { .. } | StoreError::Corrupt { .. })) => {
                    bad += 1;
                    let word = if matches!(e, StoreError::NotFound { .. }) {
                        "MISSING"
                    } else {
                        "CORRUPT"
                    };
                    writeln!(out, "{word} {id} {location}: {e}")?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    writeln!(out, "verified {ok} ok, {bad} bad")?;
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
