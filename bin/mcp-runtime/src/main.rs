//! `mcp-runtime`: the MCP Runtime command line. All logic lives in `mcp-cli`.

fn main() {
    std::process::exit(mcp_cli::run(std::env::args_os()));
}
