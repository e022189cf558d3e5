//! The OpenAPI 3.1 document of the API, generated from the handler and type annotations
//! (utoipa), served at `/api/openapi.json` and committed as `docs/platform-openapi.json`
//! (`cargo xtask docs --check` fails when it drifts).

use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

use crate::api;
use crate::error::{ErrorBody, ErrorDetail};
use crate::runtime::api as rt;
use crate::store::{ApiKey, Member, Role, Team, User};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "mcp-platform",
        description = "MCP Runtime platform API: accounts, sign-in, API keys, teams. Every error is \
                       `{\"error\": {\"code\", \"message\", \"details\"?}}` (codes in docs/platform.md). \
                       Bearer credentials: a platform access token (EdDSA JWT) or an API key (`mcpk_…`)."
    ),
    paths(
        api::health, api::ready, api::jwks, api::openapi,
        api::login, api::refresh, api::logout,
        crate::oidc::authorize, crate::oidc::callback, crate::oidc::exchange,
        api::me,
        api::list_users, api::create_user,
        api::list_keys, api::create_key, api::revoke_key,
        api::list_teams, api::create_team, api::get_team, api::rename_team, api::delete_team,
        api::list_members, api::put_member, api::remove_member,
        rt::list_servers, rt::publish_server, rt::get_server, rt::delete_server, rt::server_policy,
        rt::list_grants, rt::apply_grant, rt::get_grant, rt::patch_grant, rt::delete_grant,
        rt::enable_grant, rt::disable_grant, rt::revoke_grant_sessions,
        rt::list_sessions, rt::apply_session, rt::get_session, rt::patch_session, rt::delete_session,
        rt::revoke_session, rt::unrevoke_session,
        rt::adapter_session, rt::refresh_session_token,
        rt::list_agents, rt::register_agent, rt::get_agent, rt::rename_agent,
        rt::deactivate_agent, rt::reactivate_agent,
        crate::registry_push::push, crate::registry_push::info,
        // insight: analytics, replay, registry, catalog
        crate::analytics::events, crate::analytics::stats, crate::analytics::sources,
        crate::analytics::event_types, crate::analytics::usage, crate::analytics::latency,
        crate::analytics::deny_reasons,
        crate::analytics::team_events, crate::analytics::team_stats, crate::analytics::team_sources,
        crate::analytics::team_event_types, crate::analytics::team_usage, crate::analytics::team_latency,
        crate::analytics::team_deny_reasons,
        crate::replay::replay_route,
        crate::registry::list, crate::registry::versions, crate::registry::version,
        crate::catalog::servers, crate::catalog::tools, crate::catalog::connect,
        crate::dashboard::summary, crate::dashboard::components, crate::dashboard::audit,
        crate::registry_auth::list_credentials, crate::registry_auth::create_credential,
        crate::registry_auth::revoke_credential, crate::registry_auth::authz,
    ),
    components(schemas(ErrorBody, ErrorDetail, User, Team, Member, ApiKey, Role, crate::runtime::agents::Agent)),
    modifiers(&Bearer),
)]
struct Doc;

struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.description = Some("a platform access token (JWT) or an API key (mcpk_…)".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
        let mut basic = Http::new(HttpAuthScheme::Basic);
        basic.description = Some(
            "registry forward-auth only: any username, the password a registry credential (mcpr_…) or an API key"
                .into(),
        );
        components.add_security_scheme("registry_basic", SecurityScheme::Http(basic));
    }
}

/// The document, pretty-printed JSON with a trailing newline (stable across runs).
pub fn document() -> String {
    let mut doc = Doc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc.info.license = None;
    doc.info.contact = None;
    let mut text = doc.to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    /// Every route of the router is documented with its method, and nothing else is.
    #[test]
    fn the_document_covers_exactly_the_router() {
        let doc: serde_json::Value = serde_json::from_str(&super::document()).expect("json");
        assert_eq!(doc["openapi"], "3.1.0");
        let (_, routes) = crate::api::routes();
        let mut documented = 0;
        for (path, ops) in doc["paths"].as_object().expect("paths") {
            for method in ops.as_object().expect("ops").keys() {
                documented += 1;
                assert!(
                    routes.iter().any(|r| r.path == path && r.method.as_str().eq_ignore_ascii_case(method)),
                    "{method} {path} is documented but not routed"
                );
            }
        }
        assert_eq!(documented, routes.len(), "every route is documented");
    }
}
