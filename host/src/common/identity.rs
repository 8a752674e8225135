//! What identifies a version of a transform module: its file and the SHA-256
//! of its bytes, written `name.wasm@hash12` in logs, metrics and dead-letter
//! headers.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What identifies a loaded transform: in logs, metrics and dead-letter headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleIdentity {
    /// The module file.
    pub path: PathBuf,
    /// SHA-256 of the module file, hex.
    pub sha256: String,
}

impl ModuleIdentity {
    /// The identity of the module file at `path` holding `bytes`.
    pub fn new(path: &Path, bytes: &[u8]) -> ModuleIdentity {
        ModuleIdentity {
            path: path.to_path_buf(),
            sha256: hex::encode(Sha256::digest(bytes)),
        }
    }

    /// The file name and the first 12 hex digits of the hash: `seed.wasm@1a2b3c4d5e6f`.
    pub fn short(&self) -> String {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{name}@{}", &self.sha256[..12])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_short_identity_is_the_file_name_and_twelve_hex_digits() {
        let identity = ModuleIdentity::new(Path::new("/some/dir/seed.wasm"), b"");
        assert_eq!(
            identity.sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(identity.short(), "seed.wasm@e3b0c44298fc");
    }
}
