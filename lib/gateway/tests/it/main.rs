//! The gateway end to end on loopback: a real listener, a real upstream, real tokens.

mod audit;
mod configmap;
mod guarantee;
mod oauth;
mod pipeline;
mod python_client;
mod rmcp_client;
mod support;
mod tls;
