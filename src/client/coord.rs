//! Synchronous requests to the coordinator (add_space, rm_space, configuration fetches) over
//! short-lived blocking connections, bounded by a deadline, following the coordinator
//! group's redirects to its leader.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use hyperdex_core::codes::ReturnCode;
use hyperdex_core::coordset::{CoordinatorSet, Next};
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

/// How long one connection attempt may take: a coordinator that does not answer the
/// connect must not use up the whole deadline while others could be asked.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one coordinator may take to answer a synchronous request.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends `req` to the coordinator group's leader and returns its one-frame answer: follows
/// redirects, and tries the other known coordinators when one cannot be reached, closes or
/// answers nonsense. COORDFAIL once every known coordinator failed, or at `timeout`. A
/// request that may have been applied before its connection dropped is sent again: callers
/// whose requests must not be applied twice give them a token.
pub(crate) fn rpc(
    set: &mut CoordinatorSet,
    req: &Msg,
    timeout: Duration,
    retry_delay: Duration,
) -> Result<Msg, ReturnCode> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    req.encode(1, &mut out);
    loop {
        let addr = set.target().ok_or(ReturnCode::CoordFail)?;
        // A live leader answers these at once: one that says nothing for ATTEMPT_TIMEOUT
        // hangs (or its host is cut off), and the next coordinator is asked (requests that
        // change something carry a token, so asking again never does them twice).
        let attempt = deadline.min(Instant::now() + ATTEMPT_TIMEOUT);
        let next = match ask(addr, &out, attempt) {
            Ok(Msg::Redirect { leader }) => set.redirected(addr, &leader),
            Ok(answer) => {
                set.answered(addr);
                return Ok(answer);
            }
            Err(_) => {
                set.failed(addr);
                if set.all_down() {
                    return Err(ReturnCode::CoordFail);
                }
                Next::Later
            }
        };
        let left = remaining(deadline)?;
        if next == Next::Later {
            std::thread::sleep(retry_delay.min(left));
        }
    }
}

/// One attempt: connects to `addr`, sends the encoded request, reads one frame.
fn ask(addr: SocketAddr, request: &[u8], deadline: Instant) -> Result<Msg, ReturnCode> {
    let mut stream = TcpStream::connect_timeout(&addr, remaining(deadline)?.min(CONNECT_TIMEOUT))
        .map_err(|_| ReturnCode::CoordFail)?;
    let _ = stream.set_nodelay(true);
    stream.set_write_timeout(Some(remaining(deadline)?)).map_err(|_| ReturnCode::CoordFail)?;
    stream.write_all(request).map_err(|_| ReturnCode::CoordFail)?;

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
