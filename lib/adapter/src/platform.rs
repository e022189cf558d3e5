//! The platform as the adapters' [`SessionIssuer`]: `issue_adapter_session` and
//! `refresh_adapter_token` of `mcp-platform-client`, with the caller's login.

use mcp_platform_client::{AdapterSession, AdapterSessionRequest, Client};

use crate::identity::{Identity, IssueFuture, SessionIssuer};

/// Issues the adapter's session for one agent on one server, and refreshes its token.
#[derive(Debug)]
pub struct PlatformIssuer {
    client: Client,
    request: AdapterSessionRequest,
}

impl PlatformIssuer {
    /// An issuer asking `client`'s platform for `request`.
    pub fn new(client: Client, request: AdapterSessionRequest) -> PlatformIssuer {
        PlatformIssuer { client, request }
    }
}

/// The identity an answer of the platform carries.
pub fn identity_of(s: AdapterSession) -> Result<Identity, String> {
    if s.token.is_empty() {
        return Err("the platform answered without a session token".into());
    }
    let expires_at = s.token_expires_at.parse::<jiff::Timestamp>().map_err(|e| {
        format!("the platform's tokenExpiresAt {:?} is not a timestamp: {e}", s.token_expires_at)
    })?;
    Ok(Identity {
        token: s.token,
        expires_at: Some(expires_at),
        session: s.name,
        team: s.team,
        audience: Some(s.audience).filter(|a| !a.is_empty()),
    })
}

impl SessionIssuer for PlatformIssuer {
    fn issue(&self) -> IssueFuture<'_> {
        Box::pin(async move {
            let issued = self
                .client
                .issue_adapter_session(&self.request)
                .await
                .map_err(|e| format!("cannot issue the adapter session: {e}"))?;
            identity_of(issued)
        })
    }

    fn refresh<'a>(&'a self, current: &'a Identity) -> IssueFuture<'a> {
        Box::pin(async move {
            let fresh = self
                .client
                .refresh_adapter_token(&current.team, &current.session)
                .await
                .map_err(|e| format!("cannot refresh the session token of {}: {e}", current.session))?;
            identity_of(fresh)
        })
    }
}
