//! The threaded servers: a thread per connection, and a fixed pool of
//! workers fed by a bounded queue ([`std::sync::mpsc::sync_channel`]).
//!
//! With every worker busy and the queue full, the accepting thread blocks
//! handing over the next connection, so further clients wait in the kernel's
//! listen backlog until a worker is free — the pool never grows.

use std::io;
use std::sync::{mpsc, Arc, Mutex};

use socket2::Socket;

use super::{accept, Service};
use crate::sys;

/// Accepts forever, serving each connection on a thread of its own
/// ([`sys::spawn_detached`], as dear as a C server's thread). A connection
/// no thread can be made for (out of threads) is closed, and the server
/// accepts the next.
pub(super) fn per_connection(listener: &Socket, service: Arc<Service>) -> io::Result<()> {
    loop {
        let conn = accept(listener)?;
        let service = service.clone();
        if let Err(e) = sys::spawn_detached(move || {
            let _ = service.connection(&conn);
        }) {
            eprintln!("no thread for a connection ({e}): closed it");
        }
    }
}

/// Accepts forever, handing connections to `workers` threads through a queue
/// that holds at most `workers` connections.
pub(super) fn pool(listener: &Socket, service: Arc<Service>, workers: usize) -> io::Result<()> {
    let (queue, inbox) = mpsc::sync_channel::<Socket>(workers);
    let inbox = Arc::new(Mutex::new(inbox));
    for _ in 0..workers {
        let inbox = inbox.clone();
        let service = service.clone();
        std::thread::spawn(move || loop {
            // The lock is held only while taking a connection, never while serving it.
            let next = inbox.lock().unwrap_or_else(|e| e.into_inner()).recv();
            match next {
                Ok(conn) => {
                    let _ = service.connection(&conn);
                }
                Err(mpsc::RecvError) => return,
            }
        });
    }
    loop {
        let conn = accept(listener)?;
        queue
            .send(conn)
            .map_err(|_| io::Error::other("every pool worker is gone"))?;
    }
}
