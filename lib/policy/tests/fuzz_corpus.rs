//! Replays the committed seed corpus of the `policy_document` fuzz target
//! (`fuzz/corpus/policy_document`) through the target's own entry point, so CI checks every
//! committed input cheaply without libFuzzer.

use std::path::Path;

#[test]
fn the_committed_policy_document_corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/policy_document");
    let (mut files, mut evaluated) = (0, 0);
    for entry in std::fs::read_dir(&dir).expect("the committed corpus exists") {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).expect("read a corpus file");
        evaluated += usize::from(mcp_policy::fuzz::document_input(&data));
        files += 1;
    }
    assert!(files >= 5, "only {files} corpus files in {}", dir.display());
    assert!(evaluated >= 3, "only {evaluated} of {files} corpus documents reached evaluation");
}
