//! Prefixed, sortable identifiers (`ten_01j…`). The prefix makes a leaked id self-describing in logs
//! and stops an id of one kind being accepted where another is expected; the ULID body sorts by
//! creation time, which keeps cursor pagination and B-tree inserts cheap.

use std::fmt;
use std::str::FromStr;

/// Why a string is not a valid identifier of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("expected an id starting with `{expected}_`")]
    WrongPrefix { expected: &'static str },
    #[error("the id body is not a valid ULID")]
    BadBody,
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind carries.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh, time-ordered id.
            pub fn generate() -> Self {
                Self(format!("{}_{}", $prefix, ulid::Ulid::new().to_string().to_ascii_lowercase()))
            }

            /// A fresh id that sorts after `previous`: ULIDs made within one millisecond are
            /// ordered at random, so an ordered sequence (a conversation's thread) continues
            /// from its last id instead.
            pub fn generate_after(previous: &Self) -> Self {
                let fresh = ulid::Ulid::new();
                let last = previous
                    .0
                    .strip_prefix($prefix)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .and_then(|body| ulid::Ulid::from_string(body).ok());
                let next = match last {
                    Some(last) if fresh <= last => last.increment().unwrap_or(fresh),
                    _ => fresh,
                };
                Self(format!("{}_{}", $prefix, next.to_string().to_ascii_lowercase()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Wraps a value read back from our own database without re-validating it.
            pub fn from_trusted(value: String) -> Self {
                Self(value)
            }

            /// Consumes the id, returning its text.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let body = s
                    .strip_prefix($prefix)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .ok_or(IdError::WrongPrefix { expected: $prefix })?;
                if body.len() != 26 {
                    return Err(IdError::BadBody);
                }
                let ulid = ulid::Ulid::from_string(body).map_err(|_| IdError::BadBody)?;
                Ok(Self(format!("{}_{}", $prefix, ulid.to_string().to_ascii_lowercase())))
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(concat!("^", $prefix, "_[0-9a-hjkmnp-tv-z]{26}$")))
                    .examples([serde_json::json!(concat!($prefix, "_01jd8x3k9m2v4q6r8s0t2w4y6z"))])
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

prefixed_id!(/// A tenant: one business using Switchboard.
    TenantId, "ten");
prefixed_id!(/// A partner (reseller) that provisions tenants under its brand.
    PartnerId, "ptn");
prefixed_id!(/// A cell: one database in one region that hosts tenants.
    CellId, "cell");
prefixed_id!(/// A person who can sign in.
    UserId, "usr");
prefixed_id!(/// An API key of a tenant.
    ApiKeyId, "key");
prefixed_id!(/// A console session or an issued bearer token pair.
    SessionId, "ses");
prefixed_id!(/// One entry of an audit chain.
    AuditEventId, "aud");
prefixed_id!(/// A background job.
    JobId, "job");
prefixed_id!(/// A domain event in the outbox.
    EventId, "evt");
prefixed_id!(/// A URL a tenant receives its events at.
    WebhookEndpointId, "ep");
prefixed_id!(/// One try at delivering an event to a webhook endpoint.
    WebhookAttemptId, "atmpt");
prefixed_id!(/// A person who writes in to a tenant.
    ContactId, "con");
prefixed_id!(/// A company contacts belong to.
    CompanyId, "cmp");
prefixed_id!(/// A custom attribute definition.
    AttributeId, "atd");
prefixed_id!(/// A team of agents.
    TeamId, "team");
prefixed_id!(/// A business-hours calendar.
    CalendarId, "cal");
prefixed_id!(/// An inbox: one channel customers reach the tenant through.
    InboxId, "inb");
prefixed_id!(/// A conversation with a contact.
    ConversationId, "cnv");
prefixed_id!(/// One message or private note in a conversation.
    MessageId, "msg");
prefixed_id!(/// A label conversations carry.
    LabelId, "lbl");
prefixed_id!(/// A canned response.
    CannedResponseId, "can");
prefixed_id!(/// A visitor's session on a web-widget inbox.
    WidgetSessionId, "wss");
prefixed_id!(/// A file sent with a message.
    AttachmentId, "att");
prefixed_id!(/// A service-level agreement policy.
    SlaPolicyId, "sla");
prefixed_id!(/// Something a person should look at (a mention, an SLA warning, …).
    NotificationId, "ntf");
prefixed_id!(/// A fact a report counts (a first response, a resolution, a rating, …).
    MetricEventId, "mev");
prefixed_id!(/// A satisfaction survey sent when a conversation is resolved.
    CsatSurveyId, "csat");
prefixed_id!(/// A reply or note to be sent later.
    ScheduledMessageId, "sch");
prefixed_id!(/// A saved list of actions.
    MacroId, "mac");
prefixed_id!(/// A tenant's own intent model, uploaded for triage.
    IntentModelId, "imod");
prefixed_id!(/// An invitation to join a tenant, accepted through a link.
    InvitationId, "inv");
prefixed_id!(/// An automation rule: a trigger, conditions and actions a tenant runs on its conversations.
    AutomationRuleId, "rule");
prefixed_id!(/// One run of an automation rule on one event.
    AutomationRunId, "arun");
prefixed_id!(/// A help centre: a public collection of knowledge-base articles.
    KbPortalId, "kbp");
prefixed_id!(/// A category of a help centre's articles.
    KbCategoryId, "kbc");
prefixed_id!(/// A knowledge-base article in one locale.
    KbArticleId, "kba");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_round_trip_through_parse() {
        let id = TenantId::generate();
        assert!(id.as_str().starts_with("ten_"));
        let parsed: TenantId = id.as_str().parse().unwrap();
        assert_eq!(parsed, id);
    }

    #[test]
    fn an_id_of_another_kind_is_rejected() {
        let user = UserId::generate();
        assert_eq!(
            user.as_str().parse::<TenantId>(),
            Err(IdError::WrongPrefix { expected: "ten" })
        );
    }

    #[test]
    fn malformed_bodies_are_rejected() {
        for bad in [
            "ten_",
            "ten_123",
            "ten_01jd8x3k9m2v4q6r8s0t2w4y6z'--",
            "ten_\0",
            "ten",
        ] {
            assert!(bad.parse::<TenantId>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn parsing_normalises_case() {
        let id = TenantId::generate();
        let upper = format!("ten_{}", id.as_str()[4..].to_ascii_uppercase());
        assert_eq!(upper.parse::<TenantId>().unwrap(), id);
    }

    #[test]
    fn ids_made_after_another_sort_after_it() {
        // An id from the far future: a fresh one would sort before it.
        let future = "msg_7zzzzzzzzzzzzzzzzzzzzzzzzy"
            .parse::<MessageId>()
            .unwrap();
        let next = MessageId::generate_after(&future);
        assert!(next > future, "{next} after {future}");
        assert!(next.as_str().parse::<MessageId>().is_ok());
        let mut last = MessageId::generate();
        for _ in 0..1000 {
            let next = MessageId::generate_after(&last);
            assert!(next > last);
            last = next;
        }
        // A past id does not hold a fresh one back.
        let past = "msg_00000000000000000000000000"
            .parse::<MessageId>()
            .unwrap();
        assert!(MessageId::generate_after(&past).as_str() > "msg_01");
    }
}
