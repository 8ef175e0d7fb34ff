//! The `mcp-v8` binary: the server side, plus the hidden worker and snapshot-builder
//! entry points it starts itself.

use std::io::Read;
use std::process::ExitCode;

use clap::Parser;
use mcp_v8::config::{Cli, Command, ExecArgs, LogFormat};
use mcp_v8::pool::{Pool, PoolConfig};
use mcp_v8::runner::{RunRequest, Runner};
use mcp_v8_store::StoreConfig;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = matches!(cli.command, Some(Command::Exec(_)));
    let filter = cli
        .log
        .as_deref()
        .unwrap_or(if quiet { "warn" } else { "info" });
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match cli.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.init(),
    }
    let result = match &cli.command {
        Some(Command::Worker {
            startup_snapshot,
            snapshotting,
            recycle_above_mb,
            io_config,
        }) => mcp_v8::worker::main(
            *snapshotting,
            startup_snapshot,
            *recycle_above_mb,
            io_config.as_deref(),
        )
        .map(|()| ExitCode::SUCCESS),
        Some(Command::Snapshot {
            out,
            webassembly_global,
        }) => mcp_v8::worker::make_snapshot(out, *webassembly_global).map(|()| ExitCode::SUCCESS),
        Some(Command::Exec(args)) => exec(&cli, args),
        None => tokio::runtime::Runtime::new()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(mcp_v8::server::serve(&cli)))
            .map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mcp-v8: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[allow(
    clippy::print_stdout,
    reason = "printing the record is what `exec` is for"
)]
fn exec(cli: &Cli, args: &ExecArgs) -> anyhow::Result<ExitCode> {
    let code = match args.code.as_deref() {
        None | Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s
        }
        Some(c) => c.to_owned(),
    };
    cli.engine.validate().map_err(anyhow::Error::msg)?;
    let store_config = cli.store.validate()?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let store = store_config.open().await?;
        let pool = Pool::start(PoolConfig {
            workers: 1,
            queue_capacity: 1,
            stateful: !matches!(store_config, StoreConfig::Stateless),
            worker_exe: std::env::current_exe()?,
            recycle_above_mb: cli.engine.worker_recycle_mb,
            io: cli
                .io
                .resolve(&cli.server.session_db_path)
                .map_err(anyhow::Error::msg)?,
            // `exec` is quiet unless asked otherwise, workers included.
            log_args: match cli.log {
                Some(_) => cli.worker_log_args(),
                None => vec!["--log".into(), "warn".into()],
            },
        })
        .await?;
        let runner = Runner::new(pool, store, cli.engine.clone());
        let req = RunRequest {
            code,
            heap: args.heap.clone(),
            heap_memory_max_mb: args.heap_memory_max_mb,
            execution_timeout_secs: args.execution_timeout_secs,
        };
        let mut handle = runner.submit(req).await?;
        let mut output = String::new();
        let outcome = loop {
            tokio::select! {
                Some(line) = handle.console.recv() => {
                    output.push_str(&line.text);
                    output.push('\n');
                }
                outcome = &mut handle.outcome => break outcome?,
            }
        };
        while let Ok(line) = handle.console.try_recv() {
            output.push_str(&line.text);
            output.push('\n');
        }
        let finished = runner.finish(outcome).await;
        let mut record = serde_json::to_value(&finished)?;
        record["output"] = output.into();
        println!("{}", serde_json::to_string_pretty(&record)?);
        Ok(if finished.status == mcp_v8::pool::Status::Completed {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}
