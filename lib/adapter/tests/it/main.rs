//! Component tests of the adapters against a real platform, gateway and example server.

mod rig;
mod rmcp_proxy;
mod stdio_rules;
