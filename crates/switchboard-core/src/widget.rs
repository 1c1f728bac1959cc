//! The web-widget channel: visitors on a tenant's website talk to an inbox through a public API
//! keyed by the inbox's public identifier, in sessions of their own.
//!
//! Identity verification follows Chatwoot's scheme so existing integrations carry over: the
//! tenant's backend computes `identifier_hash = hex(HMAC-SHA256(inbox secret, identifier))` and the
//! page passes both to the widget. A verified visitor is the contact with that external id and sees
//! their conversations on any device; an unverified one is a fresh anonymous contact that sees
//! only its own session's conversations. Per inbox, verification is optional or required.
//!
//! The inbox secret is derived from the server secret, the tenant, the inbox and a version that
//! rotation bumps: it is never stored.

use crate::audit::{self, AuditDraft, RequestMeta};
use crate::conversations::Thread;
use crate::error::{CoreError, CoreResult};
use crate::ratelimit::{Decision, Rate};
use crate::{changes, events, secrets, Core, TenantAccess};
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use switchboard_store::model::{
    Contact, ContactFilter, Conversation, ConversationFilter, Inbox, Message, PageRequest,
    WidgetSession,
};
use switchboard_store::{Access, TenantCtx, TenantTx};
use switchboard_types::{
    Actor, ActorKind, Channel, ContactId, ConversationId, InboxId, TenantId, TenantStatus,
    WidgetSessionId,
};

/// How long a widget session lasts.
pub const SESSION_TTL_MS: i64 = 30 * 24 * 3600 * 1000;
/// Longest identifier a tenant may give a visitor.
pub const MAX_IDENTIFIER_LEN: usize = 255;
/// The widget's anonymous-abuse limits (per server process).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WidgetLimits {
    /// Sessions (and unauthenticated sockets) one client address may start.
    pub sessions_per_ip: Rate,
    /// Messages and uploads one client address may send across sessions.
    pub messages_per_ip: Rate,
    /// Messages and uploads one session may send.
    pub messages_per_session: Rate,
}

impl Default for WidgetLimits {
    fn default() -> Self {
        Self {
            sessions_per_ip: Rate {
                per_second: 10.0 / 60.0,
                burst: 20.0,
            },
            messages_per_ip: Rate {
                per_second: 1.0,
                burst: 60.0,
            },
            messages_per_session: Rate {
                per_second: 0.5,
                burst: 20.0,
            },
        }
    }
}

const TOKEN_LEN: usize = 20;
const TENANT_ULID_LEN: usize = 26;

/// Whether visitors must prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityMode {
    /// Anonymous visitors may chat; a valid identifier hash makes the session verified.
    Optional,
    /// Every session needs an identifier and its hash.
    Required,
}

impl IdentityMode {
    fn of(inbox: &Inbox) -> Self {
        match inbox.config.get("identity").and_then(Value::as_str) {
            Some("required") => Self::Required,
            _ => Self::Optional,
        }
    }
}

/// How a widget looks and greets visitors (its inbox's administrators choose).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetAppearance {
    /// The heading of the chat window (the inbox's name when empty).
    #[serde(default)]
    pub title: String,
    /// The first thing a visitor reads, before anyone writes.
    #[serde(default)]
    pub greeting: String,
    /// The brand colour, `#rrggbb`; text on it is black or white, whichever contrasts more.
    #[serde(default = "default_colour")]
    pub colour: String,
    /// An http(s) image shown beside the team's replies.
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// Ask anonymous visitors for their name and email before their first message.
    #[serde(default)]
    pub prechat: bool,
}

fn default_colour() -> String {
    "#1f5fbf".to_owned()
}

impl Default for WidgetAppearance {
    fn default() -> Self {
        Self {
            title: String::new(),
            greeting: String::new(),
            colour: default_colour(),
            avatar_url: None,
            prechat: false,
        }
    }
}

impl WidgetAppearance {
    /// What an inbox stores (the defaults when it stores nothing readable).
    pub fn of(inbox: &Inbox) -> Self {
        inbox
            .config
            .get("appearance")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default()
    }

