//! Identifier newtypes, so an agent id is never passed where a reviewer id belongs.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

string_id!(
    /// A configured reviewer's `id`.
    ReviewerId
);
string_id!(
    /// A configured agent's `id`.
    AgentId
);
string_id!(
    /// `esc_` followed by a ULID: sortable by creation time, unguessable enough to be a handle.
    EscalationId
);

impl EscalationId {
    pub fn generate() -> Self {
        Self(format!("esc_{}", ulid::Ulid::new()))
    }

    /// Accepts only the shape we hand out, so junk never reaches a query.
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix("esc_")?;
        ulid::Ulid::from_string(rest).ok()?;
        Some(Self(s.to_owned()))
    }
}
