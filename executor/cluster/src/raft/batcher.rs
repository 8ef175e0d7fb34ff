//! Groups concurrent writes into one raft entry. openraft 0.9 flushes the leader's log
//! once per proposed entry before taking the next, so proposing writes one by one caps a
//! cluster at one fsync per write; proposing whatever has queued as one
//! `Command::Batch` (with a few proposals in flight) shares each fsync among them.

use std::sync::Arc;

use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::rpc::{Reply, WriteReply};
use super::types::Raft;
use crate::error::MetaError;
use crate::model::{Command, Outcome};

/// Most commands in one batch entry (bounds the entry's size).
const MAX_BATCH: usize = 512;
/// Proposals in flight at once; the next batch gathers while they commit.
const IN_FLIGHT: usize = 2;

type Waiter = oneshot::Sender<Reply<WriteReply>>;

/// Handle to the batching task.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::UnboundedSender<(Command, Waiter)>,
}

impl Batcher {
    pub fn start(raft: Raft) -> Batcher {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, rx));
        Batcher { tx }
    }

    /// Proposes `cmd` in the next batch and waits for its own outcome.
    pub async fn write(&self, cmd: Command) -> Reply<WriteReply> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send((cmd, tx)).is_err() {
            return Reply::Failed(MetaError::Unavailable("raft node is shutting down".into()));
        }
        rx.await.unwrap_or_else(|_| {
            Reply::Failed(MetaError::Unavailable("raft node is shutting down".into()))
        })
    }
}

async fn run(raft: Raft, mut rx: mpsc::UnboundedReceiver<(Command, Waiter)>) {
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        // Everything that queued while we waited for a permit joins this batch.
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            propose(&raft, batch).await;
            drop(permit);
        });
    }
}

async fn propose(raft: &Raft, batch: Vec<(Command, Waiter)>) {
    let (commands, waiters): (Vec<Command>, Vec<Waiter>) = batch.into_iter().unzip();
    let single = commands.len() == 1;
    let cmd = if single {
        commands.into_iter().next().expect("one command")
    } else {
        Command::Batch { commands }
    };
    match raft.client_write(cmd).await {
        Ok(resp) => {
            let log_index = resp.log_id.index;
            let outcomes = match resp.data {
                Outcome::Batch { outcomes } if !single => outcomes,
                other => vec![other],
            };
            for (w, outcome) in waiters.into_iter().zip(outcomes) {
                let _ = w.send(Reply::Ok(WriteReply { outcome, log_index }));
            }
        }
        Err(e) => {
            let reply = |e: &RaftError<_, ClientWriteError<_, _>>| match e {
                RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => Reply::NotLeader {
                    leader: f.leader_id.zip(
                        f.leader_node
                            .as_ref()
                            .map(|n: &openraft::BasicNode| n.addr.clone()),
                    ),
                },
                other => Reply::Failed(MetaError::Unavailable(other.to_string())),
            };
            for w in waiters {
                let _ = w.send(reply(&e));
            }
        }
    }
}
