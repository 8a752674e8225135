//! Finding the test services, with no dependency on kmv-host: shared by the
//! integration tests (`mod common`) and the library's own tests (through
//! `#[path]` in `host/src/pipeline/tests.rs`).

use std::time::Duration;

/// Whether something accepts TCP connections at `addr` (within 2 s).
pub fn tcp_up(addr: &str) -> bool {
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
}

/// The broker (`KMV_KAFKA_BROKERS`, default 127.0.0.1:9092), after
/// checking it answers.
pub fn kafka() -> String {
    let brokers = std::env::var("KMV_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    assert!(
        tcp_up(&brokers),
        "no Kafka broker at {brokers}: run the tests with tests/run.sh, or start one with tests/services/kafka.sh start"
    );
    brokers
}
