//! `Host`: a `kmv-host` running in the background, its output in a log file
//! the test reads while it runs; and the one reader of `key=value` log fields.

use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The `--progress-interval` (seconds) every test host runs with unless its
/// flags set another: the shortest the host allows, so that tests waiting
/// for a progress line see fresh counters soonest.
pub const PROGRESS_INTERVAL: &str = "0.1";

/// `--pipeline FILE --progress-interval PROGRESS_INTERVAL` then `flags`
/// (a `--progress-interval` in `flags` replaces the default).
pub fn host_args(pipeline: &Path, flags: &[&str]) -> Vec<String> {
    let mut args = vec!["--pipeline".to_string(), pipeline.display().to_string()];
    if !flags.contains(&"--progress-interval") {
        args.extend(["--progress-interval".into(), PROGRESS_INTERVAL.into()]);
    }
    args.extend(flags.iter().map(|f| f.to_string()));
    args
}

/// The `kmv-host` binary under test: `KMV_HOST_BIN`, or cargo's.
pub fn host_bin() -> std::ffi::OsString {
    std::env::var_os("KMV_HOST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_kmv-host").into())
}

/// `kmv-host ARGS` with the test environment: `RUST_LOG=info`, no colours.
/// `KMV_HOST_BIN` names another binary (a copy, when builds from several
/// work trees share one target directory and overwrite each other's).
pub fn host_command(args: &[String]) -> Command {
    let mut cmd = Command::new(host_bin());
    cmd.args(args).env("RUST_LOG", "info").env("NO_COLOR", "1");
    cmd
}

/// A `kmv-host` running in the background; killed when dropped, so a failed
/// assertion never leaves one running.
pub struct Host {
    child: Child,
    log: PathBuf,
}

impl Host {
    /// Starts `kmv-host --pipeline FILE --progress-interval 0.1 [flags]`,
    /// stdout and stderr to the file `log`.
    pub fn start(pipeline: &Path, log: PathBuf, flags: &[&str]) -> Host {
        let out = File::create(&log).unwrap();
        let child = host_command(&host_args(pipeline, flags))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("starting kmv-host");
        Host { child, log }
    }

    /// The process id (e.g. to read its `/proc` entry).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `key=` on the last log line holding `marker` (see [`field`]).
    pub fn field(&self, marker: &str, key: &str) -> Option<String> {
        field(&self.log(), marker, key)
    }

    /// A counter on the last log line holding `marker` (see [`counter`]).
    pub fn counter(&self, marker: &str, key: &str) -> Option<u64> {
        counter(&self.log(), marker, key)
    }

    /// A counter of the latest progress line; 0 before the first one.
    pub fn progress(&self, key: &str) -> u64 {
        self.counter("Progress.", key).unwrap_or(0)
    }

    /// Waits up to `limit` for a log line holding `marker` and returns it;
    /// panics with the log if the host exits first or the time runs out.
    pub fn wait_for_line(&mut self, marker: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| l.contains(marker)) {
                return line.to_string();
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("kmv-host exited with {status} before logging `{marker}`:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "kmv-host logged no `{marker}` in {limit:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The address the HTTP server bound (for `--http-address 127.0.0.1:0`).
    pub fn address(&mut self) -> String {
        let line = self.wait_for_line("Serving /metrics", Duration::from_secs(60));
        field(&line, "", "address").unwrap_or_else(|| panic!("no address in {line}"))
    }

    /// Sends `sig` to the host, which must not have been reaped.
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on the pid of our own child, which has not been
        // reaped (every method that reaps it takes `self` or kills it last);
        // no memory is touched.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({}, {sig})", self.child.id());
    }

    /// Waits up to `limit` for the exit; its status, or `None` if still running.
    pub fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Panics with the log if the host has exited.
    pub fn assert_running(&mut self, when: &str) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("kmv-host exited {when} with {status}:\n{}", self.log());
        }
    }

    /// Waits up to `limit` for a successful exit and returns the log;
    /// SIGKILLs it and fails if it is still running, fails on a failed exit.
    pub fn finish(mut self, limit: Duration, what: &str) -> String {
        let status = self.wait_for(limit);
        if status.is_none() {
            self.signal(libc::SIGKILL);
            let _ = self.child.wait();
        }
        let log = self.log();
        match status {
            Some(s) => assert!(s.success(), "{what}: exited with {s}:\n{log}"),
            None => panic!("{what}: still running after {limit:?}; killed:\n{log}"),
        }
        log
    }

    /// SIGTERM, then [`finish`](Host::finish) within 30 s: a graceful stop
    /// must exit 0.
    pub fn term(self, what: &str) -> String {
        self.signal(libc::SIGTERM);
        self.finish(Duration::from_secs(30), &format!("{what} (after SIGTERM)"))
    }

    /// SIGKILLs the host (it must still be running), reaps it, returns the log.
    pub fn kill(mut self, what: &str) -> String {
        if let Some(s) = self.child.try_wait().unwrap() {
            panic!("{what}: exited on its own with {s}:\n{}", self.log());
        }
        self.signal(libc::SIGKILL);
        let status = self.child.wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{what}: {status}");
        self.log()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The value of ` key=` on the last line of `log` that contains `marker`,
/// up to the next space, without quotes (`transform="a.wasm@1"` gives
/// `a.wasm@1`). The one reader of log fields: [`counter`] and [`Host`] use it.
pub fn field(log: &str, marker: &str, key: &str) -> Option<String> {
    let needle = format!(" {key}=");
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains(marker) && l.contains(&needle))?;
    let value = line.split(&needle).nth(1)?.split_whitespace().next()?;
    Some(value.trim_matches('"').to_string())
}

/// [`field`] as a whole number (`None` when missing or not a number).
pub fn counter(log: &str, marker: &str, key: &str) -> Option<u64> {
    field(log, marker, key)?.parse().ok()
}

/// Checks the counters of the final "Pipeline stopped." line: `want` lists
/// them as `key=value` (e.g. `"records_in=300 rows_written=300 failed=0"`),
/// each read on its own, in any order, whatever else the line holds.
pub fn assert_summary(log: &str, want: &str) {
    for pair in want.split_whitespace() {
        let (key, value) = pair
            .split_once('=')
            .unwrap_or_else(|| panic!("`{pair}` is not key=value"));
        let value: u64 = value
            .parse()
            .unwrap_or_else(|_| panic!("`{pair}`: not a count"));
        assert_eq!(
            counter(log, "Pipeline stopped.", key),
            Some(value),
            "`{key}` of the summary:\n{log}"
        );
    }
}

/// A counter of the final "Pipeline stopped." line; panics with the log if missing.
pub fn summary(log: &str, key: &str) -> u64 {
    counter(log, "Pipeline stopped.", key)
        .unwrap_or_else(|| panic!("no `{key}=` in the summary:\n{log}"))
}
