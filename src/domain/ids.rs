//! Identifiers: random UUIDs as text, so both backends store them the same way.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        // Shared text: the signed-in user is cloned several times on every request.
        pub struct $name(Arc<str>);

        impl $name {
            /// A fresh random id.
            pub fn generate() -> Self {
                Self(uuid::Uuid::new_v4().to_string().into())
            }

            /// Parses an id from outside (a URL, a token); only canonical UUIDs are accepted.
            pub fn parse(s: &str) -> Option<Self> {
                let u = uuid::Uuid::try_parse(s).ok()?;
                let canonical = u.to_string();
                (canonical == s).then(|| Self(canonical.into()))
            }

            /// Wraps a value read from our own database.
            pub fn from_db(s: String) -> Self {
                Self(s.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A user account's id.
    UserId
);
id_type!(
    /// A session's id: one refresh-token family, from sign-in to sign-out.
    SessionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_uuids_parse() {
        let id = UserId::generate();
        assert_eq!(UserId::parse(id.as_str()), Some(id.clone()));
        assert!(UserId::parse(&id.as_str().to_uppercase()).is_none());
        assert!(UserId::parse("1 OR 1=1").is_none());
        assert!(SessionId::parse("").is_none());
    }
}
