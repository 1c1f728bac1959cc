//! Custom attribute definitions: what extra, typed fields a tenant keeps on its records.

use serde::{Deserialize, Serialize};

/// Which records an attribute applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AttributeTarget {
    Contact,
    Company,
    Conversation,
}

/// The type an attribute's values must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AttributeKind {
    /// A string of at most 1,000 characters.
    Text,
    /// A finite number.
    Number,
    Boolean,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// One of the definition's options.
    List,
    /// An `http` or `https` URL.
    Link,
}

macro_rules! text_forms {
    ($t:ty { $($v:ident => $s:literal),+ $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$v),)+ _ => None }
            }
        }
    };
}

text_forms!(AttributeTarget { Contact => "contact", Company => "company", Conversation => "conversation" });
text_forms!(AttributeKind { Text => "text", Number => "number", Boolean => "boolean", Date => "date", List => "list", Link => "link" });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip_and_match_serde() {
        for k in [
            AttributeKind::Text,
            AttributeKind::Number,
            AttributeKind::Boolean,
            AttributeKind::Date,
            AttributeKind::List,
            AttributeKind::Link,
        ] {
            assert_eq!(AttributeKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        for t in [
            AttributeTarget::Contact,
            AttributeTarget::Company,
            AttributeTarget::Conversation,
        ] {
            assert_eq!(AttributeTarget::parse(t.as_str()), Some(t));
        }
        assert_eq!(AttributeKind::parse("json"), None);
    }
}
