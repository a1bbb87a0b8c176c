//! Self-signed certificates for TLS tests, made with the `openssl` command.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::broker::BrokerError;

/// A certificate and key for `127.0.0.1`/`localhost`, in a fresh directory.
#[derive(Debug)]
pub struct SelfSigned {
    dir: PathBuf,
}

impl SelfSigned {
    /// Creates the certificate with `openssl` (missing binary: [`BrokerError::Missing`]).
    pub fn create() -> Result<Self, BrokerError> {
        let dir = std::env::temp_dir().join(format!("psrpc-tls-{}", psrpc_protocol::id::new_id("")));
        std::fs::create_dir_all(&dir).map_err(|e| start_error(e.to_string()))?;
        let openssl = crate::broker::find_binary("openssl")?;
        let status = Command::new(openssl)
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"])
            .args([
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-addext",
                "basicConstraints=critical,CA:FALSE",
            ])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map_err(|e| start_error(e.to_string()))?;
        if !status.success() {
            return Err(start_error(format!("openssl exited with {status}")));
        }
        Ok(SelfSigned { dir })
    }

    /// The certificate (also the root to trust), PEM.
    pub fn cert(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    /// The private key, PEM.
    pub fn key(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    /// The directory holding both.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for SelfSigned {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_error(reason: String) -> BrokerError {
    BrokerError::Start { binary: "openssl", reason }
}
