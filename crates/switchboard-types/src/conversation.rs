//! Conversations: their channel, status, priority and message direction.

use serde::{Deserialize, Serialize};

text_enum!(/// How customers reach an inbox.
    Channel { Api => "api", Widget => "widget", Email => "email", Sms => "sms" });
text_enum!(/// Where a conversation stands. A new customer message reopens a pending, snoozed or
    /// resolved conversation.
    ConversationStatus { Open => "open", Pending => "pending", Snoozed => "snoozed", Resolved => "resolved" });
text_enum!(/// How urgent a conversation is.
    Priority { None => "none", Low => "low", Medium => "medium", High => "high", Urgent => "urgent" });
text_enum!(/// How an inbox hands new conversations to its agents.
    AssignmentPolicy { None => "none", RoundRobin => "round_robin", Balanced => "balanced" });
text_enum!(/// Who a message travels to: from the customer (incoming) or to them (outgoing).
    Direction { Incoming => "incoming", Outgoing => "outgoing" });

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        for s in [
            ConversationStatus::Open,
            ConversationStatus::Pending,
            ConversationStatus::Snoozed,
            ConversationStatus::Resolved,
        ] {
            assert_eq!(ConversationStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(Priority::parse("urgent"), Some(Priority::Urgent));
        assert_eq!(Channel::parse("fax"), None);
    }
}
