//! Password rules for new passwords (ASVS 6.2): 8 to 1024 characters, any characters, kept as typed.

/// Why a new password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer than 8 characters.
    #[error("Use at least 8 characters for your password.")]
    TooShort,
    /// More than 1024 characters.
    #[error("Use at most 1024 characters for your password.")]
    TooLong,
    /// Contains a NUL byte, which no keyboard types.
    #[error("Your password contains a character that cannot be used.")]
    Forbidden,
}

/// A password that meets the rules; its `Debug` never shows it.
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    /// Checks the rules; the password is not trimmed or normalised, it is verified exactly as typed.
    pub fn parse(raw: String) -> Result<Self, PasswordError> {
        let n = raw.chars().count();
        if n < 8 {
            Err(PasswordError::TooShort)
        } else if n > 1024 {
            Err(PasswordError::TooLong)
        } else if raw.contains('\0') {
            Err(PasswordError::Forbidden)
        } else {
            Ok(Self(raw))
        }
    }

    /// The password as typed.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules() {
        assert_eq!(
            NewPassword::parse("short".into()).err(),
            Some(PasswordError::TooShort)
        );
        assert!(NewPassword::parse("x".repeat(64)).is_ok());
        assert!(NewPassword::parse("ü".repeat(200)).is_ok());
        assert_eq!(
            NewPassword::parse("x".repeat(1025)).err(),
            Some(PasswordError::TooLong)
        );
        assert!(format!("{:?}", NewPassword::parse("hunter2hunter2".into())).contains("redacted"));
    }
}
