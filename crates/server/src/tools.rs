//! The administration tools: `add-space`, `rm-space`, `show-config`, `wait-until-stable`.
//! Each is blocking RPCs to the coordinator group's leader (redirects followed).

use hyperdex_core::config::Configuration;
use hyperdex_core::coordset::{retry_token, CoordinatorSet, Next};
use hyperdex_core::proto::Msg;
use hyperdex_core::space::parse_space;
use hyperdex_core::wire::{parse_frame, MAX_FRAME};
use hyperdex_core::{CoordCode, ReturnCode};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// How long a tool waits for the coordinator group (a failover included) by default.
const TOOL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one connection attempt may take before the next coordinator is tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one coordinator may take to answer a request other than a configuration wait.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Wait before trying the next coordinator after one failed or knew no leader.
const RETRY: Duration = Duration::from_millis(50);

/// The coordinator group as a tool sees it: the address it was given, the coordinators of
/// the configurations it saw, and the leader redirects name.
struct Group {
    set: CoordinatorSet,
}

impl Group {
    fn new(host: &str, port: u16) -> io::Result<Group> {
        let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
        if addrs.is_empty() {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("cannot resolve {host}")));
        }
        Ok(Group { set: CoordinatorSet::new(addrs) })
    }

    /// Sends `msg` to the group's leader and returns its answer and the leader's address,
    /// all within `wait`: follows redirects, and tries the other coordinators when one
    /// cannot be reached or closes (the request is then sent again: add-space and rm-space
    /// carry a token so that the group applies them once). A read that times out ends the
    /// call with that error (the leader had nothing to say).
    fn ask(&mut self, msg: &Msg, wait: Duration) -> io::Result<(Msg, SocketAddr)> {
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        msg.encode(1, &mut out);
        loop {
            let addr = self.set.target().ok_or_else(|| io::Error::other("no coordinator address"))?;
            let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
            // A live leader answers at once, except a wait for a newer configuration: one
            // that says nothing for ATTEMPT_TIMEOUT hangs, and the next coordinator is
            // asked (add-space and rm-space carry a token: never done twice).
            let waits = matches!(msg, Msg::ConfigWait { have } if *have > 0);
            let attempt = if waits { left } else { left.min(ATTEMPT_TIMEOUT) };
            let next = match ask_one(addr, &out, attempt) {
                Ok(Msg::Redirect { leader }) => self.set.redirected(addr, &leader),
                Ok(answer) => {
                    self.set.answered(addr);
                    if let Msg::Config { config } = &answer {
                        if let Ok(cfg) = Configuration::decode(config) {
                            self.set.learn(&cfg.coordinators);
                        }
                    }
                    return Ok((answer, addr));
                }
                Err(e) if waits && matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return Err(e)
                }
                Err(e) => {
                    self.set.failed(addr);
                    if self.set.all_down() {
                        return Err(e);
                    }
                    Next::Later
                }
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no coordinator leader answered in time"));
            }
            if next == Next::Later {
                std::thread::sleep(RETRY.min(left));
            }
        }
    }
}

/// One attempt: connects to `addr`, sends the encoded request, reads one answer.
fn ask_one(addr: SocketAddr, request: &[u8], wait: Duration) -> io::Result<Msg> {
    let mut s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT.min(wait))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(wait))?;
    s.write_all(request)?;
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

/// Sends one message to the coordinator group's leader and waits for its answer.
pub fn rpc(host: &str, port: u16, msg: &Msg) -> io::Result<Msg> {
    Group::new(host, port)?.ask(msg, TOOL_TIMEOUT).map(|(m, _)| m)
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
    // One token for every attempt: the group applies it once however often it is sent.
    coord_rc(rpc(host, port, &Msg::AddSpace { description: joined, token: retry_token() }))
}

pub fn rm_space(host: &str, port: u16, name: &str) -> ReturnCode {
    coord_rc(rpc(host, port, &Msg::RmSpace { name: name.to_string(), token: retry_token() }))
}

/// `show-config`: the configuration's text, its leader's coordinator line marked.
pub fn show_config(host: &str, port: u16) -> Result<String, ReturnCode> {
    let mut group = Group::new(host, port).map_err(|_| ReturnCode::CoordFail)?;
    match group.ask(&Msg::ConfigWait { have: 0 }, TOOL_TIMEOUT) {
        Ok((Msg::Config { config }, leader)) => {
            Configuration::decode(&config).map(|c| mark_leader(&c.to_text(), leader)).map_err(|_| ReturnCode::BadConfig)
        }
        Ok((Msg::CoordReply { code }, _)) if code != CoordCode::Success => Err(code.to_returncode()),
        Ok(_) => Err(ReturnCode::BadConfig),
        Err(_) => Err(ReturnCode::CoordFail),
    }
}

/// Appends ` leader` to the `coordinator` line of `text` whose address is `leader` (only
/// the leader answers a configuration request, so the one that answered is it).
fn mark_leader(text: &str, leader: SocketAddr) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for line in text.lines() {
        out.push_str(line);
        let addr = line.strip_prefix("coordinator ").and_then(|rest| rest.split(" address=").nth(1));
        if addr.and_then(|a| a.parse::<SocketAddr>().ok()) == Some(leader) {
            out.push_str(" leader");
        }
        out.push('\n');
    }
    out
}

/// `wait-until-stable`: waits until every region has f+1 available replicas and no
/// transfer runs, following the coordinator's configurations as they change. `Ok(version)`
/// of the stable configuration; `Err` when `timeout` passes first (or the coordinator
/// cannot be reached then).
pub fn wait_until_stable(host: &str, port: u16, timeout: Option<Duration>) -> Result<u64, ReturnCode> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut group = Group::new(host, port).map_err(|_| ReturnCode::CoordFail)?;
    let mut have = 0;
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left == Some(Duration::ZERO) {
            return Err(ReturnCode::Timeout);
        }
        // A wait for anything newer than what we saw: the leader answers when the
        // configuration changes (the socket's read timeout bounds the wait).
        let wait = left.unwrap_or(TOOL_TIMEOUT).min(TOOL_TIMEOUT);
        match group.ask(&Msg::ConfigWait { have }, wait) {
            Ok((Msg::Config { config }, _)) => {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leader_line_is_marked_and_nothing_else_changes() {
        let text = "configuration cluster=7 version=3\n\
                    coordinator id=1 address=127.0.0.1:1982\n\
                    coordinator id=2 address=127.0.0.1:1983\n\
                    coordinator id=3 address=not-an-address\n\
                    server id=server(5) address=127.0.0.1:1983 state=AVAILABLE\n";
        let marked = mark_leader(text, "127.0.0.1:1983".parse().unwrap());
        let want = text.replace("id=2 address=127.0.0.1:1983\n", "id=2 address=127.0.0.1:1983 leader\n");
        assert_eq!(marked, want);
        assert_eq!(mark_leader(text, "127.0.0.1:9".parse().unwrap()), text);
    }
}
