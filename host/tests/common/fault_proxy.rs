//! `FaultProxy`: a TCP proxy a test puts between the host and a server
//! (Milvus, the broker) and drives: everything passes, or latency is added,
//! connections are reset in the middle of a request or of an answer, the
//! network turns into a blackhole, or connections are refused.
//!
//! Plain threads and blocking sockets: per connection, one thread per
//! direction reads with a short timeout (so it sees a fault change at once)
//! and delivers what it read when due. A reset is a real RST (`SO_LINGER`
//! 0), not a FIN.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the network does to the traffic, from the moment it is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Everything passes.
    None,
    /// Every chunk read, either way, is delivered this much later.
    Latency(Duration),
    /// Each request is cut: the first half of the chunk (an HTTP request's
    /// headers and half its body) reaches the server, then the connection
    /// is reset on both sides. The server never sees a whole request.
    ResetRequest,
    /// Requests reach the server whole (it acts on them), but each answer is
    /// cut: the client gets its first half (an HTTP answer's headers and half
    /// its body), then the connection is reset on both sides.
    ResetAnswer,
    /// Nothing passes either way, and nothing is refused or reset: new
    /// connections are accepted, what is sent is read and held. When the
    /// blackhole ends, what was held is delivered, as TCP does once packets
    /// flow again (a connection the client closed meanwhile is closed after
    /// that), unless one side reset the connection.
    Blackhole,
    /// Nothing listens: new connections are refused, and open ones reset.
    Refuse,
}

/// Which way a chunk goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    /// Client to server.
    Request,
    /// Server to client.
    Answer,
}

/// What the proxy did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Requests cut before they reached the server whole ([`Fault::ResetRequest`]).
    pub requests_cut: u64,
    /// Answers cut after their request reached the server ([`Fault::ResetAnswer`]).
    pub answers_cut: u64,
    /// Open connections reset because connections were refused ([`Fault::Refuse`]).
    pub reset_by_refuse: u64,
    /// Bytes held in a blackhole (delivered once it ended, when the connection was still open).
    pub held_bytes: u64,
}

#[derive(Debug)]
struct Shared {
    fault: Mutex<Fault>,
    stop: AtomicBool,
    accepted: AtomicU64,
    requests_cut: AtomicU64,
    answers_cut: AtomicU64,
    reset_by_refuse: AtomicU64,
    held_bytes: AtomicU64,
}

impl Shared {
    fn fault(&self) -> Fault {
        *self.fault.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A proxy listening on `127.0.0.1` (a free port), forwarding to
/// `upstream`; stopped when dropped (open connections reset).
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`host:port`), passing everything. The
    /// upstream need not be up yet: a connection made while it is not is
    /// reset.
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the fault proxy");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            fault: Mutex::new(Fault::None),
            stop: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
            requests_cut: AtomicU64::new(0),
            answers_cut: AtomicU64::new(0),
            reset_by_refuse: AtomicU64::new(0),
            held_bytes: AtomicU64::new(0),
        });
        let upstream: SocketAddr = upstream
            .parse()
            .unwrap_or_else(|e| panic!("fault proxy upstream `{upstream}`: {e}"));
        let acceptor = {
            let shared = shared.clone();
            std::thread::spawn(move || accept_loop(listener, addr, upstream, &shared))
        };
        FaultProxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets what the network does from now on (to open connections too).
    pub fn set(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap_or_else(|e| e.into_inner()) = fault;
    }

    /// The fault in force.
    pub fn fault(&self) -> Fault {
        self.shared.fault()
    }

    /// What it did so far.
    pub fn stats(&self) -> ProxyStats {
        let s = &self.shared;
        ProxyStats {
            accepted: s.accepted.load(Ordering::Relaxed),
            requests_cut: s.requests_cut.load(Ordering::Relaxed),
            answers_cut: s.answers_cut.load(Ordering::Relaxed),
            reset_by_refuse: s.reset_by_refuse.load(Ordering::Relaxed),
            held_bytes: s.held_bytes.load(Ordering::Relaxed),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// How often a waiting thread looks at the fault and the stop flag.
const TICK: Duration = Duration::from_millis(10);

/// Accepts connections, dropping the listener while connections are
/// refused and binding the same port again after.
fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: &Arc<Shared>,
) {
    listener.set_nonblocking(true).unwrap();
    let mut listener = Some(listener);
    while !shared.stop.load(Ordering::SeqCst) {
        let refuse = shared.fault() == Fault::Refuse;
        if refuse {
            listener = None;
        } else if listener.is_none() {
            // std sets SO_REUSEADDR: the port binds again at once.
            match TcpListener::bind(addr) {
                Ok(l) => {
                    l.set_nonblocking(true).unwrap();
                    listener = Some(l);
                }
                Err(e) => panic!("fault proxy: binding {addr} again: {e}"),
            }
        }
        let Some(l) = &listener else {
            std::thread::sleep(TICK);
            continue;
        };
        match l.accept() {
            Ok((client, _)) => {
                shared.accepted.fetch_add(1, Ordering::Relaxed);
                let shared = shared.clone();
                std::thread::spawn(move || serve(client, upstream, shared));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(e) => panic!("fault proxy: accept on {addr}: {e}"),
        }
    }
}

/// One proxied connection: the client's socket and the server's.
#[derive(Debug)]
struct Conn {
    client: TcpStream,
    server: TcpStream,
    /// Reset (or the proxy stopped): both pumps end, and the sockets are
    /// closed with an RST when the last one drops them.
    dead: AtomicBool,
}

impl Conn {
    /// Resets both sides: SO_LINGER 0, so the close sends an RST.
    fn reset(&self) {
        for s in [&self.client, &self.server] {
            let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
        }
        self.dead.store(true, Ordering::SeqCst);
    }
}

fn serve(client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) {
    let server = match TcpStream::connect_timeout(&upstream, Duration::from_secs(2)) {
        Ok(s) => s,
        Err(_) => {
            let _ = socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO));
            return;
        }
    };
    for s in [&client, &server] {
        s.set_read_timeout(Some(TICK)).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.set_nodelay(true);
    }
    let conn = Arc::new(Conn {
        client,
        server,
        dead: AtomicBool::new(false),
    });
    let answers = {
        let (conn, shared) = (conn.clone(), shared.clone());
        std::thread::spawn(move || pump(&conn, Way::Answer, &shared))
    };
    pump(&conn, Way::Request, &shared);
    let _ = answers.join();
}

