//! Fuzz target: `mcp_protocol::inspect` with arbitrary headers and options (input format in
//! `mcp_protocol::fuzz`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mcp_protocol::fuzz::inspect_input(data));
