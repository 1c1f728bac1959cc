//! Deciding what to do with one customer message: stay out, answer, resolve, or hand off.

use super::model::{decision_schema, ChatCall, ChatError, DECISION_TOOL};
use super::{load_settings, month_of, seal_context, AiSettings};
use crate::audit::{self, AuditDraft, RequestMeta};
use crate::conversations::ConversationPatch;
use crate::error::CoreResult;
use crate::kb::KbHit;
use crate::{secrets, Core, TenantAccess};
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_nlp::retrieval::extract_answer;
use switchboard_store::model::{AiAnswer, Message};
use switchboard_store::Access;
use switchboard_types::{
    Actor, ActorKind, ConversationId, ConversationStatus, Direction, MessageId,
};

/// The AI's actor id (its kind is `ai`).
pub const AI_ACTOR: &str = "answers";
/// Passages given to the model or the extractor.
const PASSAGES: usize = 3;
/// Sentences an extractive answer keeps.
const EXTRACT_SENTENCES: usize = 4;
/// Longest answer posted.
const MAX_ANSWER_CHARS: usize = 4_000;

/// What was decided, before it is carried out.
#[derive(Debug)]
enum Verdict {
    Answer {
        text: String,
        citations: Vec<KbHit>,
        resolve: bool,
        source: &'static str,
    },
    Handoff {
        reason: String,
    },
}

/// The model's decision as the tool call carries it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Decision {
    action: String,
    text: String,
    citations: Vec<i64>,
}

fn ai_actor() -> Actor {
    Actor {
        kind: ActorKind::Ai,
        id: AI_ACTOR.to_owned(),
    }
}

/// Whether a person has replied to the customer in this thread.
fn person_replied(thread: &[Message]) -> bool {
    thread.iter().any(|m| {
        m.direction == Direction::Outgoing
            && !m.private
            && matches!(m.sender.kind, ActorKind::User | ActorKind::ApiKey)
    })
}

