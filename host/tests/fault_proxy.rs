//! The test harness's fault proxy (`common::FaultProxy`) does what the
//! network fault tests rely on, against a local echo server (no services):
//! latency, a reset (a real RST) in the middle of a request or an answer, a
//! blackhole that holds bytes and delivers them once it ends, refusal.

mod common;

use common::{Fault, FaultProxy};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What one connection to the echo server received, and how it ended
/// (`eof`, or the error kind).
type Received = (Vec<u8>, String);

/// A server that answers each chunk it reads with an HTTP-like answer
/// carrying it (`HTTP/1.1 200 OK\r\n\r\n` + the chunk); what it received,
/// per connection, and how each connection ended.
struct Echo {
    addr: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Echo {
    fn start() -> Echo {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    let mut buf = [0u8; 65536];
                    let end = loop {
                        match conn.read(&mut buf) {
                            Ok(0) => break "eof".to_string(),
                            Ok(n) => {
                                got.extend_from_slice(&buf[..n]);
                                let mut answer = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
                                answer.extend_from_slice(&buf[..n]);
                                if conn.write_all(&answer).is_err() {
                                    break "write failed".to_string();
                                }
                            }
                            Err(e) => break format!("{:?}", e.kind()),
                        }
                    };
                    log.lock().unwrap().push((got, end));
                });
            }
        });
        Echo { addr, received }
    }

    /// What each finished connection received, and how it ended.
    fn connections(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits up to 5 s until `n` connections have ended.
    fn wait_connections(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.connections().len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.connections()
    }
}

fn connect(proxy: &FaultProxy) -> TcpStream {
    let s = TcpStream::connect(proxy.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Reads until `n` bytes came or the stream ends or fails; what came, and
/// the error kind if it failed.
fn read_n(s: &mut TcpStream, n: usize) -> (Vec<u8>, Option<ErrorKind>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while got.len() < n {
        match s.read(&mut buf) {
            Ok(0) => return (got, None),
            Ok(k) => got.extend_from_slice(&buf[..k]),
            Err(e) => return (got, Some(e.kind())),
        }
    }
    (got, None)
}

const REQUEST: &[u8] = b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789";

fn answer_to(request: &[u8]) -> Vec<u8> {
    let mut a = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
    a.extend_from_slice(request);
    a
}

#[test]
fn passes_everything_and_adds_latency_each_way() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(&echo.addr);
    let mut s = connect(&proxy);
    s.write_all(REQUEST).unwrap();
    let want = answer_to(REQUEST);
    assert_eq!(read_n(&mut s, want.len()), (want.clone(), None));

    proxy.set(Fault::Latency(Duration::from_millis(150)));
    let started = Instant::now();
    s.write_all(REQUEST).unwrap();
    assert_eq!(read_n(&mut s, want.len()), (want, None));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn resets_in_the_middle_of_a_request() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(&echo.addr);
    proxy.set(Fault::ResetRequest);
    let mut s = connect(&proxy);
    s.write_all(REQUEST).unwrap();
    let (got, error) = read_n(&mut s, 1);
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(error, Some(ErrorKind::ConnectionReset));
    // The server got the headers and half the body, then an RST.
    let conns = echo.wait_connections(1);
    assert_eq!(conns.len(), 1);
    let header_end = REQUEST.len() - 10;
    assert_eq!(conns[0].0, &REQUEST[..header_end + 5]);
    assert_ne!(conns[0].1, "eof", "reset, not closed");
    assert_eq!(proxy.stats().requests_cut, 1);
}

#[test]
fn resets_in_the_middle_of_an_answer() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(&echo.addr);
    proxy.set(Fault::ResetAnswer);
    let mut s = connect(&proxy);
    s.write_all(REQUEST).unwrap();
    let want = answer_to(REQUEST);
    let (got, error) = read_n(&mut s, want.len());
    // Linux may drop unread bytes when the RST comes: at most the first half.
    assert!(want.starts_with(&got) && got.len() < want.len(), "{got:?}");
    assert_eq!(error, Some(ErrorKind::ConnectionReset));
    // The server got the whole request.
    let conns = echo.wait_connections(1);
    assert_eq!(conns[0].0, REQUEST);
    assert_ne!(conns[0].1, "eof", "reset, not closed");
    assert_eq!(proxy.stats().answers_cut, 1);
}

#[test]
fn a_blackhole_holds_everything_and_delivers_it_once_it_ends() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(&echo.addr);
    let mut open = connect(&proxy);
    open.write_all(REQUEST).unwrap();
    let want = answer_to(REQUEST);
    assert_eq!(read_n(&mut open, want.len()).0, want);

    proxy.set(Fault::Blackhole);
    // An open connection and a new one: no answer, no reset, no EOF.
    let mut new = connect(&proxy);
    for s in [&mut open, &mut new] {
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        s.write_all(REQUEST).unwrap();
        let (got, error) = read_n(s, 1);
        assert!(got.is_empty(), "{got:?}");
        assert_eq!(error, Some(ErrorKind::WouldBlock));
    }
    assert!(echo.connections().is_empty(), "nothing reached the server");
    assert!(proxy.stats().held_bytes >= 2 * REQUEST.len() as u64);

    proxy.set(Fault::None);
    for s in [&mut open, &mut new] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(read_n(s, want.len()), (want.clone(), None));
    }
}

#[test]
fn refuses_connections_and_resets_open_ones_then_listens_again() {
    let echo = Echo::start();
    let proxy = FaultProxy::start(&echo.addr);
    let mut open = connect(&proxy);
    proxy.set(Fault::Refuse);
    let (_, error) = read_n(&mut open, 1);
    assert_eq!(error, Some(ErrorKind::ConnectionReset));
    std::thread::sleep(Duration::from_millis(50));
    let refused = TcpStream::connect(proxy.addr())
        .map(|_| ())
        .map_err(|e| e.kind());
    assert_eq!(refused, Err(ErrorKind::ConnectionRefused));

    proxy.set(Fault::None);
    std::thread::sleep(Duration::from_millis(50));
    let mut s = connect(&proxy);
    s.write_all(REQUEST).unwrap();
    let want = answer_to(REQUEST);
    assert_eq!(read_n(&mut s, want.len()), (want, None));
}
