//! The sentinel pipeline against real servers, started by the tests themselves: the `tansu`
//! Kafka-protocol broker (durable SQLite storage) and ClickHouse, each on free loopback ports
//! with data in a temp dir, stopped by PID. `ingest` and `processor` run as the real
//! `mcp-sentinel` binary, so they can be killed with SIGKILL.
//!
//! Needs the servers installed: `cargo xtask services install` (CI runs it first).

mod faults;
mod inputs;
mod pipeline;
mod schema;
mod support;
