//! Who did something. Every audit entry and every event names its actor, so a change made by the
//! AI, an automation rule or an API key is never confused with one made by a person.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of party that caused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    Contact,
    Bot,
    Ai,
    Automation,
    ApiKey,
    System,
}

impl ActorKind {
    /// Stable text form, as stored and as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Contact => "contact",
            Self::Bot => "bot",
            Self::Ai => "ai",
            Self::Automation => "automation",
            Self::ApiKey => "api_key",
            Self::System => "system",
        }
    }

    /// Parses the stored text form.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "user" => Self::User,
            "contact" => Self::Contact,
            "bot" => Self::Bot,
            "ai" => Self::Ai,
            "automation" => Self::Automation,
            "api_key" => Self::ApiKey,
            "system" => Self::System,
            _ => return None,
        })
    }
}

impl fmt::Display for ActorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A party that caused a change: its kind and its id (`system` actors use a component name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Actor {
    #[serde(rename = "type")]
    pub kind: ActorKind,
    pub id: String,
}

impl Actor {
    /// A system component acting on its own (job runner, migrations, bootstrap).
    pub fn system(component: &str) -> Self {
        Self {
            kind: ActorKind::System,
            id: component.to_owned(),
        }
    }

    /// A signed-in person.
    pub fn user(id: &crate::UserId) -> Self {
        Self {
            kind: ActorKind::User,
            id: id.to_string(),
        }
    }

    /// A request authenticated by an API key.
    pub fn api_key(id: &crate::ApiKeyId) -> Self {
        Self {
            kind: ActorKind::ApiKey,
            id: id.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_text_form() {
        for kind in [
            ActorKind::User,
            ActorKind::Contact,
            ActorKind::Bot,
            ActorKind::Ai,
            ActorKind::Automation,
            ActorKind::ApiKey,
            ActorKind::System,
        ] {
            assert_eq!(ActorKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(ActorKind::parse("root"), None);
    }
}
