//! Synchronous requests to the coordinator (add_space, rm_space, configuration fetches) over
//! a short-lived blocking connection, bounded by a deadline.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use hyperdex_core::codes::ReturnCode;
use hyperdex_core::proto::Msg;
use hyperdex_core::wire::{HEADER_SIZE, MAX_FRAME};

/// How long a synchronous coordinator request may take in total.
pub(crate) const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// Resolves the coordinator's address (the only name lookup the client does).
pub(crate) fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, ReturnCode> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().map_err(|_| ReturnCode::CoordFail)?.collect();
    if addrs.is_empty() {
        return Err(ReturnCode::CoordFail);
    }
    Ok(addrs)
}

fn remaining(deadline: Instant) -> Result<Duration, ReturnCode> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(ReturnCode::CoordFail)
    } else {
        Ok(left)
    }
}

fn read_full(stream: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> Result<(), ReturnCode> {
    let mut got = 0;
    while got < buf.len() {
        stream.set_read_timeout(Some(remaining(deadline)?)).map_err(|_| ReturnCode::CoordFail)?;
        match stream.read(&mut buf[got..]) {
            Ok(0) => return Err(ReturnCode::CoordFail),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(ReturnCode::CoordFail),
        }
    }
    Ok(())
}

/// Sends `req` and returns the coordinator's one-frame answer. Any failure to connect, send,
/// or read a well-formed reply before `timeout` is COORDFAIL.
pub(crate) fn rpc(addrs: &[SocketAddr], req: &Msg, timeout: Duration) -> Result<Msg, ReturnCode> {
    let deadline = Instant::now() + timeout;
    let mut stream = None;
    for a in addrs {
        if let Ok(s) = TcpStream::connect_timeout(a, remaining(deadline)?) {
            stream = Some(s);
            break;
        }
    }
    let mut stream = stream.ok_or(ReturnCode::CoordFail)?;
    let _ = stream.set_nodelay(true);
    let mut out = Vec::new();
    req.encode(1, &mut out);
    stream.set_write_timeout(Some(remaining(deadline)?)).map_err(|_| ReturnCode::CoordFail)?;
    stream.write_all(&out).map_err(|_| ReturnCode::CoordFail)?;

    let mut len = [0u8; 4];
    read_full(&mut stream, &mut len, deadline)?;
    let len = u32::from_le_bytes(len) as usize;
    if !(HEADER_SIZE - 4..=MAX_FRAME).contains(&len) {
        return Err(ReturnCode::CoordFail);
    }
    let mut rest = vec![0u8; len];
    read_full(&mut stream, &mut rest, deadline)?;
    Msg::decode(rest[0], &rest[HEADER_SIZE - 4..]).map_err(|_| ReturnCode::CoordFail)
}
