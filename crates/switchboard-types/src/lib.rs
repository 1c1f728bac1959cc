//! Vocabulary shared by every Switchboard crate: prefixed identifiers, roles, actors, stable error
//! codes and the event envelope. Serde only (OpenAPI schemas behind the `openapi` feature), so the
//! ML, voice and analytics libraries can depend on it without pulling in the server.

/// A closed set of names stored and sent as snake_case text: the enum, `as_str` and `parse`.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($v:ident => $s:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($v),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$v),)+ _ => None }
            }
        }
    };
}

pub mod actor;
pub mod attribute;
pub mod catalog;
pub mod conversation;
pub mod error_code;
pub mod event;
pub mod event_data;
pub mod id;
pub mod role;
pub mod tenant;
pub mod triage;

pub use actor::{Actor, ActorKind};
pub use attribute::{AttributeKind, AttributeTarget};
pub use conversation::{AssignmentPolicy, Channel, ConversationStatus, Direction, Priority};
pub use error_code::ErrorCode;
pub use event::EventEnvelope;
pub use id::{
    ApiKeyId, AttributeId, AuditEventId, CalendarId, CellId, CompanyId, ContactId, EventId,
    IdError, JobId, PartnerId, SessionId, TeamId, TenantId, UserId, WebhookAttemptId,
    WebhookEndpointId,
};
pub use id::{
    AttachmentId, CannedResponseId, ConversationId, CsatSurveyId, InboxId, IntentModelId,
    InvitationId, LabelId, MacroId, MessageId, MetricEventId, NotificationId, ScheduledMessageId,
    SlaPolicyId, WidgetSessionId,
};
pub use id::{AutomationRuleId, AutomationRunId, KbArticleId, KbCategoryId, KbPortalId};
pub use role::{Availability, PartnerRole, TenantRole};
pub use tenant::{Plan, TenantStatus};
pub use triage::{MessageTriage, PiiSpan, SentimentLabel, TriageStatus, UrgencyLevel};
