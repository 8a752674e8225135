//! `StartedForBench`: the services a benchmark starts when it runs alone.

use super::tcp_up;

/// Services a benchmark started because they were not running; stopped
/// again when dropped. Tests never use this: they find the services of
/// `tests/run.sh` or fail, so a missing service is never hidden.
pub struct StartedForBench {
    repo: std::path::PathBuf,
    stops: Vec<Vec<&'static str>>,
}

impl StartedForBench {
    /// Installs (idempotent) and starts the broker at 127.0.0.1:9092 and
    /// Milvus at 127.0.0.1:19530 where nothing answers there yet, so that
    /// `cargo bench` runs alone as well as after `.ci/run` started them.
    pub fn kafka_and_milvus(repo: std::path::PathBuf) -> StartedForBench {
        let mut started = StartedForBench {
            repo,
            stops: Vec::new(),
        };
        let wanted: [(&str, &str, Vec<&'static str>); 2] = [
            ("127.0.0.1:9092", "kafka.sh", vec!["kafka.sh", "stop"]),
            ("127.0.0.1:19530", "milvus.sh", vec!["milvus.sh", "stop"]),
        ];
        for (addr, script, stop) in wanted {
            if tcp_up(addr) {
                continue;
            }
            started.run(&["install.sh"]);
            started.run(&[script, "start"]);
            started.stops.push(stop);
        }
        started
    }

    fn run(&self, args: &[&str]) {
        let script = self.repo.join("tests/services").join(args[0]);
        let status = std::process::Command::new(&script)
            .args(&args[1..])
            .status()
            .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        assert!(status.success(), "tests/services/{} failed", args.join(" "));
    }
}

impl Drop for StartedForBench {
    fn drop(&mut self) {
        for stop in std::mem::take(&mut self.stops) {
            self.run(&stop);
        }
    }
}
