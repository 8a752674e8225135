//! TLS to Milvus through a real TLS endpoint: stunnel (Debian's stunnel4)
//! in front of the shared Milvus 2.3.5, with a private CA made for the test
//! and client certificates required (mutual TLS). Records go from tansu
//! through the real `kmv-host` binary; Milvus is read back over its plain
//! gRPC port with pymilvus.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The seed transform from `topic` into the collection of that name at the
/// TLS endpoint, with `tls_keys` in `[sink]`; the file is written into the
/// endpoint's folder, so the certificate paths may be relative to it.
fn tls_pipeline(tls: &TlsMilvus, topic: &str, group: &str, tls_keys: &str) -> PathBuf {
    PipelineFile::new(tls.dir.path())
        .topic(topic)
        .group(group)
        .module(kmv_test_artifacts::SEED)
        .milvus(&tls.endpoint, topic)
        .sink(&format!("retry_forever = true\n{tls_keys}"))
        .write()
}

/// `[sink]` keys naming the CA and the client certificate, relative to the
/// pipeline file.
const ALL_KEYS: &str =
    "ca_file = \"ca.pem\"\nclient_cert_file = \"client.pem\"\nclient_key_file = \"client.key\"";

/// Runs the host and expects it to stop on its own, failing, within 30 s
/// (a refused handshake is not retried forever); its log.
fn run_refused(pipeline: &Path, what: &str) -> String {
    let log = pipeline.with_extension("log");
    let mut host = Host::start(pipeline, log, &["--stop-when-idle", "3"]);
    let status = host.wait_for(Duration::from_secs(30));
    let log = host.log();
    match status {
        Some(s) => assert!(!s.success(), "{what}: exited 0:\n{log}"),
        None => panic!("{what}: still running after 30 s (retrying a refused handshake?):\n{log}"),
    }
    eprintln!("{what}:\n{log}");
    log
}

#[test]
fn records_arrive_through_tls_with_a_private_ca_and_a_client_certificate() {
    let (uri, topic) = (milvus(), unique("e2e_tls"));
    let tls = TlsMilvus::start(uri.trim_start_matches("http://"));
    create_seed(&uri, &topic);
    produce(&topic, &articles(0..200, 8));

    let p = tls_pipeline(&tls, &topic, &unique("g"), ALL_KEYS);
    let log = run_ok(&p, 3.0);
    assert_summary(&log, "records_in=200 rows_written=200 failed=0");
    assert_eq!(wait_count(&uri, None, &topic, 200), 200);
    assert_exactly_articles(&uri, &topic, 200);
    // The rows went through stunnel, which checked the client certificate.
    let stunnel = tls.log();
    assert!(
        stunnel.contains("Certificate accepted"),
        "stunnel saw no client certificate:\n{stunnel}"
    );
    // The key file's contents never reach the log.
    let key = std::fs::read_to_string(&tls.client.key).unwrap();
    let key_body = key.lines().nth(1).unwrap();
    assert!(!log.contains(key_body), "{log}");
}

#[test]
fn without_the_ca_the_host_stops_naming_ca_file_and_commits_nothing() {
    let (uri, topic) = (milvus(), unique("e2e_tls_noca"));
    let tls = TlsMilvus::start(uri.trim_start_matches("http://"));
    create_seed(&uri, &topic);
    produce(&topic, &articles(0..50, 8));
    let group = unique("g");

    let p = tls_pipeline(&tls, &topic, &group, "");
    let log = run_refused(&p, "without sink.ca_file");
    assert!(
        log.contains("certificate verify failed: unknown CA") && log.contains("sink.ca_file"),
        "the error should say the CA is unknown and name sink.ca_file:\n{log}"
    );
    assert_eq!(milvus_count(&uri, &topic), 0);

    // Nothing was committed: the same group, configured, reads every record.
    let p = tls_pipeline(&tls, &topic, &group, ALL_KEYS);
    assert_summary(&run_ok(&p, 3.0), "records_in=50 rows_written=50");
    assert_eq!(wait_count(&uri, None, &topic, 50), 50);
}

#[test]
fn without_a_client_certificate_the_mtls_endpoint_refuses_and_the_error_says_so() {
    let (uri, topic) = (milvus(), unique("e2e_tls_nocert"));
    let tls = TlsMilvus::start(uri.trim_start_matches("http://"));
    create_seed(&uri, &topic);
    produce(&topic, &articles(0..20, 8));

    let p = tls_pipeline(&tls, &topic, &unique("g"), "ca_file = \"ca.pem\"");
    let log = run_refused(&p, "without a client certificate");
    assert!(
        log.contains("requires a client certificate") && log.contains("sink.client_cert_file"),
        "the error should say a client certificate is required and name the keys:\n{log}"
    );
    assert_eq!(milvus_count(&uri, &topic), 0);
    let stunnel = tls.log();
    assert!(
        stunnel.contains("peer did not return a certificate"),
        "stunnel should have refused for want of a client certificate:\n{stunnel}"
    );
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused_at_load_naming_the_key() {
    let tls = TlsMilvus::start(milvus().trim_start_matches("http://"));
    let keys =
        "ca_file = \"ca.pem\"\nclient_cert_file = \"client.pem\"\nclient_key_file = \"server.key\"";
    let p = tls_pipeline(&tls, "tls_load", &unique("g"), keys);
    let e = kmv_host::config::PipelineConfig::load(&p)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("key `sink.client_key_file`") && e.contains("server.key"),
        "{e}"
    );
    let key = std::fs::read_to_string(tls.dir.path().join("server.key")).unwrap();
    assert!(!e.contains(key.lines().nth(1).unwrap()), "{e}");
}
