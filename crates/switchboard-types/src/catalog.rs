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
    ($($name:literal => $doc:literal,)*) => {
        /// The catalog, sorted by name.
        pub const EVENT_TYPES: &[EventType] = &[
            $(EventType { name: $name, version: 1, description: $doc },)*
        ];
    };
}

catalog! {
    "agent.availability_changed" => "An agent went online, busy or offline.",
    "api_key.created" => "An API key was created.",
    "api_key.revoked" => "An API key was revoked.",
    "attachment.uploaded" => "A file was uploaded for a message.",
    "attribute_definition.created" => "A custom attribute was defined.",
    "attribute_definition.deleted" => "A custom attribute definition was deleted.",
    "business_calendar.created" => "A business-hours calendar was created.",
    "business_calendar.deleted" => "A business-hours calendar was deleted.",
    "business_calendar.updated" => "A business-hours calendar was changed.",
    "canned_response.created" => "A canned response was created.",
    "canned_response.deleted" => "A canned response was deleted.",
    "company.created" => "A company was created.",
    "company.deleted" => "A company was deleted.",
    "company.updated" => "A company was changed.",
    "contact.created" => "A contact was created.",
    "contact.deleted" => "A contact was deleted.",
    "contact.merged" => "Two contacts were merged into one.",
    "contact.updated" => "A contact was changed.",
    "conversation.assigned" => "A conversation was assigned to an agent or team, or unassigned.",
    "conversation.attributes_changed" => "A conversation's custom attributes changed.",
    "conversation.created" => "A conversation started.",
    "conversation.handed_off" => "A bot handed a conversation to people.",
    "conversation.labels_changed" => "Labels were added to or removed from a conversation.",
    "conversation.merged" => "Two conversations were merged.",
    "conversation.participant_added" => "An agent was added as a participant.",
    "conversation.participant_removed" => "A participant was removed.",
    "conversation.status_changed" => "A conversation was opened, resolved, snoozed or closed.",
    "conversation.updated" => "A conversation's priority or other fields changed.",
    "csat.answered" => "A customer answered a satisfaction survey.",
    "csat.requested" => "A satisfaction survey was sent.",
    "endpoint.disabled" => "A webhook endpoint was disabled after failing for five days or answering 410 Gone.",
    "inbox.created" => "An inbox was created.",
    "inbox.member_added" => "An agent was added to an inbox.",
    "inbox.member_removed" => "An agent was removed from an inbox.",
    "inbox.updated" => "An inbox's settings changed.",
    "intent_model.deleted" => "An uploaded intent model was deleted.",
    "intent_model.replaced" => "An uploaded intent model was replaced by a new upload of the same name.",
    "intent_model.uploaded" => "An intent model was uploaded.",
    "label.created" => "A label was created.",
    "label.deleted" => "A label was deleted.",
    "macro.created" => "A macro was created.",
    "macro.deleted" => "A macro was deleted.",
    "member.added" => "A person joined the tenant.",
    "member.removed" => "A person left the tenant.",
    "member.role_changed" => "A member's role changed.",
    "message.created" => "A message or private note was added to a conversation.",
    "message.delivery_updated" => "An outgoing message was sent, delivered or failed on its channel.",
    "message.schedule_cancelled" => "A scheduled message was cancelled.",
    "message.schedule_failed" => "A scheduled message could not be sent at its time.",
    "message.schedule_sent" => "A scheduled message was sent at its time.",
    "message.scheduled" => "A message was scheduled for later.",
    "notification.created" => "A person was notified (a mention, an SLA warning, …).",
    "sla.applied" => "An SLA policy was applied to a conversation.",
    "sla.breached" => "A conversation missed an SLA target.",
    "sla.warning" => "A conversation is close to missing an SLA target.",
    "sla_policy.created" => "An SLA policy was created.",
    "sla_policy.deleted" => "An SLA policy was deleted.",
    "team.created" => "A team was created.",
    "team.deleted" => "A team was deleted.",
    "team.member_added" => "An agent joined a team.",
    "team.member_removed" => "An agent left a team.",
    "team.updated" => "A team was changed.",
    "tenant.provisioned" => "The tenant was provisioned.",
    "triage.settings_updated" => "The tenant's triage settings changed.",
    "webhook_endpoint.created" => "A webhook endpoint was created.",
    "webhook_endpoint.deleted" => "A webhook endpoint was deleted.",
    "webhook_endpoint.secret_rotated" => "A webhook endpoint's signing secret was rotated.",
    "webhook_endpoint.updated" => "A webhook endpoint was changed.",
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