    /// Every field within bounds: a colour the widget can use, text of sane length, an avatar
    /// URL that is plain http(s) without credentials.
    pub fn check(&self) -> CoreResult<()> {
        let mut errors = Vec::new();
        let hex = self.colour.strip_prefix('#').unwrap_or_default();
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            errors.push(crate::FieldError::new(
                "appearance.colour",
                "a colour as #rrggbb",
            ));
        }
        if self.title.chars().count() > 80 || self.title.contains(char::is_control) {
            errors.push(crate::FieldError::new(
                "appearance.title",
                "at most 80 characters, no control characters",
            ));
        }
        if self.greeting.chars().count() > 500 || self.greeting.contains('\0') {
            errors.push(crate::FieldError::new(
                "appearance.greeting",
                "at most 500 characters",
            ));
        }
        if let Some(u) = &self.avatar_url {
            let ok = u.len() <= 2000
                && url::Url::parse(u).is_ok_and(|p| {
                    matches!(p.scheme(), "http" | "https")
                        && p.username().is_empty()
                        && p.password().is_none()
                        && p.host().is_some()
                });
            if !ok {
                errors.push(crate::FieldError::new(
                    "appearance.avatar_url",
                    "an http(s) URL of at most 2000 characters, without credentials",
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Validation(errors))
        }
    }
}

/// What the widget script needs before a visitor writes: no secrets.
#[derive(Debug, Clone)]
pub struct WidgetPublicConfig {
    pub inbox_name: String,
    pub identity: IdentityMode,
    pub appearance: WidgetAppearance,
}

/// A widget inbox's settings as its administrators see them.
#[derive(Debug, Clone)]
pub struct WidgetSettings {
    pub inbox: Inbox,
    /// What the embedding page passes to the widget.
    pub public_id: String,
    pub identity: IdentityMode,
    /// The key the tenant's backend signs identifiers with.
    pub hmac_secret: String,
    pub appearance: WidgetAppearance,
}

/// What a visitor sends to start a session.
#[derive(Debug, Clone, Default)]
pub struct SessionRequest {
    pub identifier: Option<String>,
    pub identifier_hash: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// A visitor authenticated by their session token.
#[derive(Debug, Clone)]
pub struct WidgetCaller {
    /// The tenant, acted on by the contact.
    pub ctx: TenantCtx,
    pub inbox: Inbox,
    pub session: WidgetSession,
}

/// The prefix of a public inbox identifier per channel (`None`: the channel has none).
pub fn public_prefix(channel: Channel) -> Option<&'static str> {
    match channel {
        Channel::Widget => Some("wgt_"),
        Channel::Sms => Some("sms_"),
        Channel::Api | Channel::Email => None,
    }
}

/// The public identifier of an inbox (widget, SMS webhook): the channel, the tenant and the
/// inbox's public token, so a request finds its tenant without a cross-tenant look-up.
pub fn public_id(channel: Channel, tenant: &TenantId, token: &str) -> String {
    let ulid = tenant
        .as_str()
        .strip_prefix("ten_")
        .unwrap_or(tenant.as_str());
    format!(
        "{}{ulid}{token}",
        public_prefix(channel).unwrap_or_default()
    )
}

/// Splits a public identifier of `channel` into the tenant and the inbox token; `None` for
/// anything else.
pub fn parse_public_id(channel: Channel, s: &str) -> Option<(TenantId, String)> {
    let body = s.strip_prefix(public_prefix(channel)?)?;
    if body.len() != TENANT_ULID_LEN + TOKEN_LEN || !body.is_ascii() {
        return None;
    }
    let (ulid, token) = body.split_at(TENANT_ULID_LEN);
    let tenant: TenantId = format!("ten_{ulid}").parse().ok()?;
    if !token
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return None;
    }
    Some((tenant, token.to_owned()))
}

/// A random public token (the per-inbox half of a public id).
pub(crate) fn new_public_token() -> String {
    let bytes = secrets::random_bytes::<13>();
    let mut t = data_encoding::BASE32_NOPAD
        .encode(&bytes)
        .to_ascii_lowercase();
    t.truncate(TOKEN_LEN);
    t
}

