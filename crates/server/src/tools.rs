//! The administration tools: `add-space`, `rm-space`, `show-config`, `wait-until-stable`.
//! Each is blocking RPCs to the coordinator.

use hyperdex_core::config::Configuration;
use hyperdex_core::proto::Msg;
use hyperdex_core::space::parse_space;
use hyperdex_core::wire::{parse_frame, MAX_FRAME};
use hyperdex_core::{CoordCode, ReturnCode};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Sends one message to the coordinator and waits for its answer.
pub fn rpc(host: &str, port: u16, msg: &Msg) -> io::Result<Msg> {
    rpc_within(host, port, msg, Duration::from_secs(30))
}

/// [`rpc`], waiting at most `wait` for the answer.
fn rpc_within(host: &str, port: u16, msg: &Msg, wait: Duration) -> io::Result<Msg> {
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("cannot resolve {host}")))?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
    let mut out = Vec::new();
    msg.encode(1, &mut out);
    s.write_all(&out)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        if let Some(f) = parse_frame(&buf, MAX_FRAME).map_err(|_| io::Error::other("malformed reply"))? {
            return Msg::decode(f.msg_type, f.body).map_err(|_| io::Error::other("malformed reply"));
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the coordinator closed the connection"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn coord_rc(r: io::Result<Msg>) -> ReturnCode {
    match r {
        Ok(Msg::CoordReply { code }) => code.to_returncode(),
        Ok(_) => ReturnCode::Internal,
        Err(_) => ReturnCode::CoordFail,
    }
}

/// `add-space`: the description is read whole, its words joined by single spaces.
pub fn add_space(host: &str, port: u16, description: &str) -> ReturnCode {
    let joined = description.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Err(e) = parse_space(&joined) {
        eprintln!("{e}");
        return ReturnCode::BadSpace;
    }
    coord_rc(rpc(host, port, &Msg::AddSpace { description: joined, token: 0 }))
}

pub fn rm_space(host: &str, port: u16, name: &str) -> ReturnCode {
    coord_rc(rpc(host, port, &Msg::RmSpace { name: name.to_string(), token: 0 }))
}

pub fn show_config(host: &str, port: u16) -> Result<String, ReturnCode> {
    match rpc(host, port, &Msg::ConfigWait { have: 0 }) {
        Ok(Msg::Config { config }) => {
            Configuration::decode(&config).map(|c| c.to_text()).map_err(|_| ReturnCode::BadConfig)
        }
        Ok(Msg::CoordReply { code }) if code != CoordCode::Success => Err(code.to_returncode()),
        Ok(_) => Err(ReturnCode::BadConfig),
        Err(_) => Err(ReturnCode::CoordFail),
    }
}

/// `wait-until-stable`: waits until every region has f+1 available replicas and no
/// transfer runs, following the coordinator's configurations as they change. `Ok(version)`
/// of the stable configuration; `Err` when `timeout` passes first (or the coordinator
/// cannot be reached then).
pub fn wait_until_stable(host: &str, port: u16, timeout: Option<Duration>) -> Result<u64, ReturnCode> {
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    let mut have = 0;
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        if left == Some(Duration::ZERO) {
            return Err(ReturnCode::Timeout);
        }
        // A wait for anything newer than what we saw: the coordinator answers when the
        // configuration changes (the socket's read timeout bounds the wait).
        let wait = left.unwrap_or(Duration::from_secs(30)).min(Duration::from_secs(30));
        match rpc_within(host, port, &Msg::ConfigWait { have }, wait) {
            Ok(Msg::Config { config }) => {
                let cfg = Configuration::decode(&config).map_err(|_| ReturnCode::BadConfig)?;
                if cfg.stable() {
                    return Ok(cfg.version);
                }
                have = cfg.version;
            }
            Ok(_) => return Err(ReturnCode::BadConfig),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut => {}
            Err(_) => {
                if deadline.is_none() {
                    return Err(ReturnCode::CoordFail);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
