//! Every event type Switchboard emits, with its current version and what it means. Webhook
//! endpoints subscribe by these names (or by a family, `conversation.*`); anything else is
//! refused, so a typo never silently subscribes to nothing.

/// One event type of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventType {
    pub name: &'static str,
    pub version: u32,
    pub description: &'static str,
}

macro_rules! catalog {
    ($($name:literal => $ty:ident, $doc:literal,)*) => {
        /// The catalog, sorted by name.
        pub const EVENT_TYPES: &[EventType] = &[
            $(EventType { name: $name, version: 1, description: $doc },)*
        ];

        /// Whether `data` is a valid payload of `name` (the payload's Rust type, unknown fields
        /// refused); the reason when it is not.
        pub fn check_payload(name: &str, data: &serde_json::Value) -> Result<(), String> {
            match name {
                $($name => serde_json::from_value::<crate::event_data::$ty>(data.clone())
                    .map(|_| ())
                    .map_err(|e| format!("{name}: {e}")),)*
                _ => Err(format!("`{name}` is not in the event catalog")),
            }
        }

        /// The JSON Schema of `name`'s payload (an OpenAPI 3.1 schema object) and the schemas it
        /// refers to.
        #[cfg(feature = "openapi")]
        pub fn payload_schema(
            name: &str,
        ) -> Option<(
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
            Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
        )> {
            match name {
                $($name => {
                    let mut refs = Vec::new();
                    <crate::event_data::$ty as utoipa::ToSchema>::schemas(&mut refs);
                    Some((<crate::event_data::$ty as utoipa::PartialSchema>::schema(), refs))
                })*
                _ => None,
            }
        }
    };
}

catalog! {
    "agent.availability_changed" => AgentAvailabilityChanged, "An agent went online, busy or offline.",
    "ai.settings_updated" => AiSettingsUpdated, "The tenant's AI-answer settings changed.",
    "api_key.created" => ApiKeyCreated, "An API key was created.",
    "api_key.revoked" => ApiKeyRevoked, "An API key was revoked.",
    "attachment.uploaded" => AttachmentUploaded, "A file was uploaded for a message.",
    "attribute_definition.created" => AttributeDefinitionCreated, "A custom attribute was defined.",
    "attribute_definition.deleted" => AttributeDefinitionDeleted, "A custom attribute definition was deleted.",
    "automation.triggered" => AutomationTriggered, "An automation rule's `emit_event` action fired (for integrations listening to rules).",
    "automation_rule.created" => AutomationRuleChanged, "An automation rule was created.",
    "automation_rule.deleted" => AutomationRuleDeleted, "An automation rule was deleted.",
    "automation_rule.updated" => AutomationRuleChanged, "An automation rule was changed (enabled, disabled, reordered, edited).",
    "business_calendar.created" => BusinessCalendarChanged, "A business-hours calendar was created.",
    "business_calendar.deleted" => BusinessCalendarDeleted, "A business-hours calendar was deleted.",
    "business_calendar.updated" => BusinessCalendarChanged, "A business-hours calendar was changed.",
    "canned_response.created" => CannedResponseCreated, "A canned response was created.",
    "canned_response.deleted" => CannedResponseDeleted, "A canned response was deleted.",
    "company.created" => CompanyCreated, "A company was created.",
    "company.deleted" => CompanyDeleted, "A company was deleted.",
    "company.updated" => CompanyUpdated, "A company was changed.",
    "contact.created" => ContactChanged, "A contact was created.",
    "contact.deleted" => ContactDeleted, "A contact was deleted.",
    "contact.merged" => ContactMerged, "Two contacts were merged into one.",
    "contact.updated" => ContactChanged, "A contact was changed.",
    "conversation.assigned" => ConversationAssigned, "A conversation was assigned to an agent or team, or unassigned.",
    "conversation.attributes_changed" => ConversationAttributesChanged, "A conversation's custom attributes changed.",
    "conversation.created" => ConversationCreated, "A conversation started.",
    "conversation.handed_off" => ConversationHandedOff, "A bot handed a conversation to people.",
    "conversation.labels_changed" => ConversationLabelsChanged, "Labels were added to or removed from a conversation.",
    "conversation.merged" => ConversationMerged, "Two conversations were merged.",
    "conversation.participant_added" => ConversationParticipant, "An agent was added as a participant.",
    "conversation.participant_removed" => ConversationParticipant, "A participant was removed.",
    "conversation.status_changed" => ConversationStatusChanged, "A conversation was opened, resolved, snoozed or closed.",
    "conversation.updated" => ConversationUpdated, "A conversation's priority or other fields changed.",
    "csat.answered" => CsatAnswered, "A customer answered a satisfaction survey.",
    "csat.requested" => CsatRequested, "A satisfaction survey was sent.",
    "endpoint.disabled" => EndpointDisabled, "A webhook endpoint was disabled after failing for five days or answering 410 Gone.",
    "inbox.created" => InboxCreated, "An inbox was created.",
    "inbox.member_added" => InboxMember, "An agent was added to an inbox.",
    "inbox.member_removed" => InboxMember, "An agent was removed from an inbox.",
    "inbox.updated" => InboxUpdated, "An inbox's settings changed.",
    "intent_model.deleted" => IntentModelDeleted, "An uploaded intent model was deleted.",
    "intent_model.replaced" => IntentModelUploaded, "An uploaded intent model was replaced by a new upload of the same name.",
    "intent_model.uploaded" => IntentModelUploaded, "An intent model was uploaded.",
    "kb_article.created" => KbArticleChanged, "A knowledge-base article was written.",
    "kb_article.deleted" => KbArticleDeleted, "A knowledge-base article was deleted.",
    "kb_article.updated" => KbArticleChanged, "A knowledge-base article was edited, published, unpublished or archived.",
    "kb_category.created" => KbCategoryCreated, "A help-centre category was created.",
    "kb_category.deleted" => KbCategoryDeleted, "A help-centre category was deleted.",
    "kb_portal.created" => KbPortalCreated, "A help centre was created.",
    "kb_portal.deleted" => KbPortalDeleted, "A help centre was deleted with its articles.",
    "label.created" => LabelCreated, "A label was created.",
    "label.deleted" => LabelDeleted, "A label was deleted.",
    "macro.created" => MacroCreated, "A macro was created.",
    "macro.deleted" => MacroDeleted, "A macro was deleted.",
    "member.added" => MemberAdded, "A person joined the tenant.",
    "member.removed" => MemberRemoved, "A person left the tenant.",
    "member.role_changed" => MemberRoleChanged, "A member's role changed.",
    "message.created" => MessageCreated, "A message or private note was added to a conversation.",
    "message.delivery_updated" => MessageDeliveryUpdated, "An outgoing message was sent, delivered or failed on its channel.",
    "message.schedule_cancelled" => ScheduledMessageChanged, "A scheduled message was cancelled.",
    "message.schedule_failed" => ScheduledMessageChanged, "A scheduled message could not be sent at its time.",
    "message.schedule_sent" => ScheduledMessageChanged, "A scheduled message was sent at its time.",
    "message.scheduled" => ScheduledMessageChanged, "A message was scheduled for later.",
    "notification.created" => NotificationCreated, "A person was notified (a mention, an SLA warning, …).",
    "sla.applied" => SlaApplied, "An SLA policy was applied to a conversation.",
    "sla.breached" => SlaAlert, "A conversation missed an SLA target.",
    "sla.warning" => SlaAlert, "A conversation is close to missing an SLA target.",
    "sla_policy.created" => SlaPolicyCreated, "An SLA policy was created.",
    "sla_policy.deleted" => SlaPolicyDeleted, "An SLA policy was deleted.",
    "team.created" => TeamChanged, "A team was created.",
    "team.deleted" => TeamDeleted, "A team was deleted.",
    "team.member_added" => TeamMember, "An agent joined a team.",
    "team.member_removed" => TeamMember, "An agent left a team.",
    "team.updated" => TeamChanged, "A team was changed.",
    "tenant.provisioned" => TenantProvisioned, "The tenant was provisioned.",
    "triage.settings_updated" => TriageSettingsUpdated, "The tenant's triage settings changed.",
    "webhook_endpoint.created" => WebhookEndpointChanged, "A webhook endpoint was created.",
    "webhook_endpoint.deleted" => WebhookEndpointDeleted, "A webhook endpoint was deleted.",
    "webhook_endpoint.secret_rotated" => WebhookSecretRotated, "A webhook endpoint's signing secret was rotated.",
    "webhook_endpoint.updated" => WebhookEndpointChanged, "A webhook endpoint was changed.",
}

