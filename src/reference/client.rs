//! The reference line client: the lecture's client, corrected.
//!
//! It copies stdin to the server and the server's replies to stdout, full
//! duplex — one thread each way — so a long line whose echo fills the socket
//! buffers never deadlocks. At stdin EOF it half-closes (`shutdown(SHUT_WR)`)
//! and keeps printing until the server closes; when the server closes first it
//! returns at once. Replies are sent with `MSG_NOSIGNAL`, so a server that
//! vanished ends the sending thread with `EPIPE`, never the process with `SIGPIPE`.
//!
//! # References
//! - [shutdown(2)](https://man7.org/linux/man-pages/man2/shutdown.2.html)
//! - [send(2)](https://man7.org/linux/man-pages/man2/send.2.html) (`MSG_NOSIGNAL`)

use std::io::{self, Read, Write};
use std::net::Shutdown;

use socket2::Socket;

use super::socket;
use crate::target::net::{send_all, Endpoint};

/// `run()`—connects to `endpoint` and relays `input` to it and its replies to
/// `output` until the server closes the connection.
pub fn run(
    endpoint: &Endpoint,
    input: impl Read + Send + 'static,
    mut output: impl Write,
) -> io::Result<()> {
    let conn = socket::connect(endpoint)?;
    let sender = conn.try_clone()?;
    std::thread::spawn(move || send_until_eof(&sender, input));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match (&mut &conn).read(&mut buf) {
            Ok(0) => return output.flush(),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        output.write_all(&buf[..n])?;
        output.flush()?;
    }
}

/// Copies `input` to `conn`, then half-closes it. A send error (the server is
/// gone) ends the copy: the receiving side reports how the connection ended.
fn send_until_eof(conn: &Socket, mut input: impl Read) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if send_all(conn, &buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = conn.shutdown(Shutdown::Write);
}
