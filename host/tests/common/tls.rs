//! A TLS endpoint in front of the shared Milvus: stunnel (Debian's
//! `stunnel4`, installed by `tests/services/install.sh tls`) on a free port,
//! with a private CA made for the test (rcgen), a server certificate for
//! 127.0.0.1 and localhost, and client certificates checked (`verify = 2`:
//! a client without a certificate signed by the CA is refused).

use super::fault_proxy::free_port;
use super::services::tcp_up;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// PEM files of one certificate and its key.
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// stunnel terminating TLS (client certificates required) in front of a
/// Milvus; stopped when dropped.
pub struct TlsMilvus {
    /// `https://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The private CA's certificate (PEM): what `[sink] ca_file` names.
    pub ca_file: PathBuf,
    /// A client certificate the CA signed.
    pub client: CertFiles,
    /// The folder of the certificates, the stunnel config and its log.
    pub dir: tempfile::TempDir,
    child: Child,
}

fn ca() -> (CertificateParams, KeyPair, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "kmv-host test CA");
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let pem = params.self_signed(&key).unwrap().pem();
    (params, key, pem)
}

/// A certificate for `names` signed by `issuer`, written to DIR/NAME.pem and
/// DIR/NAME.key.
fn leaf(
    dir: &Path,
    name: &str,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, KeyPair>,
) -> CertFiles {
    let key = KeyPair::generate().unwrap();
    let sans: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(sans).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer).unwrap();
    let files = CertFiles {
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&files.cert, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    files
}

/// The stunnel binary, or a failure that says how to install it.
fn stunnel() -> PathBuf {
    for name in ["stunnel", "stunnel4"] {
        if let Ok(out) = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            && out.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        }
    }
    panic!(
        "stunnel is not installed: run tests/services/install.sh tls (apt-get install stunnel4), or tests/setup.sh"
    );
}

impl TlsMilvus {
    /// Starts stunnel on a free port of 127.0.0.1 in front of `upstream`
    /// (`host:port`), and waits until it accepts connections.
    pub fn start(upstream: &str) -> TlsMilvus {
        assert!(
            tcp_up(upstream),
            "no Milvus at {upstream} to put TLS in front of"
        );
        let dir = tempfile::tempdir().unwrap();
        let (ca_params, ca_key, ca_pem) = ca();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_pem).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server = leaf(
            dir.path(),
            "server",
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
            &issuer,
        );
        let client = leaf(
            dir.path(),
            "client",
            &["kmv-host"],
            ExtendedKeyUsagePurpose::ClientAuth,
            &issuer,
        );
        let port = free_port();
        let log = dir.path().join("stunnel.log");
        let conf = dir.path().join("stunnel.conf");
        std::fs::write(
            &conf,
            format!(
                "foreground = yes\npid =\ndebug = 5\noutput = {log}\n\n[milvus]\naccept = 127.0.0.1:{port}\nconnect = {upstream}\ncert = {cert}\nkey = {key}\nCAfile = {ca}\nverify = 2\n",
                log = log.display(),
                cert = server.cert.display(),
                key = server.key.display(),
                ca = ca_file.display(),
            ),
        )
        .unwrap();
        let mut child = Command::new(stunnel())
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting stunnel");
        let addr = format!("127.0.0.1:{port}");
        let up = super::wait_until(Duration::from_secs(10), || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "stunnel exited ({status}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            tcp_up(&addr)
        });
        assert!(
            up,
            "stunnel did not listen on {addr}: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        TlsMilvus {
            endpoint: format!("https://{addr}"),
            ca_file,
            client,
            dir,
            child,
        }
    }

    /// stunnel's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stunnel.log")).unwrap_or_default()
    }
}

impl Drop for TlsMilvus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
