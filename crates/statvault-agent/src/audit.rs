//! The agent's audit writer: requests hand their record over and wait until it is
//! durable in the vault's audit log. One thread writes whatever is waiting as one
//! segment (group commit), so many clients cost one write, and signs a checkpoint
//! after it while a session is open.

use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use statvault_vault::audit::{AuditLog, AuditRecord};
use statvault_vault::now_secs;

use crate::session::Session;

/// Most records written as one segment.
const BATCH_MAX: usize = 4096;

struct Job {
    record: AuditRecord,
    session: Option<Arc<Session>>,
    reply: SyncSender<Result<Written, String>>,
}

/// A record made durable: the checkpoint signed after it, if any.
#[derive(Clone, Debug)]
pub struct Written {
    pub checkpoint: Option<String>,
}

pub struct Auditor {
    jobs: Mutex<Sender<Job>>,
}

impl Auditor {
    pub fn start(log: AuditLog) -> Auditor {
        let (tx, rx) = channel();
        std::thread::Builder::new()
            .name("audit".into())
            .spawn(move || write_batches(log, rx))
            .expect("spawning the audit writer");
        Auditor {
            jobs: Mutex::new(tx),
        }
    }

    /// Records `record` durably; with a `session`, the checkpoint after it is signed
    /// with its key. An error means it is not recorded, and the request must be refused.
    pub fn record(
        &self,
        record: AuditRecord,
        session: Option<Arc<Session>>,
    ) -> Result<Written, String> {
        let (reply, answer) = sync_channel(1);
        self.jobs
            .lock()
            .expect("no panics while held")
            .send(Job {
                record,
                session,
                reply,
            })
            .map_err(|_| "the audit writer stopped".to_string())?;
        answer
            .recv()
            .map_err(|_| "the audit writer stopped".to_string())?
    }
}

fn write_batches(mut log: AuditLog, jobs: Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH_MAX {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // A seal passes its session, already closed, to sign the checkpoint that ends it.
        let signer = batch.iter().rev().find_map(|j| j.session.clone());
        let mut records: Vec<AuditRecord> = batch.iter().map(|j| j.record.clone()).collect();
        let outcome = log.append(
            &mut records,
            now_secs(),
            signer.as_ref().map(|s| &s.keys as _),
        );
        drop(signer);
        for job in batch {
            let answer = match &outcome {
                Ok(checkpoint) => Ok(Written {
                    checkpoint: checkpoint.clone(),
                }),
                Err(e) => Err(format!("the audit log could not be written: {e}")),
            };
            let _ = job.reply.send(answer);
        }
    }
}
