//! E-mail addresses, normalised once so lookups and uniqueness agree.

use std::fmt;
use std::sync::Arc;

/// A syntactically plausible, lower-cased e-mail address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(Arc<str>);

impl Email {
    /// Parses user input: trimmed, lower-cased, `local@domain.tld`, at most 254 bytes.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err("Enter your e-mail address.");
        }
        if s.len() > 254 {
            return Err("That e-mail address is too long.");
        }
        let (local, domain) = s
            .split_once('@')
            .ok_or("Enter an e-mail address like name@example.com.")?;
        let ok = !local.is_empty()
            && local.len() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !s
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>\"'`,;()[]\\".contains(c));
        if ok {
            Ok(Self(s.into()))
        } else {
            Err("Enter an e-mail address like name@example.com.")
        }
    }

    /// Wraps a value read from our own database.
    pub fn from_db(s: String) -> Self {
        Self(s.into())
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_validates() {
        assert_eq!(
            Email::parse("  Ann@Example.COM ").map(|e| e.0),
            Ok("ann@example.com".into())
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.io",
            "ann@localhost",
            "a b@x.io",
            "a@x.io\0",
            "<a>@x.io",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }
}
