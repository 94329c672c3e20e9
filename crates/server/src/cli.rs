//! `hyperdex <command> [flags]`: argument parsing (long `--name=value` / `--name value`,
//! short `-n value` / `-nvalue`) and dispatch.

use crate::{coordinator, daemon, tools};
use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;

pub const VERSION: &str = "1.0.0";

const HELP: &str = "usage: hyperdex [--version] [--help] <command> [<args>]

commands:
  coordinator   run a coordinator   [-f|-d] [-D DIR] [-l IP] [-p PORT] [-c ADDR -P PORT: join its group] [--lease-ms MS]
  daemon        run a storage daemon [-f|-d] [-D DIR] [-l IP] [-p PORT] [-c ADDR] [-P PORT] [-t N] [--sync] [--cache-mb MB]
  add-space     add a space (description on standard input)  [-h HOST] [-p PORT]
  rm-space      remove spaces                                [-h HOST] [-p PORT] NAME...
  show-config   print the cluster configuration              [-h HOST] [-p PORT]
  wait-until-stable  wait until every region has f+1 replicas and no transfer runs
                                                             [-h HOST] [-p PORT] [-t SECONDS]
";

/// One flag: (short, long, takes a value).
type Spec = &'static [(char, &'static str, bool)];

struct Parsed {
    values: HashMap<&'static str, String>,
    switches: Vec<&'static str>,
    positional: Vec<String>,
}

fn parse(spec: Spec, args: &[String]) -> Result<Parsed, String> {
    let mut p = Parsed { values: HashMap::new(), switches: Vec::new(), positional: Vec::new() };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        let (found, inline) = if let Some(long) = a.strip_prefix("--") {
            let (name, val) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            (spec.iter().find(|s| s.1 == name), val)
        } else if a.starts_with('-') && a.len() > 1 {
            let c = a[1..].chars().next().unwrap_or('-');
            let rest = &a[1 + c.len_utf8()..];
            (spec.iter().find(|s| s.0 == c), if rest.is_empty() { None } else { Some(rest.to_string()) })
        } else {
            p.positional.push(a.clone());
            continue;
        };
        let Some(&(_, long, takes)) = found else { return Err(format!("unknown option {a}")) };
        if takes {
            let v = match inline {
                Some(v) => v,
                None => {
                    let v = args.get(i).ok_or_else(|| format!("option {a} needs a value"))?;
                    i += 1;
                    v.clone()
                }
            };
            p.values.insert(long, v);
        } else {
            if inline.is_some() {
                return Err(format!("option {a} takes no value"));
            }
            p.switches.push(long);
        }
    }
    Ok(p)
}

fn port(p: &Parsed, name: &str, default: u16) -> Result<u16, String> {
    match p.values.get(name) {
        None => Ok(default),
        Some(v) => v.parse::<u16>().ok().filter(|v| *v > 0).ok_or_else(|| format!("--{name}: not a port: {v}")),
    }
}

/// The object cache's size in bytes from `--cache-mb` (default 256 MiB).
fn cache_bytes(mb: Option<&str>) -> Result<usize, String> {
    let Some(v) = mb else { return Ok(256 << 20) };
    let n = v.parse::<usize>().map_err(|_| format!("--cache-mb {v}: not a number"))?;
    n.checked_mul(1 << 20).ok_or_else(|| format!("--cache-mb {v}: too large"))
}

/// Detaches from the terminal (the default for servers without `-f`). Output goes to
/// `log` in the data directory. The parent waits until the server has bound its port
/// ([`crate::signals::ready`]) or failed, so `hyperdex daemon` in the background still exits
/// non-zero with the reason when, say, the port is taken.
fn daemonize(log: &std::path::Path) -> Result<(), String> {
    use std::os::unix::io::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe/fork/setsid/dup2 at start-up, before any thread exists; the buffers
    // passed to read are valid for their length.
    unsafe {
        if libc::pipe(fds.as_mut_ptr()) != 0 {
            return Err("pipe failed".into());
        }
        match libc::fork() {
            -1 => return Err("fork failed".into()),
            0 => {
                libc::close(fds[0]);
                crate::signals::set_ready_fd(fds[1]);
            }
            _ => {
                libc::close(fds[1]);
                let mut msg = Vec::new();
                let mut buf = [0u8; 512];
                loop {
                    let n = libc::read(fds[0], buf.as_mut_ptr().cast(), buf.len());
                    if n <= 0 {
                        break;
                    }
                    msg.extend_from_slice(&buf[..n as usize]);
                }
                if msg == b"ok" {
                    libc::_exit(0);
                }
                let text = String::from_utf8_lossy(&msg);
                let text = if text.is_empty() { "the server exited during start-up".into() } else { text };
                eprintln!("{text}");
                libc::_exit(1);
            }
        }
        libc::setsid();
        libc::dup2(f.as_raw_fd(), 1);
        libc::dup2(f.as_raw_fd(), 2);
    }
    Ok(())
}

