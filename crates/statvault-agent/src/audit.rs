//! The agent's audit writer: requests hand their record over and wait until it is
//! durable in the vault's audit log. One thread writes whatever is waiting as one
//! segment (group commit), so many clients cost one write, and signs a checkpoint
//! after it while a session is open.

use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use std::net::UdpSocket;

use statvault_vault::audit::{hostname, syslog_line, AuditLog, AuditRecord};
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
    /// Starts the writer; with `syslog`, each record written is also sent there as an
    /// RFC 5424 line (UDP, RFC 5426), best effort: the vault's log is the record.
    pub fn start(log: AuditLog, syslog: Option<UdpSocket>) -> Auditor {
        let (tx, rx) = channel();
        std::thread::Builder::new()
            .name("audit".into())
            .spawn(move || write_batches(log, rx, syslog))
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

fn write_batches(mut log: AuditLog, jobs: Receiver<Job>, syslog: Option<UdpSocket>) {
    let host = hostname();
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
        if let (Some(socket), Ok(_)) = (&syslog, &outcome) {
            for record in &records {
                let _ = socket.send(syslog_line(record, &host).as_bytes());
            }
        }
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
