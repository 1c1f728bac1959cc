//! The real-time wire protocol: JSON text frames.
//!
//! Server → client: `ready` (the cursor to resume from, who is online), `event` (a committed
//! event in its envelope, with its cursor), `typing`, `presence`, `subscribed`, `unsubscribed`,
//! `error`, `pong`. Client → server: `subscribe` / `unsubscribe` a topic, `typing`, `ping`.

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Serialize};
use switchboard_types::{Actor, ConversationId, EventEnvelope, InboxId};

/// The inbox and conversation an event or signal concerns (either may be absent, e.g. for a
/// contact event).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub inbox_id: Option<String>,
    pub conversation_id: Option<String>,
}

/// What an agent socket listens to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Everything in the tenant.
    Tenant,
    Inbox(String),
    Conversation(String),
}

impl Topic {
    /// Parses `tenant`, `inbox:<id>` or `conversation:<id>`; ids are checked for shape here and
    /// for existence (in the caller's tenant) by the socket.
    pub fn parse(s: &str) -> Option<Self> {
        match s.split_once(':') {
            None if s == "tenant" => Some(Self::Tenant),
            Some(("inbox", id)) => id
                .parse::<InboxId>()
                .ok()
                .map(|id| Self::Inbox(id.into_string())),
            Some(("conversation", id)) => id
                .parse::<ConversationId>()
                .ok()
                .map(|id| Self::Conversation(id.into_string())),
            _ => None,
        }
    }

    pub fn matches(&self, scope: &Scope) -> bool {
        match self {
            Self::Tenant => true,
            Self::Inbox(id) => scope.inbox_id.as_deref() == Some(id),
            Self::Conversation(id) => scope.conversation_id.as_deref() == Some(id),
        }
    }

    pub fn name(&self) -> String {
        match self {
            Self::Tenant => "tenant".to_owned(),
            Self::Inbox(id) => format!("inbox:{id}"),
            Self::Conversation(id) => format!("conversation:{id}"),
        }
    }
}

/// A frame the server sends.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    Ready {
        cursor: i64,
        topics: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        online_users: Option<Vec<String>>,
    },
    Event {
        cursor: i64,
        event: &'a EventEnvelope,
    },
    Typing {
        conversation_id: &'a str,
        inbox_id: &'a str,
        actor: &'a Actor,
        typing: bool,
    },
    Presence {
        user_id: &'a str,
        online: bool,
    },
    Subscribed {
        topic: String,
    },
    Unsubscribed {
        topic: String,
    },
    Error {
        code: &'a str,
        detail: String,
    },
    Pong,
}

impl ServerFrame<'_> {
    /// The frame as WebSocket text; cloning it shares the bytes, so one serialisation serves
    /// every socket.
    pub fn to_text(&self) -> Utf8Bytes {
        serde_json::to_string(self)
            .unwrap_or_else(|_| r#"{"type":"error","code":"internal","detail":""}"#.to_owned())
            .into()
    }
}

/// A frame a client sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    Subscribe {
        topic: String,
    },
    Unsubscribe {
        topic: String,
    },
    Typing {
        conversation_id: String,
        typing: bool,
    },
    Ping,
}

/// Largest client frame accepted; anything bigger closes the socket.
pub const MAX_CLIENT_FRAME: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_parse_strictly() {
        let inbox = InboxId::generate();
        let conversation = ConversationId::generate();
        assert_eq!(Topic::parse("tenant"), Some(Topic::Tenant));
        assert_eq!(
            Topic::parse(&format!("inbox:{inbox}")),
            Some(Topic::Inbox(inbox.to_string()))
        );
        assert_eq!(
            Topic::parse(&format!("conversation:{conversation}")),
            Some(Topic::Conversation(conversation.to_string()))
        );
        for bad in [
            "".to_owned(),
            "tenant:x".into(),
            "inbox:".into(),
            format!("inbox:{conversation}"),
            format!("conversation:{inbox}"),
            format!("inbox:{inbox};drop"),
            "inbox:inb_../../x".into(),
            "everything".into(),
        ] {
            assert_eq!(Topic::parse(&bad), None, "{bad}");
        }
    }

    #[test]
    fn topics_match_their_scope_only() {
        let scope = Scope {
            inbox_id: Some("inb_1".into()),
            conversation_id: Some("conv_1".into()),
        };
        assert!(Topic::Tenant.matches(&scope));
        assert!(Topic::Inbox("inb_1".into()).matches(&scope));
        assert!(!Topic::Inbox("inb_2".into()).matches(&scope));
        assert!(Topic::Conversation("conv_1".into()).matches(&scope));
        assert!(!Topic::Conversation("conv_2".into()).matches(&Scope::default()));
    }

    #[test]
    fn client_frames_refuse_unknown_shapes() {
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"ping"}"#).is_ok());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"shout"}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(
            r#"{"type":"subscribe","topic":"tenant","x":1}"#
        )
        .is_err());
    }
}