fn server_common(p: &Parsed, log_name: &str) -> Result<PathBuf, String> {
    let dir = PathBuf::from(p.values.get("data").cloned().unwrap_or_else(|| ".".into()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if !p.switches.contains(&"foreground") {
        daemonize(&dir.join(log_name))?;
    }
    Ok(dir)
}

fn cmd_coordinator(args: &[String]) -> Result<i32, String> {
    let spec: Spec = &[
        ('d', "daemon", false),
        ('f', "foreground", false),
        ('D', "data", true),
        ('l', "listen", true),
        ('p', "listen-port", true),
        ('c', "connect", true),
        ('P', "connect-port", true),
        ('L', "lease-ms", true),
    ];
    let p = parse(spec, args)?;
    let host = p.values.get("listen").cloned().unwrap_or_else(|| "0.0.0.0".into());
    let port = port(&p, "listen-port", 1982)?;
    let addr: SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .map_err(|e| format!("--listen {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("--listen {host}: no address"))?;
    let lease = match p.values.get("lease-ms") {
        None => 1000,
        Some(v) => match v.parse::<u64>() {
            Ok(ms) if (300..=600_000).contains(&ms) => ms,
            _ => return Err(format!("--lease-ms {v}: expected milliseconds from 300 to 600000")),
        },
    };
    // -c/-P: join the group of an existing coordinator (either flag alone takes the other's
    // default, as the daemon's do).
    let join = if p.values.contains_key("connect") || p.values.contains_key("connect-port") {
        let h = p.values.get("connect").cloned().unwrap_or_else(|| "127.0.0.1".into());
        Some((h, self::port(&p, "connect-port", 1982)?))
    } else {
        None
    };
    let toward =
        join.as_ref().and_then(|(h, p)| std::net::ToSocketAddrs::to_socket_addrs(&(h.as_str(), *p)).ok()?.next());
    let advertise = coordinator::shell::advertise(addr, toward);
    if let (Some((h, _)), None) = (&join, toward) {
        return Err(format!("--connect {h}: cannot resolve it"));
    }
    let dir = server_common(&p, "hyperdex-coordinator.log")?;
    let opts = coordinator::shell::Options {
        listen: addr,
        advertise,
        dir,
        lease: std::time::Duration::from_millis(lease),
        join,
    };
    coordinator::shell::run(opts).map_err(|e| format!("coordinator: {e}"))?;
    Ok(0)
}

fn cmd_daemon(args: &[String]) -> Result<i32, String> {
    let spec: Spec = &[
        ('d', "daemon", false),
        ('f', "foreground", false),
        ('D', "data", true),
        ('l', "listen", true),
        ('p', "listen-port", true),
        ('c', "coordinator", true),
        ('P', "coordinator-port", true),
        ('t', "threads", true),
        ('s', "sync", false),
        ('C', "cache-mb", true),
    ];
    let p = parse(spec, args)?;
    // Reader threads for gets that miss the object cache; 0 (the default): one per CPU.
    let threads = match p.values.get("threads").map(|t| (t, t.parse::<usize>())) {
        None | Some((_, Ok(0))) => std::thread::available_parallelism().map_or(1, |n| n.get()),
        Some((_, Ok(n))) if n <= 512 => n,
        Some((t, _)) => return Err(format!("--threads {t}: must be a number from 0 to 512")),
    };
    let opts = daemon::DaemonOptions {
        listen_host: p.values.get("listen").cloned(),
        listen_port: port(&p, "listen-port", 2012)?,
        coordinator_host: p.values.get("coordinator").cloned().unwrap_or_else(|| "127.0.0.1".into()),
        coordinator_port: port(&p, "coordinator-port", 1982)?,
        data: PathBuf::new(),
        sync: p.switches.contains(&"sync"),
        threads,
        cache_bytes: cache_bytes(p.values.get("cache-mb").map(String::as_str))?,
    };
    let dir = server_common(&p, "hyperdex-daemon.log")?;
    daemon::run(daemon::DaemonOptions { data: dir, ..opts }).map_err(|e| format!("daemon: {e}"))?;
    Ok(0)
}

const TOOL_SPEC: Spec = &[('h', "host", true), ('p', "port", true)];

fn tool_target(p: &Parsed) -> Result<(String, u16), String> {
    Ok((p.values.get("host").cloned().unwrap_or_else(|| "127.0.0.1".into()), port(p, "port", 1982)?))
}

fn cmd_add_space(args: &[String]) -> Result<i32, String> {
    let p = parse(TOOL_SPEC, args)?;
    if !p.positional.is_empty() {
        return Err("add-space takes no arguments: give the description on standard input".into());
    }
    let (host, port) = tool_target(&p)?;
    let mut desc = String::new();
    std::io::stdin().read_to_string(&mut desc).map_err(|e| format!("cannot read standard input: {e}"))?;
    let rc = tools::add_space(&host, port, &desc);
    if rc == hyperdex_core::ReturnCode::Success {
        Ok(0)
    } else {
        eprintln!("could not add space: {}", rc.symbol().trim_start_matches("HYPERCLIENT_"));
        Ok(1)
    }
}

fn cmd_rm_space(args: &[String]) -> Result<i32, String> {
    let p = parse(TOOL_SPEC, args)?;
    if p.positional.is_empty() {
        return Err("rm-space needs at least one space name".into());
    }
    let (host, port) = tool_target(&p)?;
    let mut status = 0;
    for name in &p.positional {
        let rc = tools::rm_space(&host, port, name);
        if rc != hyperdex_core::ReturnCode::Success {
            eprintln!("could not rm space {name}: {}", rc.symbol().trim_start_matches("HYPERCLIENT_"));
            status = 1;
        }
    }
    Ok(status)
}

fn cmd_wait_until_stable(args: &[String]) -> Result<i32, String> {
    let spec: Spec = &[('h', "host", true), ('p', "port", true), ('t', "timeout", true)];
    let p = parse(spec, args)?;
    let (host, port) = tool_target(&p)?;
    let timeout = match p.values.get("timeout") {
        None => None,
        Some(v) => match v.parse::<f64>() {
            Ok(t) if t > 0.0 && t < 1e9 => Some(std::time::Duration::from_secs_f64(t)),
            _ => return Err(format!("--timeout {v}: expected a positive number of seconds")),
        },
    };
    match tools::wait_until_stable(&host, port, timeout) {
        Ok(v) => {
            println!("stable at configuration {v}");
            Ok(0)
        }
        Err(rc) => {
            eprintln!("not stable: {}", rc.symbol().trim_start_matches("HYPERCLIENT_"));
            Ok(1)
        }
    }
}

fn cmd_show_config(args: &[String]) -> Result<i32, String> {
    let p = parse(TOOL_SPEC, args)?;
    let (host, port) = tool_target(&p)?;
    match tools::show_config(&host, port) {
        Ok(text) => {
            print!("{text}");
            Ok(0)
        }
        Err(rc) => {
            eprintln!("could not show config: {}", rc.symbol().trim_start_matches("HYPERCLIENT_"));
            Ok(1)
        }
    }
}

/// Runs `hyperdex` with these arguments (program name excluded); returns the exit status.
pub fn main(args: Vec<String>) -> i32 {
    let mut rest = args.as_slice();
    while let Some(first) = rest.first() {
        match first.as_str() {
            "--version" => {
                println!("HyperDex version {VERSION}");
                return 0;
            }
            "--help" | "-?" | "--usage" | "help" => {
                print!("{HELP}");
                return 0;
            }
            a if a.starts_with("--exec-path") => rest = &rest[1..],
            _ => break,
        }
    }
    let Some(cmd) = rest.first() else {
        eprint!("{HELP}");
        return 1;
    };
    let args = &rest[1..];
    let r = match cmd.as_str() {
        "coordinator" => cmd_coordinator(args),
        "daemon" => cmd_daemon(args),
        "add-space" => cmd_add_space(args),
        "rm-space" => cmd_rm_space(args),
        "show-config" => cmd_show_config(args),
        "wait-until-stable" => cmd_wait_until_stable(args),
        other => Err(format!("unknown command '{other}'\n\n{HELP}")),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("hyperdex {cmd}: {e}");
            crate::signals::ready(Err(&msg));
            eprintln!("{msg}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn long_short_and_attached_forms() {
        let spec: Spec = &[('f', "foreground", false), ('p', "listen-port", true), ('l', "listen", true)];
        let p = parse(spec, &s(&["-f", "--listen=127.0.0.1", "-p", "2012"])).unwrap();
        assert_eq!(p.values["listen"], "127.0.0.1");
        assert_eq!(p.values["listen-port"], "2012");
        assert!(p.switches.contains(&"foreground"));
        let p = parse(spec, &s(&["--listen-port", "7", "-l10.0.0.1", "x"])).unwrap();
        assert_eq!(p.values["listen-port"], "7");
        assert_eq!(p.values["listen"], "10.0.0.1");
        assert_eq!(p.positional, vec!["x"]);
        assert!(parse(spec, &s(&["--bogus"])).is_err());
        assert!(parse(spec, &s(&["-p"])).is_err());
        assert!(parse(spec, &s(&["--foreground=yes"])).is_err());
    }

    #[test]
    fn cache_size_in_mebibytes() {
        assert_eq!(cache_bytes(None), Ok(256 << 20));
        assert_eq!(cache_bytes(Some("0")), Ok(0));
        assert_eq!(cache_bytes(Some("2048")), Ok(2048 << 20));
        assert!(cache_bytes(Some("lots")).unwrap_err().contains("not a number"));
        assert!(cache_bytes(Some("-1")).unwrap_err().contains("not a number"));
        // Bytes past the address space: refused, not wrapped around to a small cache.
        let huge = (usize::MAX >> 19).to_string();
        assert!(cache_bytes(Some(&huge)).unwrap_err().contains("too large"));
        assert_eq!(cache_bytes(Some(&(usize::MAX >> 20).to_string())), Ok((usize::MAX >> 20) << 20));
    }
}
