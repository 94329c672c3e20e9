//! Server-side throughput probe: pipelines raw ATOMIC puts and GETs at one daemon (no
//! client library involved). Usage: rawbench COORD_PORT SPACE N WINDOW
use hyperdex_core::config::Configuration;
use hyperdex_core::ops::{Func, FuncOp};
use hyperdex_core::proto::Msg;
use hyperdex_core::wire::{parse_frame, MAX_FRAME};
use hyperdex_core::DataType;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let port: u16 = a[1].parse().unwrap();
    let space = a[2].clone();
    let n: usize = a[3].parse().unwrap();
    let window: usize = a[4].parse().unwrap();
    let cfg = match hyperdex_server::tools::rpc("127.0.0.1", port, &Msg::ConfigWait { have: 0 }).unwrap() {
        Msg::Config { config } => Configuration::decode(&config).unwrap(),
        _ => panic!(),
    };
    let sp = cfg.space(space.as_bytes()).unwrap();
    let mut conns: HashMap<u64, TcpStream> = HashMap::new();
    let keys: Vec<Vec<u8>> = (0..n).map(|i| format!("{:016}", i).into_bytes()).collect();
    for phase in ["put", "get"] {
        let t = Instant::now();
        let mut i = 0;
        while i < n {
            let end = (i + window).min(n);
            let mut outs: HashMap<u64, (Vec<u8>, usize)> = HashMap::new();
            for key in &keys[i..end] {
                let r = sp.key_region(key).unwrap();
                let s = r.replicas[0].server;
                let m = if phase == "put" {
                    Msg::Atomic {
                        version: cfg.version,
                        region: r.id,
                        key: key.clone(),
                        flags: 0,
                        checks: vec![],
                        funcs: vec![Func {
                            attr: 1,
                            op: FuncOp::Set,
                            arg_type: DataType::String,
                            arg: vec![b'x'; 100],
                            map_key: None,
                        }],
                    }
                } else {
                    Msg::Get { version: cfg.version, region: r.id, key: key.clone() }
                };
                let e = outs.entry(s).or_default();
                m.encode(0, &mut e.0);
                e.1 += 1;
            }
            for (s, (buf, _)) in &outs {
                let c = conns.entry(*s).or_insert_with(|| {
                    let c = TcpStream::connect(cfg.server_addr(*s).unwrap()).unwrap();
                    c.set_nodelay(true).unwrap();
                    c
                });
                c.write_all(buf).unwrap();
            }
            for (s, (_, cnt)) in &outs {
                let c = conns.get_mut(s).unwrap();
                let mut got = 0;
                let mut rb = Vec::new();
                let mut chunk = vec![0u8; 1 << 16];
                while got < *cnt {
                    let k = c.read(&mut chunk).unwrap();
                    rb.extend_from_slice(&chunk[..k]);
                    let mut off = 0;
                    while let Ok(Some(f)) = parse_frame(&rb[off..], MAX_FRAME) {
                        off += f.size;
                        got += 1;
                    }
                    rb.drain(..off);
                }
            }
            i = end;
        }
        let el = t.elapsed().as_secs_f64();
        println!("{phase}_ops_per_sec {:.0}", n as f64 / el);
    }
}