/// What a pump delivers, when due.
#[derive(Debug)]
enum Item {
    Data(Vec<u8>),
    /// Reset the connection.
    Reset,
    /// The source closed its side: close ours towards the destination.
    Eof,
}

/// Moves one direction of `conn`: reads, applies the fault, delivers when
/// due (not while in a blackhole). Ends at EOF (after delivering it) or
/// when the connection is reset.
fn pump(conn: &Conn, way: Way, shared: &Shared) {
    let (mut src, mut dst) = match way {
        Way::Request => (&conn.client, &conn.server),
        Way::Answer => (&conn.server, &conn.client),
    };
    let mut queue: VecDeque<(Instant, Item)> = VecDeque::new();
    let mut reading = true;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if conn.dead.load(Ordering::SeqCst) {
            return;
        }
        if shared.stop.load(Ordering::SeqCst) {
            conn.reset();
            return;
        }
        let fault = shared.fault();
        if fault == Fault::Refuse {
            shared.reset_by_refuse.fetch_add(1, Ordering::Relaxed);
            conn.reset();
            return;
        }
        // Deliver what is due, unless nothing passes.
        if fault != Fault::Blackhole {
            let now = Instant::now();
            while queue.front().is_some_and(|(due, _)| *due <= now) {
                match queue.pop_front().unwrap().1 {
                    Item::Data(bytes) => {
                        if dst.write_all(&bytes).is_err() {
                            conn.reset();
                            return;
                        }
                    }
                    Item::Reset => {
                        conn.reset();
                        return;
                    }
                    Item::Eof => {
                        let _ = dst.shutdown(Shutdown::Write);
                        return;
                    }
                }
            }
        }
        if !reading {
            std::thread::sleep(TICK);
            continue;
        }
        // Read (for at most one tick), and decide what becomes of it.
        let n = match src.read(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => {
                // The source reset its side: so does the network.
                conn.reset();
                return;
            }
        };
        let now = Instant::now();
        if n == 0 {
            queue.push_back((now, Item::Eof));
            reading = false;
            continue;
        }
        let chunk = &buf[..n];
        match (shared.fault(), way) {
            (Fault::Latency(d), _) => queue.push_back((now + d, Item::Data(chunk.to_vec()))),
            (Fault::ResetRequest, Way::Request) => {
                shared.requests_cut.fetch_add(1, Ordering::Relaxed);
                queue.push_back((now, Item::Data(chunk[..cut(chunk)].to_vec())));
                queue.push_back((now, Item::Reset));
                reading = false;
            }
            (Fault::ResetAnswer, Way::Answer) => {
                shared.answers_cut.fetch_add(1, Ordering::Relaxed);
                queue.push_back((now, Item::Data(chunk[..cut(chunk)].to_vec())));
                queue.push_back((now, Item::Reset));
                reading = false;
            }
            (Fault::Blackhole, _) => {
                shared.held_bytes.fetch_add(n as u64, Ordering::Relaxed);
                queue.push_back((now, Item::Data(chunk.to_vec())));
            }
            _ => queue.push_back((now, Item::Data(chunk.to_vec()))),
        }
    }
}

/// Where to cut a chunk in the middle: after an HTTP message's headers and
/// half its body when the chunk holds a header end, else at half.
fn cut(chunk: &[u8]) -> usize {
    let body_at = chunk
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|h| h + 4);
    match body_at {
        Some(b) => b + (chunk.len() - b) / 2,
        None => (chunk.len() / 2).max(1),
    }
}

/// A port that was free a moment ago on 127.0.0.1 (for a server the test
/// starts itself).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("finding a free port")
        .port()
}
