//! `ProxiedBroker`: a tansu broker of one test's own with a [`FaultProxy`]
//! in front of it, which it advertises, so that every client connection
//! after the bootstrap goes through the proxy too.

use super::FaultProxy;
use std::process::Command;

/// A fresh in-memory tansu on a free port (tests/services/kafka.sh
/// `--advertised-port`), behind [`ProxiedBroker::proxy`]; stopped when
/// dropped, however the test ends.
#[derive(Debug)]
pub struct ProxiedBroker {
    /// The proxy clients go through: the test sets its faults.
    pub proxy: FaultProxy,
    port: u16,
}

impl ProxiedBroker {
    /// Starts the proxy, then the broker advertising the proxy's address.
    pub fn start() -> ProxiedBroker {
        let port = super::free_port();
        let proxy = FaultProxy::start(&format!("127.0.0.1:{port}"));
        let advertised = proxy.port().to_string();
        let broker = ProxiedBroker { proxy, port };
        broker.sh(&["start", "--advertised-port", &advertised]);
        broker
    }

    /// The bootstrap address clients use: the proxy's.
    pub fn brokers(&self) -> String {
        self.proxy.addr()
    }

    fn sh(&self, args: &[&str]) {
        let out = Command::new(super::repo().join("tests/services/kafka.sh"))
            .args(args)
            .args(["--port", &self.port.to_string()])
            .output()
            .expect("running tests/services/kafka.sh");
        assert!(
            out.status.success(),
            "kafka.sh {args:?} --port {} failed (run tests/services/install.sh first?):\n{}{}",
            self.port,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for ProxiedBroker {
    fn drop(&mut self) {
        let _ = Command::new(super::repo().join("tests/services/kafka.sh"))
            .args(["stop", "--port", &self.port.to_string()])
            .output();
    }
}
