//! TLS to Milvus: the `[sink]` CA file and client certificate, checked at
//! load and put into the HTTP client, and a refused handshake told in words
//! the user can act on.
//!
//! rustls trusts the public CAs (webpki roots) as it is, which is all
//! Zilliz Cloud needs; `ca_file` adds a private CA, and `client_cert_file`
//! with `client_key_file` answer a server that asks for a client
//! certificate (mutual TLS). The key's contents never reach a message.

use rustls::{AlertDescription, CertificateError};
use std::path::{Path, PathBuf};

/// The TLS files of `[sink]`, paths as configured (resolved against the
/// pipeline file at load).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TlsFiles<'a> {
    pub ca_file: Option<&'a Path>,
    pub client_cert_file: Option<&'a Path>,
    pub client_key_file: Option<&'a Path>,
}

/// A TLS file that cannot be used: the `[sink]` key and what is wrong
/// (the path included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsFileError {
    pub key: &'static str,
    pub message: String,
}

impl TlsFiles<'_> {
    /// `builder` trusting `ca_file` besides the public CAs and presenting
    /// the client certificate. Reads and checks each file; the finished
    /// client is built once to check that the key matches the certificate.
    pub(crate) fn configure(
        &self,
        mut builder: reqwest::ClientBuilder,
    ) -> Result<reqwest::ClientBuilder, TlsFileError> {
        if let Some(path) = self.ca_file {
            let pem = read("ca_file", path)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|_| not_pem("ca_file", path, "CA certificates"))?;
            if certs.is_empty() {
                return Err(not_pem("ca_file", path, "CA certificates"));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        match (self.client_cert_file, self.client_key_file) {
            (None, None) => Ok(builder),
            (Some(_), None) => Err(TlsFileError {
                key: "client_cert_file",
                message: "is set without sink.client_key_file: mutual TLS needs the certificate's private key too".into(),
            }),
            (None, Some(_)) => Err(TlsFileError {
                key: "client_key_file",
                message: "is set without sink.client_cert_file: mutual TLS needs the certificate the key belongs to".into(),
            }),
            (Some(cert), Some(key)) => Ok(builder.identity(identity(cert, key)?)),
        }
    }

    /// Whether a client certificate is configured.
    pub(crate) fn has_client_cert(&self) -> bool {
        self.client_cert_file.is_some()
    }

    /// Checks the files as [`TlsFiles::configure`] uses them, and builds a
    /// client to check the CA certificates parse and the key matches.
    pub(crate) fn check(&self) -> Result<(), TlsFileError> {
        let Err(e) = self.configure(reqwest::Client::builder())?.build() else {
            return Ok(());
        };
        let ca_only = TlsFiles {
            client_cert_file: None,
            client_key_file: None,
            ..*self
        };
        match (
            ca_only.configure(reqwest::Client::builder())?.build(),
            self.ca_file,
        ) {
            (Err(e), Some(ca)) => Err(TlsFileError {
                key: "ca_file",
                message: format!(
                    "{}: not usable CA certificates: {}",
                    ca.display(),
                    tls_reason(&e)
                ),
            }),
            _ => Err(TlsFileError {
                key: "client_key_file",
                message: format!(
                    "{} cannot be used with sink.client_cert_file {}: {}",
                    self.client_key_file.unwrap_or(Path::new("?")).display(),
                    self.client_cert_file.unwrap_or(Path::new("?")).display(),
                    tls_reason(&e)
                ),
            }),
        }
    }
}

/// The rustls reason inside a client-build error, without reqwest's wrapping.
fn tls_reason(e: &reqwest::Error) -> String {
    find_rustls(e).map_or_else(|| "invalid".into(), |r| r.to_string())
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsFileError> {
    std::fs::read(path).map_err(|e| TlsFileError {
        key,
        message: format!("cannot read {}: {e}", path.display()),
    })
}

fn not_pem(key: &'static str, path: &Path, what: &str) -> TlsFileError {
    TlsFileError {
        key,
        message: format!("{} holds no PEM {what}", path.display()),
    }
}

/// The client identity from a certificate file and a key file. Each must
/// hold what it is named for; the key's bytes never go into a message.
fn identity(cert: &Path, key: &Path) -> Result<reqwest::Identity, TlsFileError> {
    let cert_pem = read("client_cert_file", cert)?;
    let key_pem = read("client_key_file", key)?;
    let has = |pem: &[u8], label: &str| {
        String::from_utf8_lossy(pem)
            .lines()
            .any(|l| l.starts_with("-----BEGIN ") && l.contains(label))
    };
    if !has(&cert_pem, "CERTIFICATE-----") {
        return Err(not_pem("client_cert_file", cert, "certificate"));
    }
    if !has(&key_pem, "PRIVATE KEY-----") {
        return Err(not_pem(
            "client_key_file",
            key,
            "private key (PKCS#8, RSA or EC)",
        ));
    }
    let mut both = cert_pem;
    both.push(b'\n');
    both.extend_from_slice(&key_pem);
    reqwest::Identity::from_pem(&both).map_err(|_| TlsFileError {
        key: "client_key_file",
        message: format!(
            "{} and sink.client_cert_file {} are not a PEM private key and certificate",
            key.display(),
            cert.display()
        ),
    })
}

/// The rustls error somewhere in `e`'s chain. An `io::Error` hides the error
/// it wraps from `source()` (hyper-rustls wraps tokio-rustls' `io::Error`,
/// which wraps the rustls error, in another), so it is opened with `get_ref`.
fn find_rustls<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(r) = e.downcast_ref::<rustls::Error>() {
        return Some(r);
    }
    let wrapped = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .and_then(|inner| find_rustls(inner));
    wrapped.or_else(|| e.source().and_then(find_rustls))
}

