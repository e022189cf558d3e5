//! The request pipeline: every request on the MCP endpoint flows one way through named phases,
//! each a module with a plain function over one [`Exchange`]:
//!
//! guard → inspect → identify → authorize → forward → respond → audit
//!
//! - [`guard`]: Host and Origin, the HTTP method, and "closed before ready" (no active policy:
//!   503 `policy_unavailable`, nothing forwarded). The policy snapshot is taken here, once.
//! - [`inspect`]: reads the body (bounded in size and time) and parses it once with
//!   `mcp-protocol`; what is forwarded is the canonical re-serialization of what was judged.
//! - [`identify`]: every identity mode (platform session tokens, OAuth, trusted headers); in
//!   enforcing mode a request without a verified identity stops here (401 `missing_identity`).
//! - [`authorize`]: every message (batches element by element, through the same function) is
//!   judged by the policy according to its method class; MCP sessions and tasks are checked
//!   against their owners.
//! - [`forward`]: headers rebuilt (identity-shaped headers stripped, the gateway's own set,
//!   no token passthrough), the canonical body sent to the app under the upstream limits.
//! - [`respond`]: discovery filtered (failing closed), ownership of new sessions and tasks
//!   recorded, gateway-made batch errors merged.
//! - [`audit`]: the exchange's records are emitted once, when the response body ends.
//!
//! Every refusal is a [`GatewayError`]; the metrics take the decision from the outcome, not from
//! the HTTP status.

pub mod audit;
pub mod authorize;
pub mod forward;
pub mod guard;
pub mod identify;
pub mod inspect;
pub mod respond;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response};
use mcp_policy::{Decision, Identity};
use serde_json::Value;

use crate::error::{Body, GatewayError};
use crate::policy_source::Active;
use crate::server::Gateway;

/// Everything one request carries through the pipeline, and what audit needs at the end.
#[derive(Debug)]
pub struct Exchange {
    /// When the request arrived.
    pub started: Instant,
    /// HTTP method.
    pub method: Method,
    /// Request path.
    pub path: String,
    /// The connection's peer.
    pub peer: SocketAddr,
    /// The policy snapshot taken for this request (set by `guard`).
    pub active: Option<Arc<Active>>,
    /// Body bytes read.
    pub bytes_in: u64,
    /// The body to forward: the canonical re-serialization of the inspected messages.
    pub body: Bytes,
    /// A JSON-RPC message was sent (or a body that failed to parse as one): audited.
    pub rpc_attempt: bool,
    /// The inspected messages, in body order.
    pub messages: Vec<mcp_protocol::Message>,
    /// The body was a JSON-RPC batch.
    pub batch: bool,
    /// Protocol version in force.
    pub protocol_version: Option<String>,
    /// `Mcp-Session-Id` presented.
    pub mcp_session: Option<String>,
    /// The verified caller (empty: anonymous, possible only in observe mode).
    pub identity: Identity,
    /// Per message: the policy decision (parallel to `messages`).
    pub decisions: Vec<Option<Decision>>,
    /// Batch elements the gateway refused itself (answered with their errors).
    pub refused: Vec<(usize, GatewayError)>,
    /// Why the request was refused, when it was.
    pub error: Option<GatewayError>,
}

impl Exchange {
    fn new<B>(req: &Request<B>, peer: SocketAddr) -> Exchange {
        Exchange {
            started: Instant::now(),
            method: req.method().clone(),
            path: req.uri().path().to_string(),
            peer,
            active: None,
            bytes_in: 0,
            body: Bytes::new(),
            rpc_attempt: false,
            messages: Vec::new(),
            batch: false,
            protocol_version: None,
            mcp_session: None,
            identity: Identity::default(),
            decisions: Vec::new(),
            refused: Vec::new(),
            error: None,
        }
    }

    /// The active policy document (present after `guard`).
    pub fn document(&self) -> Option<&mcp_policy::Document> {
        self.active.as_deref().map(|a| a.snapshot.document())
    }

    /// The policy only observes: nothing is refused for policy reasons.
    pub fn observing(&self) -> bool {
        self.document().is_some_and(|d| d.policy.mode == mcp_api::PolicyMode::Observe)
    }

    /// The id of the first message (for refusals of the whole request).
    pub fn first_id(&self) -> Option<&Value> {
        self.messages.first().and_then(|m| m.id.as_ref())
    }

    /// The bounded method label of the first message (`none` without one).
    pub fn rpc_label(&self) -> &'static str {
        self.messages
            .first()
            .map_or("none", |m| mcp_protocol::method_label(m.method.as_deref().unwrap_or_default()))
    }

    /// Whether this exchange asks for a tool list.
    pub fn lists_tools(&self) -> bool {
        self.messages
            .iter()
            .any(|m| mcp_protocol::method_class(m.method.as_deref()) == mcp_protocol::MethodClass::Discovery)
    }
}

/// A request body the gateway can read: hyper's own (the sidecar's listener) or any other
/// byte stream (a router that embeds the gateway in-process, such as `mcp-runtime dev`).
pub trait RequestBody:
    http_body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send + 'static
{
}

impl<B> RequestBody for B where
    B: http_body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send + 'static
{
}

/// Runs one request through every phase; never fails (a refusal becomes its response).
pub async fn run<B: RequestBody>(
    gw: &Gateway,
    req: Request<B>,
    peer: SocketAddr,
) -> (Response<Body>, Exchange) {
    let mut ex = Exchange::new(&req, peer);
    let outcome = phases(gw, req, &mut ex).await;
    let res = match outcome {
        Ok(res) => res,
        Err(err) => {
            let res = err.response(ex.first_id(), ex.document());
            ex.error = Some(err);
            res
        }
    };
    (res, ex)
}

async fn phases<B: RequestBody>(
    gw: &Gateway,
    req: Request<B>,
    ex: &mut Exchange,
) -> Result<Response<Body>, GatewayError> {
    guard::check(gw, &req, ex)?;
    let (parts, body) = req.into_parts();
    let inspected = inspect::read(gw, &parts, body, ex).await;
    // Closed before ready: without a policy nothing goes further (the body was read only to
    // answer with the request's id).
    if ex.active.is_none() {
        return Err(mcp_policy::Reason::PolicyUnavailable.into());
    }
    inspected?;
    identify::identify(gw, &parts, ex).await?;
    authorize::authorize(gw, ex)?;
    let upstream = forward::forward(gw, parts, ex).await?;
    respond::respond(gw, upstream, ex).await
}
