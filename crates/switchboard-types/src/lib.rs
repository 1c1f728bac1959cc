//! Vocabulary shared by every Switchboard crate: prefixed identifiers, roles, actors, stable error
//! codes and the event envelope. Serde only (OpenAPI schemas behind the `openapi` feature), so the
//! ML, voice and analytics libraries can depend on it without pulling in the server.

pub mod actor;
pub mod attribute;
pub mod conversation;
pub mod error_code;
pub mod event;
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
    IdError, JobId, PartnerId, SessionId, TeamId, TenantId, UserId,
};
pub use id::{
    AttachmentId, CannedResponseId, ConversationId, CsatSurveyId, InboxId, IntentModelId, LabelId,
    MacroId, MessageId, MetricEventId, NotificationId, ScheduledMessageId, SlaPolicyId,
    WidgetSessionId,
};
pub use role::{Availability, PartnerRole, TenantRole};
pub use tenant::{Plan, TenantStatus};
pub use triage::{MessageTriage, PiiSpan, SentimentLabel, TriageStatus, UrgencyLevel};
