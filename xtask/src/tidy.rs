//! Tidy checks, run as ordinary tests: structural rules that review would otherwise have to
//! remember. Add a check only after the problem it catches has happened.

#[cfg(test)]
mod tests {
    use duct::cmd;

    use crate::util::project_root;

    /// Every library crate opens with a `//!` doc saying what it owns and its invariants.
    #[test]
    fn every_lib_crate_has_a_crate_doc() {
        let lib = project_root().join("lib");
        let entries = std::fs::read_dir(&lib).expect("read lib/");
        for entry in entries.flatten() {
            let path = entry.path().join("src/lib.rs");
            if let Ok(text) = std::fs::read_to_string(&path) {
                assert!(text.starts_with("//!"), "{} must open with a `//!` crate doc", path.display());
            }
        }
    }

    /// The pure cores never pull in an async runtime, an HTTP stack or a Kubernetes client.
    #[test]
    fn pure_cores_have_no_io_dependencies() {
        const FORBIDDEN: &[&str] =
            &["tokio", "hyper", "kube-client", "kube-runtime", "reqwest", "axum", "rdkafka", "clickhouse"];
        for krate in ["mcp-api", "mcp-policy", "mcp-protocol", "mcp-events", "mcp-operator-core"] {
            let tree = cmd!("cargo", "tree", "--locked", "-p", krate, "-e", "normal", "--prefix", "none")
                .dir(project_root())
                .read()
                .expect("cargo tree");
            for line in tree.lines() {
                let name = line.split_whitespace().next().unwrap_or_default();
                assert!(!FORBIDDEN.contains(&name), "{krate} depends on {name}, but it must do no I/O");
            }
        }
    }

    /// No test is ignored or expected to panic: assert today's behaviour instead.
    #[test]
    fn no_ignored_or_should_panic_tests() {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() && path.file_name().is_some_and(|n| n != "target") {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        for dir in ["lib", "bin", "xtask", "e2e"] {
            walk(&project_root().join(dir), &mut files);
        }
        let banned = [concat!("#[", "ignore"), concat!("#[", "should_panic")];
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for pattern in banned {
                assert!(!text.contains(pattern), "{} uses {pattern}]", file.display());
            }
        }
    }
}
