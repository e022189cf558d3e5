//! Fuzz target: `policy.json` parsing, verification, validation and evaluation (see
//! `mcp_policy::fuzz`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mcp_policy::fuzz::document_input(data);
});
