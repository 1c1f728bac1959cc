//! `serve --demo`: a tenant with sample people and keys, so a first-time user can try the API at
//! once.

use switchboard_core::apikeys::NewApiKey;
use switchboard_core::audit::RequestMeta;
use switchboard_core::members::NewMember;
use switchboard_core::tenants::NewTenant;
use switchboard_core::{Core, CoreError};
use switchboard_types::{Channel, Plan, TenantRole};

/// What the demo created; the secrets are printed once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Demo {
    pub tenant_slug: String,
    pub tenant_id: String,
    pub owner_email: String,
    pub owner_password: Option<String>,
    pub api_key: String,
    pub agent_api_key: String,
    /// A web-widget inbox, to try the chat from its preview page.
    pub widget_inbox_id: String,
}

pub const DEMO_SLUG: &str = "demo";

/// Provisions the demo tenant unless it exists (then `None`: its secrets were shown before).
pub async fn provision(core: &Core) -> Result<Option<Demo>, CoreError> {
    match core.find_tenant(DEMO_SLUG).await {
        Ok(_) => return Ok(None),
        Err(CoreError::NotFound) => {}
        Err(e) => return Err(e),
    }
    let meta = RequestMeta {
        request_id: Some("demo".into()),
        ..Default::default()
    };
    let done = core
        .provision_tenant_as_system(
            NewTenant {
                slug: DEMO_SLUG.into(),
                name: "Demo Company".into(),
                plan: Plan::Professional,
                region: None,
                partner_id: None,
                admin_email: "owner@demo.switchboard.local".into(),
                admin_name: Some("Olivia Owner".into()),
                admin_password: None,
            },
            &meta,
        )
        .await?;
    let access = core.operator_access(&done.tenant).await?;
    for (email, name, role) in [
        (
            "ana.agent@demo.switchboard.local",
            "Ana Agent",
            TenantRole::Agent,
        ),
        (
            "sam.support@demo.switchboard.local",
            "Sam Support",
            TenantRole::Agent,
        ),
        (
            "vera.viewer@demo.switchboard.local",
            "Vera Viewer",
            TenantRole::Viewer,
        ),
        (
            "aud.auditor@demo.switchboard.local",
            "Audrey Auditor",
            TenantRole::Auditor,
        ),
    ] {
        core.add_member(
            &access,
            NewMember {
                email: email.into(),
                display_name: Some(name.into()),
                password: None,
                role,
            },
            &meta,
        )
        .await?;
    }
    let (_, agent_key) = core
        .create_api_key(
            &access,
            NewApiKey {
                name: "Demo agent integration".into(),
                scopes: vec!["agent".into()],
                expires_at: None,
            },
            &meta,
        )
        .await?;
    let widget = core
        .create_inbox(&access, "Website", Channel::Widget, &meta)
        .await?;
    Ok(Some(Demo {
        widget_inbox_id: widget.id.to_string(),
        tenant_slug: done.tenant.slug,
        tenant_id: done.tenant.id.to_string(),
        owner_email: done.admin_email,
        owner_password: done.admin_password,
        api_key: done.api_key,
        agent_api_key: agent_key,
    }))
}