/// The catalog entry of `name`.
pub fn event_type(name: &str) -> Option<&'static EventType> {
    EVENT_TYPES.iter().find(|t| t.name == name)
}

/// Whether a subscription filter names a known type or a known family (`conversation.*`).
pub fn is_known_filter(filter: &str) -> bool {
    match filter.strip_suffix(".*") {
        Some(family) => EVENT_TYPES
            .iter()
            .any(|t| t.name.split_once('.').is_some_and(|(f, _)| f == family)),
        None => event_type(filter).is_some(),
    }
}

/// Whether an event of type `name` passes a subscription (empty: every type).
pub fn filter_matches(filters: &[String], name: &str) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| match f.strip_suffix(".*") {
            Some(family) => name.split_once('.').is_some_and(|(fam, _)| fam == family),
            None => f == name,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_is_sorted_and_unique() {
        let names: Vec<_> = EVENT_TYPES.iter().map(|t| t.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
    }

    #[test]
    fn payloads_are_held_to_their_types() {
        let ok = serde_json::json!({"team_id": "team_1", "user_id": "usr_1"});
        assert!(check_payload("team.member_added", &ok).is_ok());
        let extra = serde_json::json!({"team_id": "team_1", "user_id": "usr_1", "secret": "x"});
        assert!(check_payload("team.member_added", &extra).is_err());
        let retyped = serde_json::json!({"team_id": 7, "user_id": "usr_1"});
        assert!(check_payload("team.member_added", &retyped).is_err());
        let missing = serde_json::json!({"team_id": "team_1"});
        assert!(check_payload("team.member_added", &missing).is_err());
        assert!(check_payload("no.such_type", &ok).is_err());
        // Optional fields may be absent.
        let c = serde_json::json!({"contact_id": "con_1", "name": null, "email": null, "phone": null, "external_id": null});
        assert!(check_payload("contact.created", &c).is_ok());
    }

    #[test]
    fn filters_name_types_and_families() {
        assert!(is_known_filter("message.created"));
        assert!(is_known_filter("conversation.*"));
        assert!(!is_known_filter("message.creatd"));
        assert!(!is_known_filter("nosuch.*"));
        assert!(!is_known_filter("*"));
        let f = vec!["conversation.*".to_owned(), "message.created".to_owned()];
        assert!(filter_matches(&f, "conversation.assigned"));
        assert!(filter_matches(&f, "message.created"));
        assert!(!filter_matches(&f, "message.scheduled"));
        assert!(!filter_matches(&f, "conversationx.assigned"));
        assert!(filter_matches(&[], "anything.at_all"));
    }
}
