//! The gateway end to end on loopback: a real listener, a real upstream, real tokens.

mod pipeline;
mod rmcp_client;
mod support;
