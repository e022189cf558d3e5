//! Integration tests: the example server driven by the official rmcp client and by raw HTTP.

mod conformance;
mod headers;
mod http;
mod lifecycle;
mod progress;
mod support;
mod tools;
