//! Full-text search over a tenant's messages, conversations and contacts. The text a person types
//! is split into words; results contain every word. Never another tenant's data: each query runs
//! in the caller's tenant transaction and filters on the tenant.

use crate::error::{CoreError, CoreResult};
use crate::{Core, TenantAccess};
use switchboard_store::model::{Contact, Conversation, Message, SearchQuery};
use switchboard_store::Access;

/// Splits typed text into search words: at most 10, each at most 64 characters.
pub fn terms(q: &str) -> CoreResult<Vec<String>> {
    let words: Vec<String> = q
        .split_whitespace()
        .filter(|w| !w.chars().any(char::is_control))
        .map(str::to_owned)
        .collect();
    if words.is_empty() {
        return Err(CoreError::field("q", "type at least one word"));
    }
    if words.len() > 10 || words.iter().any(|w| w.chars().count() > 64) {
        return Err(CoreError::field(
            "q",
            "at most 10 words of at most 64 characters",
        ));
    }
    Ok(words)
}

impl Core {
    pub async fn search_messages(
        &self,
        access: &TenantAccess,
        query: SearchQuery,
    ) -> CoreResult<Vec<Message>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        Ok(self
            .store
            .tenant(&access.ctx, Access::Read)
            .await?
            .search_messages(&query)
            .await?)
    }

    /// Conversations with a matching message, most recent match first.
    pub async fn search_conversations(
        &self,
        access: &TenantAccess,
        mut query: SearchQuery,
    ) -> CoreResult<Vec<Conversation>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        query.limit = query.limit.clamp(1, 200);
        let mut tx = self.store.tenant(&access.ctx, Access::Read).await?;
        let mut out: Vec<Conversation> = Vec::new();
        for id in tx.search_conversation_ids(&query).await? {
            if let Some(c) = tx.get_conversation(&id).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    pub async fn search_contacts(
        &self,
        access: &TenantAccess,
        terms: &[String],
        limit: i64,
    ) -> CoreResult<Vec<Contact>> {
        if !access.role.can_read_contacts() {
            return Err(CoreError::Forbidden);
        }
        Ok(self
            .store
            .tenant(&access.ctx, Access::Read)
            .await?
            .search_contacts(terms, limit)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_text_becomes_bounded_words() {
        assert_eq!(terms("  refund   card ").unwrap(), ["refund", "card"]);
        assert!(terms("   ").is_err());
        assert!(terms(&"w ".repeat(11)).is_err());
        assert!(terms(&"x".repeat(65)).is_err());
    }
}
