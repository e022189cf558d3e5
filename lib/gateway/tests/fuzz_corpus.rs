//! Replays the committed seed corpus of the `discovery` fuzz target (`fuzz/corpus/discovery`)
//! through the target's own entry point, so CI checks every committed input cheaply without
//! libFuzzer.

use std::path::Path;

#[test]
fn the_committed_discovery_corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/discovery");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("the committed corpus exists") {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).expect("read a corpus file");
        mcp_gateway::discovery::fuzz::discovery_input(&data);
        files += 1;
    }
    assert!(files >= 10, "only {files} corpus files in {}", dir.display());
}