/// What to do about a TLS handshake the server or this host refused over
/// certificates, or `None` when `e` is not one (a reset, a timeout, an
/// answer). Such a failure does not pass by itself: the caller stops.
pub(crate) fn certificate_failure(
    e: &(dyn std::error::Error + 'static),
    has_client_cert: bool,
) -> Option<String> {
    use AlertDescription as A;
    let found = find_rustls(e)?;
    let reason = match found {
        rustls::Error::InvalidCertificate(c) => return Some(server_certificate(c)),
        rustls::Error::AlertReceived(A::CertificateRequired) => {
            "the server requires a client certificate (mutual TLS) and none was sent: set sink.client_cert_file and sink.client_key_file".to_string()
        }
        rustls::Error::AlertReceived(A::HandshakeFailure) if !has_client_cert => {
            "the server ended the handshake (handshake_failure), as a server that requires a client certificate does when none is sent: set sink.client_cert_file and sink.client_key_file".to_string()
        }
        rustls::Error::AlertReceived(
            alert @ (A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA
            | A::AccessDenied
            | A::HandshakeFailure),
        ) => format!(
            "the server refused the client certificate ({alert:?}): check that sink.client_cert_file is signed by a CA the server trusts, is not expired, and is for client authentication"
        ),
        _ => return None,
    };
    Some(reason)
}

/// This host refused the server's certificate.
fn server_certificate(c: &CertificateError) -> String {
    use CertificateError as C;
    match c {
        C::UnknownIssuer => "certificate verify failed: unknown CA (the server's certificate is signed by none of the public CAs nor by sink.ca_file's): set sink.ca_file to the PEM file of the CA that signed it".into(),
        C::NotValidForName | C::NotValidForNameContext { .. } => format!(
            "certificate verify failed: the server's certificate is not for this host name ({c}): use the name or address the certificate holds in sink.endpoint"
        ),
        C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. } => format!(
            "certificate verify failed: the server's certificate is outside its validity period ({c}); renew it, or check this machine's clock"
        ),
        other => format!("certificate verify failed: {other}"),
    }
}

/// Paths in `[sink]` are taken from the pipeline file's folder.
pub(crate) fn resolve(path: &mut Option<PathBuf>, base_dir: &Path) {
    if let Some(p) = path
        && p.is_relative()
    {
        *p = base_dir.join(&*p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As hyper-rustls hands it on: tokio-rustls' `io::Error` in another.
    fn io(e: rustls::Error) -> std::io::Error {
        std::io::Error::other(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }

    #[test]
    fn handshake_refusals_say_which_key_to_set() {
        let unknown = io(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        let m = certificate_failure(&unknown, false).unwrap();
        assert!(
            m.contains("unknown CA") && m.contains("sink.ca_file"),
            "{m}"
        );
        let required = io(rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired,
        ));
        let m = certificate_failure(&required, false).unwrap();
        assert!(m.contains("requires a client certificate"), "{m}");
        assert!(m.contains("sink.client_cert_file"), "{m}");
        let bad = io(rustls::Error::AlertReceived(AlertDescription::UnknownCA));
        let m = certificate_failure(&bad, true).unwrap();
        assert!(m.contains("refused the client certificate"), "{m}");
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(certificate_failure(&reset, false), None);
    }

    #[test]
    fn a_certificate_without_its_key_is_refused_and_the_key_is_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let files = TlsFiles {
            client_cert_file: Some(&cert),
            ..TlsFiles::default()
        };
        assert_eq!(files.check().unwrap_err().key, "client_cert_file");
        let key = dir.path().join("k.pem");
        std::fs::write(&key, "secret-key-bytes").unwrap();
        let files = TlsFiles {
            client_cert_file: Some(&cert),
            client_key_file: Some(&key),
            ..TlsFiles::default()
        };
        let e = files.check().unwrap_err();
        assert_eq!(e.key, "client_key_file");
        assert!(!e.message.contains("secret-key-bytes"), "{}", e.message);
        let missing = dir.path().join("none.pem");
        let files = TlsFiles {
            ca_file: Some(&missing),
            ..TlsFiles::default()
        };
        let e = files.check().unwrap_err();
        assert_eq!(e.key, "ca_file");
        assert!(e.message.contains("none.pem"), "{}", e.message);
    }
}
