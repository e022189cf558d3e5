//! Fuzz target: discovery filtering of tool lists, as one JSON body (`filter_json_body`) and as
//! an SSE stream fed in arbitrary chunks (`SseFilter`); input format and invariants in
//! `mcp_gateway::discovery::fuzz`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_gateway::discovery::fuzz::discovery_input(data));