/// `hex(HMAC-SHA256(key, message))`.
pub fn hmac_hex(key: &[u8], message: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The channel settings a new widget inbox starts with.
pub(crate) fn new_widget_inbox_fields() -> (Option<String>, Map<String, Value>) {
    let mut config = Map::new();
    config.insert("identity".into(), json!(IdentityMode::Optional));
    (Some(new_public_token()), config)
}

fn limit(core: &Core, key: String, rate: Rate) -> CoreResult<()> {
    match core.limiter().acquire(&key, rate, 1.0) {
        Decision::Allowed { .. } => Ok(()),
        Decision::Limited { retry_after_ms } => Err(CoreError::RateLimited { retry_after_ms }),
    }
}

/// The per-address and per-session limits on what a visitor sends (messages and uploads).
pub(crate) fn limit_messages(core: &Core, ip: &str, caller: &WidgetCaller) -> CoreResult<()> {
    let limits = core.config().widget_limits;
    limit(core, format!("widget-message:{ip}"), limits.messages_per_ip)?;
    limit(
        core,
        format!("widget-message-session:{}", caller.session.id),
        limits.messages_per_session,
    )
}

fn session_json(s: &WidgetSession) -> Value {
    json!({"session_id": s.id, "inbox_id": s.inbox_id, "contact_id": s.contact_id, "verified": s.verified})
}

impl Core {
    /// The identity-verification key of a widget inbox (what the tenant's backend signs with).
    fn widget_secret(&self, tenant: &TenantId, inbox: &Inbox) -> String {
        let message = format!(
            "widget-identity/v1|{tenant}|{}|{}",
            inbox.id, inbox.secret_version
        );
        hmac_hex(&self.config().widget_key, &message)
    }

    /// A widget inbox's settings, with its secret (owner, admin).
    pub async fn widget_settings(
        &self,
        access: &TenantAccess,
        id: &InboxId,
    ) -> CoreResult<WidgetSettings> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        let mut tx = self.store().tenant(&access.ctx, Access::Read).await?;
        let inbox = tx.get_inbox(id).await?.ok_or(CoreError::NotFound)?;
        self.settings_of(access.ctx.tenant(), inbox)
    }

    fn settings_of(&self, tenant: &TenantId, inbox: Inbox) -> CoreResult<WidgetSettings> {
        let Some(token) = inbox
            .public_token
            .clone()
            .filter(|_| inbox.channel == Channel::Widget)
        else {
            return Err(CoreError::BadRequest(
                "this inbox is not a web widget".into(),
            ));
        };
        Ok(WidgetSettings {
            public_id: public_id(Channel::Widget, tenant, &token),
            identity: IdentityMode::of(&inbox),
            hmac_secret: self.widget_secret(tenant, &inbox),
            appearance: WidgetAppearance::of(&inbox),
            inbox,
        })
    }

    /// Changes whether identity verification is required, and/or rotates the secret (the old
    /// one stops working at once; existing sessions stay valid).
    pub async fn update_widget(
        &self,
        access: &TenantAccess,
        id: &InboxId,
        identity: Option<IdentityMode>,
        appearance: Option<WidgetAppearance>,
        rotate_secret: bool,
        meta: &RequestMeta,
    ) -> CoreResult<WidgetSettings> {
        if !access.role.can_manage_settings() {
            return Err(CoreError::Forbidden);
        }
        if let Some(a) = &appearance {
            a.check()?;
        }
        let now = self.now();
        let mut tx = self.store().tenant(&access.ctx, Access::Write).await?;
        let mut inbox = tx.get_inbox(id).await?.ok_or(CoreError::NotFound)?;
        if inbox.channel != Channel::Widget {
            return Err(CoreError::BadRequest(
                "this inbox is not a web widget".into(),
            ));
        }
        if let Some(mode) = identity {
            inbox.config.insert("identity".into(), json!(mode));
        }
        if let Some(a) = &appearance {
            inbox.config.insert("appearance".into(), json!(a));
        }
        if rotate_secret {
            inbox.secret_version += 1;
        }
        inbox.updated_at = now;
        tx.update_inbox_channel(&inbox).await?;
        changes::record(
            &mut *tx,
            meta,
            "inbox.updated",
            "inbox",
            inbox.id.to_string(),
            json!({"inbox_id": inbox.id, "identity": IdentityMode::of(&inbox), "secret_rotated": rotate_secret,
                   "appearance_changed": appearance.is_some()}),
            now,
        )
        .await?;
        tx.commit().await?;
        self.settings_of(access.ctx.tenant(), inbox)
    }

    /// What the widget script shows before a visitor writes (public: no secret, nothing about
    /// anyone). Unknown, malformed and deleted ids answer `NotFound` alike.
    pub async fn widget_public_config(&self, public_id: &str) -> CoreResult<WidgetPublicConfig> {
        let (_, _, inbox) = self.open_widget(public_id, Actor::system("widget")).await?;
        Ok(WidgetPublicConfig {
            inbox_name: inbox.name.clone(),
            identity: IdentityMode::of(&inbox),
            appearance: WidgetAppearance::of(&inbox),
        })
    }

    async fn open_widget(
        &self,
        public: &str,
        actor: Actor,
    ) -> CoreResult<(TenantCtx, Box<dyn TenantTx>, Inbox)> {
        self.open_public_inbox(Channel::Widget, public, actor).await
    }

    /// Resolves a public identifier to its tenant (acted on by `actor`) and inbox of `channel`,
    /// in a read transaction: unauthenticated callers never take the write path before they
    /// prove who they are. Unknown, malformed, deleted and other channels' all answer 404 alike.
    pub(crate) async fn open_public_inbox(
        &self,
        channel: Channel,
        public: &str,
        actor: Actor,
    ) -> CoreResult<(TenantCtx, Box<dyn TenantTx>, Inbox)> {
        let (tenant_id, token) = parse_public_id(channel, public).ok_or(CoreError::NotFound)?;
        let tenant = {
            let mut tx = self.store().control(Access::Read).await?;
            tx.get_tenant(&tenant_id).await?
        }
        .ok_or(CoreError::NotFound)?;
        match tenant.status {
            TenantStatus::Active => {}
            TenantStatus::Suspended => return Err(CoreError::TenantSuspended),
            TenantStatus::Deleted => return Err(CoreError::NotFound),
        }
        // The public identifier named this tenant; what it may reach is bounded by the inbox
        // token and, after that, the caller's own credential (a visitor's session, a provider's
        // signature).
        #[allow(clippy::disallowed_methods)] // public channel authentication is an auth layer
        let ctx = TenantCtx::assume(tenant.id.clone(), actor, tenant.region.clone());
        let mut tx = self.store().tenant(&ctx, Access::Read).await?;
        let inbox = tx
            .get_inbox_by_public_token(&token)
            .await?
            .filter(|i| i.channel == channel)
            .ok_or(CoreError::NotFound)?;
        Ok((ctx, tx, inbox))
    }

    /// Starts a visitor session: verified when `identifier` comes with its correct hash, otherwise
    /// anonymous (refused when the inbox requires verification). A wrong hash is refused and
    /// changes nothing. Returns the session token (shown once) and the session.
    pub async fn start_widget_session(
        &self,
        public: &str,
        req: SessionRequest,
        meta: &RequestMeta,
    ) -> CoreResult<(String, WidgetSession, Contact)> {
        let ip = meta.ip.clone().unwrap_or_default();
        limit(
            self,
            format!("widget-session:{ip}"),
            self.config().widget_limits.sessions_per_ip,
        )?;
        let identifier = req
            .identifier
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        if identifier.is_some_and(|i| i.len() > MAX_IDENTIFIER_LEN || i.contains('\0')) {
            return Err(CoreError::field("identifier", "at most 255 characters"));
        }
        let name = req.name.as_deref().map(str::trim).unwrap_or_default();
        if name.len() > 200 || name.contains('\0') {
            return Err(CoreError::field("name", "at most 200 characters"));
        }
        let (ctx, tx, inbox) = self.open_widget(public, Actor::system("widget")).await?;
        let verified = match (identifier, req.identifier_hash.as_deref()) {
            (Some(id), Some(hash)) => {
                let expected = self.widget_secret(ctx.tenant(), &inbox);
                let want = hmac_hex(expected.as_bytes(), id);
                if !secrets::constant_time_eq(&want, &hash.to_ascii_lowercase()) {
                    tracing::info!(inbox = %inbox.id, "widget session refused: identifier hash does not match");
                    return Err(CoreError::Unauthenticated);
                }
                true
            }
            (Some(_), None) | (None, Some(_)) => return Err(CoreError::Unauthenticated),
            (None, None) if IdentityMode::of(&inbox) == IdentityMode::Required => {
                return Err(CoreError::Unauthenticated)
            }
            (None, None) => false,
        };
        drop(tx);
        let mut tx = self.store().tenant(&ctx, Access::Write).await?;
        let now = self.now();
        let existing = match identifier.filter(|_| verified) {
            Some(id) => tx
                .list_contacts(&ContactFilter {
                    external_id: Some(id.to_owned()),
                    page: PageRequest {
                        after: None,
                        limit: 1,
                    },
                    ..Default::default()
                })
                .await?
                .into_iter()
                .next(),
            None => None,
        };
        let (contact, created) = match existing {
            Some(c) => (c, false),
            None => {
                let mut c = Contact {
                    id: ContactId::generate(),
                    name: name.to_owned(),
                    email: None,
                    phone: None,
                    external_id: identifier.filter(|_| verified).map(str::to_owned),
                    company_id: None,
                    custom_attributes: Map::new(),
                    created_at: now,
                    updated_at: now,
                };
                // An email is taken only from a verified visitor, and only when no other
                // contact has it: an anonymous claim never attaches to someone's history.
                if verified {
                    let mut bad = Vec::new();
                    let email = req
                        .email
                        .as_deref()
                        .map(|e| crate::validate::email("email", e, &mut bad))
                        .filter(|_| bad.is_empty());
                    if let Some(email) = email {
                        let taken = !tx
                            .list_contacts(&ContactFilter {
                                email: Some(email.clone()),
                                ..Default::default()
                            })
                            .await?
                            .is_empty();
                        if !taken {
                            c.email = Some(email);
                        }
                    }
                }
                if !tx.insert_contact_if_absent(&c).await? {
                    return Err(CoreError::Conflict("a contact with this identifier"));
                }
                (c, true)
            }
        };
        let actor = Actor {
            kind: ActorKind::Contact,
            id: contact.id.to_string(),
        };
        let token = secrets::random_token();
        let session = WidgetSession {
            id: WidgetSessionId::generate(),
            inbox_id: inbox.id.clone(),
            contact_id: contact.id.clone(),
            token_hash: secrets::token_hash(&token),
            verified,
            created_at: now,
            expires_at: now + SESSION_TTL_MS,
        };
        tx.insert_widget_session(&session).await?;
        if created {
            events::emit_as(&mut *tx, &actor, "contact.created", json!({"contact_id": contact.id, "name": contact.name,
                "email": contact.email, "phone": contact.phone, "external_id": contact.external_id}), now).await?;
            let draft = AuditDraft::success("contact.created", "contact", contact.id.to_string())
                .with_details(json!({"via": "widget"}));
            audit::append(&mut *tx, &actor, meta, draft, now).await?;
        }
        let draft = AuditDraft::success(
            "widget_session.started",
            "widget_session",
            session.id.to_string(),
        )
        .with_details(session_json(&session));
        audit::append(&mut *tx, &actor, meta, draft, now).await?;
        tx.commit().await?;
        Ok((token, session, contact))
    }

    /// Whether `public` names a widget, for a socket that will authenticate in its first frame;
    /// limits how many such sockets one address opens.
    pub async fn check_widget(&self, public: &str, meta: &RequestMeta) -> CoreResult<()> {
        let ip = meta.ip.clone().unwrap_or_default();
        limit(
            self,
            format!("widget-socket:{ip}"),
            self.config().widget_limits.sessions_per_ip,
        )?;
        self.open_widget(public, Actor::system("widget")).await?;
        Ok(())
    }

    /// The visitor behind a session token on this widget; 401 for an unknown, expired or
    /// another inbox's session.
    pub async fn widget_caller(&self, public: &str, token: &str) -> CoreResult<WidgetCaller> {
        let (ctx, mut tx, inbox) = self.open_widget(public, Actor::system("widget")).await?;
        let session = tx
            .find_widget_session(&secrets::token_hash(token))
            .await?
            .filter(|s| s.inbox_id == inbox.id && s.expires_at > self.now())
            .ok_or(CoreError::Unauthenticated)?;
        let actor = Actor {
            kind: ActorKind::Contact,
            id: session.contact_id.to_string(),
        };
        Ok(WidgetCaller {
            ctx: ctx.with_actor(actor),
            inbox,
            session,
        })
    }

    /// The visitor's conversations in this inbox, newest first.
    pub async fn widget_conversations(
        &self,
        caller: &WidgetCaller,
    ) -> CoreResult<Vec<Conversation>> {
        let mut tx = self.store().tenant(&caller.ctx, Access::Read).await?;
        let mut list = tx
            .list_conversations(&ConversationFilter {
                contact_id: Some(caller.session.contact_id.clone()),
                inbox_id: Some(caller.inbox.id.clone()),
                page: PageRequest {
                    after: None,
                    limit: 100,
                },
                ..Default::default()
            })
            .await?;
        list.sort_by_key(|c| std::cmp::Reverse(c.last_activity_at));
        Ok(list)
    }

    /// A visitor's message: into `conversation` (theirs) or, when `None`, a new conversation.
    pub async fn widget_send(
        &self,
        caller: &WidgetCaller,
        conversation: Option<ConversationId>,
        content: String,
        attachments: Vec<switchboard_types::AttachmentId>,
        meta: &RequestMeta,
    ) -> CoreResult<(Conversation, Message, bool)> {
        let ip = meta.ip.clone().unwrap_or_default();
        limit_messages(self, &ip, caller)?;
        crate::conversations::check_message(&content, &attachments)?;
        let triaged = self.triage_inbound(&caller.ctx, content).await?;
        let mut tx = self.store().tenant(&caller.ctx, Access::Write).await?;
        let inbox = tx
            .get_inbox(&caller.inbox.id)
            .await?
            .ok_or(CoreError::NotFound)?;
        let thread = conversation.map_or(Thread::New, Thread::Existing);
        let done = self
            .deliver_inbound(
                &mut *tx,
                &inbox,
                &caller.session.contact_id,
                thread,
                crate::conversations::Incoming {
                    content: triaged.content,
                    attachments,
                    triage: triaged.triage,
                    ..Default::default()
                },
                meta,
            )
            .await?;
        tx.commit().await?;
        Ok(done)
    }

    /// A page of the visitor's conversation, oldest first, without private notes.
    pub async fn widget_messages(
        &self,
        caller: &WidgetCaller,
        conversation: &ConversationId,
        page: &PageRequest,
    ) -> CoreResult<Vec<Message>> {
        let mut tx = self.store().tenant(&caller.ctx, Access::Read).await?;
        match tx.get_conversation(conversation).await? {
            Some(c)
                if c.contact_id == caller.session.contact_id && c.inbox_id == caller.inbox.id => {}
            _ => return Err(CoreError::NotFound),
        }
        Ok(tx.list_messages(conversation, page, false).await?)
    }

    /// Whether a conversation is the visitor's (for their real-time socket).
    pub async fn widget_owns(
        &self,
        caller: &WidgetCaller,
        conversation: &ConversationId,
    ) -> CoreResult<bool> {
        let mut tx = self.store().tenant(&caller.ctx, Access::Read).await?;
        Ok(tx.get_conversation(conversation).await?.is_some_and(|c| {
            c.contact_id == caller.session.contact_id && c.inbox_id == caller.inbox.id
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_ids_round_trip_and_reject_anything_else() {
        let tenant = TenantId::generate();
        let token = new_public_token();
        assert_eq!(token.len(), TOKEN_LEN);
        let id = public_id(Channel::Widget, &tenant, &token);
        assert_eq!(
            parse_public_id(Channel::Widget, &id),
            Some((tenant.clone(), token.clone()))
        );
        assert_eq!(parse_public_id(Channel::Sms, &id), None);
        assert_eq!(parse_public_id(Channel::Api, &id), None);
        for bad in [
            String::new(),
            "wgt_".into(),
            id.replace("wgt_", "xyz_"),
            format!("{id}x"),
            id[..id.len() - 1].to_owned(),
            format!("wgt_{}{}", "!".repeat(26), token),
            format!("{}../../etc/passwd", &id[..id.len() - 16]),
            id.to_ascii_uppercase(),
        ] {
            assert_eq!(parse_public_id(Channel::Widget, &bad), None, "{bad}");
        }
    }

    #[test]
    fn identifier_hash_is_chatwoots_hmac_sha256_hex() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            hmac_hex(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
