//! The HS256 signing key: strength checks, generation, and the key file written once with mode 0600.

use super::SecretSource;
use base64::Engine;
use std::io::Write;
use std::path::Path;

/// Strings seen in sample configurations; a key containing one was copied, not generated.
const PLACEHOLDERS: &[&str] = &[
    "changeme",
    "change-me",
    "change_me",
    "placeholder",
    "your-secret",
    "your_secret",
    "example",
    "replace-me",
    "replace_me",
    "insecure",
    "secretkey",
    "secret-key",
];

/// Refuses keys that are short or look like placeholders.
pub fn check_strength(key: &str) -> Result<(), String> {
    if key.len() < 32 {
        return Err(format!(
            "the key is {} bytes; at least 32 are needed (run `latchkey gen-secret`)",
            key.len()
        ));
    }
    let lower = key.to_ascii_lowercase();
    let first = key.as_bytes()[0];
    if PLACEHOLDERS.iter().any(|p| lower.contains(p)) || key.bytes().all(|b| b == first) {
        return Err("the key looks like a placeholder; run `latchkey gen-secret`".into());
    }
    Ok(())
}

/// A fresh 256-bit key from the OS CSPRNG, base64url without padding.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Why the signing key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key file could not be read or written.
    #[error("LATCHKEY_SECRET_FILE: {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The key file holds a weak key.
    #[error("LATCHKEY_SECRET_FILE: {path}: {message}")]
    Weak {
        /// The file.
        path: String,
        /// Why it is refused.
        message: String,
    },
}

/// The current key and any previous keys that still verify.
#[derive(Clone)]
pub struct SigningSecrets {
    /// Signs new tokens.
    pub current: Vec<u8>,
    /// Verify only.
    pub previous: Vec<Vec<u8>>,
}

impl std::fmt::Debug for SigningSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SigningSecrets(<redacted>, {} previous)",
            self.previous.len()
        )
    }
}

impl SigningSecrets {
    /// Resolves the configured source, generating the key file on first start.
    pub fn resolve(source: &SecretSource, previous: &[String]) -> Result<Self, SecretError> {
        let current = match source {
            SecretSource::Inline(s) => s.clone(),
            SecretSource::File(path) => read_or_create(path)?,
        };
        Ok(Self {
            current: current.into_bytes(),
            previous: previous.iter().map(|s| s.clone().into_bytes()).collect(),
        })
    }
}

fn read_or_create(path: &Path) -> Result<String, SecretError> {
    let shown = path.display().to_string();
    let io = |source| SecretError::Io {
        path: shown.clone(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let key = s.trim().to_string();
            check_strength(&key).map_err(|message| SecretError::Weak {
                path: shown.clone(),
                message,
            })?;
            warn_if_readable_by_others(path);
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = generate_secret();
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut file = opts.open(path).map_err(io)?;
            file.write_all(format!("{key}\n").as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
            log::info!("generated a new signing key in {shown} (mode 0600)");
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                log::warn!(
                    "{} is readable by other users; chmod 600 it",
                    path.display()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_strong_and_distinct() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert!(check_strength(&a).is_ok());
    }

    #[test]
    fn key_file_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k");
        let src = SecretSource::File(path.clone());
        let first = SigningSecrets::resolve(&src, &[]).expect("created");
        let again = SigningSecrets::resolve(&src, &[]).expect("read back");
        assert_eq!(first.current, again.current);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