impl Core {
    /// Looks at a customer's message when AI answers are on for the tenant; does nothing when
    /// the AI should stay out (a person is on the conversation, or it was handed off). Decided
    /// once per message.
    pub(crate) async fn ai_on_message(
        &self,
        base: &TenantAccess,
        message: &MessageId,
    ) -> CoreResult<()> {
        let now = self.now();
        let access = TenantAccess {
            tenant: base.tenant.clone(),
            role: base.role,
            ctx: base.ctx.with_actor(ai_actor()),
        };
        let (settings, key, m, conversation, thread, answers) = {
            let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
            let settings = load_settings(&mut *tx).await?;
            let key = tx.get_ai_settings().await?.and_then(|s| s.api_key);
            let Some(m) = tx.get_message(message).await? else {
                return Ok(());
            };
            let Some(c) = tx.get_conversation(&m.conversation_id).await? else {
                return Ok(());
            };
            let thread = tx.latest_messages(&c.id, 50).await?;
            let answers = tx.list_ai_answers(&c.id).await?;
            (settings, key, m, c, thread, answers)
        };
        let in_scope = settings.enabled
            && m.direction == Direction::Incoming
            && !m.private
            && (settings.inbox_ids.is_empty()
                || settings.inbox_ids.contains(&conversation.inbox_id))
            && conversation.assignee_id.is_none()
            && !person_replied(&thread)
            && !answers.iter().any(|a| a.action == "handoff");
        if !in_scope {
            return Ok(());
        }
        // Opened before anything is recorded: a process that cannot open it (another server
        // secret) fails the job, which is then retried, instead of deciding wrongly.
        let key = match key {
            Some(sealed) => Some(secrets::open(
                &self.config().channel_key,
                &seal_context(access.ctx.tenant()),
                &sealed,
            )?),
            None => None,
        };
        let mut record = AiAnswer {
            message_id: m.id.clone(),
            conversation_id: conversation.id.clone(),
            action: "running".into(),
            reply_message_id: None,
            details: json!({}),
            tokens: 0,
            created_at: now,
        };
        {
            let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
            if !tx.insert_ai_answer(&record).await? {
                return Ok(());
            }
            tx.commit().await?;
        }
        let turns = answers
            .iter()
            .filter(|a| matches!(a.action.as_str(), "reply" | "resolve"))
            .count();
        let mut details = json!({
            "intent": m.triage.as_ref().and_then(|t| t.intent.clone()),
            "intent_confidence": m.triage.as_ref().and_then(|t| t.intent_confidence),
            "min_intent_confidence": settings.min_intent_confidence,
            "min_retrieval_confidence": settings.min_retrieval_confidence,
            "turn": turns + 1,
        });
        let verdict = self
            .decide(
                &access,
                &settings,
                key.as_deref(),
                &m,
                turns,
                &mut details,
                &mut record.tokens,
            )
            .await;
        let meta = RequestMeta {
            ip: None,
            user_agent: None,
            request_id: Some(format!("ai:{}", m.id)),
        };
        let verdict = match verdict {
            Ok(v) => v,
            Err(e) => Verdict::Handoff {
                reason: format!("the answer could not be prepared: {}", e.public_reason()),
            },
        };
        if let Err(e) = self
            .carry_out(
                &access,
                &conversation.id,
                verdict,
                &mut record,
                &mut details,
                &meta,
            )
            .await
        {
            // The answer could not be posted: people take over, as with any other doubt.
            let reason = format!("the answer could not be sent: {}", e.public_reason());
            tracing::warn!(conversation = %conversation.id, error = %e, "AI answer failed; handing off");
            let note = format!("AI answer handed this conversation to a person: {reason}.");
            if let Err(e) = self
                .write_reply(&access.ctx, &conversation.id, note, true, &[], &meta)
                .await
            {
                tracing::warn!(error = %e, "the AI hand-off note failed");
            }
            if let Err(e) = self.hand_off(&access, &conversation.id, &meta).await {
                tracing::warn!(error = %e, "the AI hand-off failed");
            }
            record.action = "handoff".into();
            record.reply_message_id = None;
            details["reason"] = json!(reason);
        }
        record.details = details;
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        tx.finish_ai_answer(&record).await?;
        let fact = if record.action == "handoff" {
            "ai_handoff"
        } else {
            "ai_reply"
        };
        if let Some(c) = tx.get_conversation(&conversation.id).await? {
            crate::reports::record(&mut *tx, fact, &c, None, now, now, None).await?;
        }
        let draft = AuditDraft::success(
            match record.action.as_str() {
                "handoff" => "ai.handed_off",
                "resolve" => "ai.resolved",
                _ => "ai.replied",
            },
            "message",
            m.id.to_string(),
        )
        .with_details(
            json!({"conversation_id": conversation.id, "reply_message_id": record.reply_message_id,
                             "tokens": record.tokens, "details": record.details}),
        );
        audit::append(&mut *tx, &ai_actor(), &meta, draft, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Posts the answer (and resolves), or hands off with a note saying why.
    async fn carry_out(
        &self,
        access: &TenantAccess,
        conversation: &ConversationId,
        verdict: Verdict,
        record: &mut AiAnswer,
        details: &mut Value,
        meta: &RequestMeta,
    ) -> CoreResult<()> {
        match verdict {
            Verdict::Answer {
                text,
                citations,
                resolve,
                source,
            } => {
                let links: Vec<Value> = citations
                    .iter()
                    .map(|h| {
                        json!({"article_id": h.article_id, "title": h.title,
                                    "url": self.article_url(access, h), "confidence": h.confidence})
                    })
                    .collect();
                let mut body = text;
                if !links.is_empty() {
                    body.push_str("\n\nSources:");
                    for l in &links {
                        body.push_str(&format!(
                            "\n- {}: {}",
                            l["title"].as_str().unwrap_or_default(),
                            l["url"].as_str().unwrap_or_default()
                        ));
                    }
                }
                let reply = self
                    .write_reply(&access.ctx, conversation, body, false, &[], meta)
                    .await?;
                record.reply_message_id = Some(reply.id.clone());
                record.action = if resolve { "resolve" } else { "reply" }.into();
                details["source"] = json!(source);
                details["citations"] = Value::Array(links);
                if resolve {
                    self.update_conversation(
                        access,
                        conversation,
                        ConversationPatch {
                            status: Some(ConversationStatus::Resolved),
                            ..Default::default()
                        },
                        meta,
                    )
                    .await?;
                }
            }
            Verdict::Handoff { reason } => {
                self.write_reply(
                    &access.ctx,
                    conversation,
                    format!("AI answer handed this conversation to a person: {reason}."),
                    true,
                    &[],
                    meta,
                )
                .await?;
                self.hand_off(access, conversation, meta).await?;
                record.action = "handoff".into();
                details["reason"] = json!(reason);
            }
        }
        Ok(())
    }

    /// The public address of a cited article.
    fn article_url(&self, access: &TenantAccess, h: &KbHit) -> String {
        let portal_slug = h.portal_slug.as_str();
        format!(
            "{}/hc/{}/{}/{}/articles/{}",
            self.config().public_url.trim_end_matches('/'),
            access.tenant.slug,
            portal_slug,
            h.locale,
            h.slug
        )
    }

    /// Applies the gates, retrieves, and asks the model (or extracts).
    #[allow(clippy::too_many_arguments)]
    async fn decide(
        &self,
        access: &TenantAccess,
        settings: &AiSettings,
        key: Option<&str>,
        m: &Message,
        turns: usize,
        details: &mut Value,
        tokens: &mut i64,
    ) -> CoreResult<Verdict> {
        let handoff = |reason: String| Ok(Verdict::Handoff { reason });
        if i64::try_from(turns).unwrap_or(i64::MAX) >= settings.max_turns {
            return handoff(format!("the AI already answered {turns} times here"));
        }
        let intent = m.triage.as_ref().and_then(|t| t.intent.clone());
        let intent_confidence = m
            .triage
            .as_ref()
            .and_then(|t| t.intent_confidence)
            .unwrap_or(0.0);
        if intent.as_deref() == Some("oos") {
            return handoff("the message is out of scope for the intent model".into());
        }
        if !settings.intents.is_empty()
            && !intent
                .as_ref()
                .is_some_and(|i| settings.intents.contains(i))
        {
            return handoff(format!(
                "intent {} is not one the AI answers",
                intent.as_deref().unwrap_or("unknown")
            ));
        }
        if intent_confidence < settings.min_intent_confidence {
            return handoff(format!(
                "intent confidence {intent_confidence:.2} is below {:.2}",
                settings.min_intent_confidence
            ));
        }
        let Some(portal) = &settings.portal_id else {
            return handoff("no help centre is chosen".into());
        };
        let locale = match &settings.locale {
            Some(l) => l.clone(),
            None => {
                let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
                match tx.get_kb_portal(portal).await? {
                    Some(p) => p.default_locale,
                    None => return handoff("the help centre was deleted".into()),
                }
            }
        };
        let index = self.kb_index(&access.ctx).await?;
        let hits = self
            .kb_search_in(&index, &m.content, Some(portal), Some(&locale), PASSAGES)
            .await?;
        let best = hits.first().map_or(0.0, |h| f64::from(h.confidence));
        details["retrieval_confidence"] = json!(best);
        details["articles"] = hits
            .iter()
            .map(|h| json!({"article_id": h.article_id, "title": h.title, "score": h.score}))
            .collect();
        if hits.is_empty() || best < settings.min_retrieval_confidence {
            return handoff(format!(
                "retrieval confidence {best:.2} is below {:.2}",
                settings.min_retrieval_confidence
            ));
        }
        let Some(g) = &settings.generative else {
            let passages: Vec<_> = hits.iter().take(1).map(|h| &h.passage).collect();
            let extract = extract_answer(&m.content, &passages, EXTRACT_SENTENCES);
            if extract.text.trim().is_empty() {
                return handoff("no passage of the best article matches the question".into());
            }
            return Ok(Verdict::Answer {
                text: cap(&extract.text),
                citations: hits.into_iter().take(1).collect(),
                resolve: false,
                source: "extractive",
            });
        };
        details["model"] = json!(g.model);
        let month = month_of(self.now());
        let used = {
            let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
            tx.ai_usage(&month).await?.0
        };
        if used >= g.monthly_token_budget {
            return handoff(format!(
                "this month's token budget ({}) is spent",
                g.monthly_token_budget
            ));
        }
        let Ok(base_url) = url::Url::parse(&g.base_url) else {
            return handoff("the model's address is not a URL".into());
        };
        let mut passages = String::new();
        for (i, h) in hits.iter().enumerate() {
            passages.push_str(&format!(
                "[{}] {}{}\n{}\n\n",
                i + 1,
                h.title,
                h.heading
                    .as_ref()
                    .map(|x| format!(" — {x}"))
                    .unwrap_or_default(),
                h.passage.text
            ));
        }
        let system = format!(
            "You are the customer-support assistant of {}. Answer the customer's last message \
             using only the numbered help-centre passages below; never invent policies, prices or \
             steps. If the passages do not answer it, or the customer asks for a person, choose \
             handoff. Use resolve only when the answer fully settles the request. Always call the \
             `{DECISION_TOOL}` function; cite the passages you used by number.\n\nPassages:\n{passages}",
            access.tenant.name
        );
        let call = ChatCall {
            base_url: &base_url,
            model: &g.model,
            api_key: key,
            stream: g.stream,
            timeout: std::time::Duration::from_millis(g.timeout_ms),
            max_tokens: g.max_output_tokens,
            messages: vec![("system", system), ("user", m.content.clone())],
            tool_name: DECISION_TOOL,
            tool_description: "Give your decision and, unless handing off, the answer.",
            tool_parameters: decision_schema(),
        };
        // Roughly four characters a token, for endpoints that report no usage.
        let prompt_chars: usize = call.messages.iter().map(|(_, c)| c.chars().count()).sum();
        let result = self.chat_model().call_tool(call).await;
        let tool = match result {
            Ok(t) => t,
            Err(e) => {
                // A failed call still counts as a request (the endpoint may have charged for it).
                let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
                tx.add_ai_usage(&month, 0).await?;
                tx.commit().await?;
                return handoff(match e {
                    ChatError::Status { status, .. } => {
                        format!("the model endpoint answered {status}")
                    }
                    other => other.to_string(),
                });
            }
        };
        *tokens = if tool.tokens > 0 {
            tool.tokens
        } else {
            i64::try_from((prompt_chars + tool.arguments.chars().count()) / 4).unwrap_or(i64::MAX)
        };
        {
            let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
            tx.add_ai_usage(&month, *tokens).await?;
            tx.commit().await?;
        }
        let decision: Decision = match serde_json::from_str(&tool.arguments) {
            Ok(d) => d,
            Err(e) => return handoff(format!("the model's decision is malformed: {e}")),
        };
        let n = i64::try_from(hits.len()).unwrap_or(0);
        if decision.citations.iter().any(|c| !(1..=n).contains(c)) {
            return handoff("the model cited a passage it was not given".into());
        }
        let text = decision.text.trim().to_owned();
        match decision.action.as_str() {
            "handoff" => handoff("the model chose to hand off".into()),
            "reply" | "resolve" if text.is_empty() || text.chars().count() > MAX_ANSWER_CHARS => {
                handoff("the model's answer is empty or too long".into())
            }
            "reply" | "resolve" => {
                let mut cited: Vec<usize> = decision
                    .citations
                    .iter()
                    .filter_map(|c| usize::try_from(*c - 1).ok())
                    .collect();
                cited.sort_unstable();
                cited.dedup();
                let citations = cited
                    .into_iter()
                    .filter_map(|i| hits.get(i).cloned())
                    .collect();
                Ok(Verdict::Answer {
                    text,
                    citations,
                    resolve: decision.action == "resolve",
                    source: "generative",
                })
            }
            other => handoff(format!("the model chose an unknown action {other:?}")),
        }
    }
}

/// At most [`MAX_ANSWER_CHARS`], cut at a line or word with an ellipsis.
fn cap(text: &str) -> String {
    if text.chars().count() <= MAX_ANSWER_CHARS {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX_ANSWER_CHARS).collect();
    let at = cut
        .rfind('\n')
        .or_else(|| cut.rfind(' '))
        .unwrap_or(cut.len());
    format!("{}…", cut[..at].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_answers_are_cut_at_a_word() {
        let long = "word ".repeat(2_000);
        let c = cap(&long);
        assert!(c.chars().count() <= MAX_ANSWER_CHARS + 1);
        assert!(c.ends_with("word…"));
        assert_eq!(cap("short"), "short");
        let wide = "é".repeat(5_000);
        assert!(cap(&wide).chars().count() <= MAX_ANSWER_CHARS + 1);
    }

    #[test]
    fn decisions_parse_strictly() {
        let ok: Decision =
            serde_json::from_str(r#"{"action":"reply","text":"Hi","citations":[1]}"#).unwrap();
        assert_eq!(ok.action, "reply");
        assert!(serde_json::from_str::<Decision>(r#"{"action":"reply","text":"Hi"}"#).is_err());
        assert!(serde_json::from_str::<Decision>(
            r#"{"action":"reply","text":"Hi","citations":[],"extra":1}"#
        )
        .is_err());
    }
}
