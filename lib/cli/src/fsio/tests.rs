use super::*;

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("readable dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn atomic_write_creates_and_replaces() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a.yaml");
    write_atomic(&path, Path::new("a.yaml"), "one\n").expect("first write");
    write_atomic(&path, Path::new("a.yaml"), "two\n").expect("second write");
    assert_eq!(fs::read_to_string(&path).expect("read"), "two\n");
    assert_eq!(entries(dir.path()), ["a.yaml"]);
}

#[test]
fn failed_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("taken");
    fs::create_dir(&target).expect("mkdir");
    fs::write(target.join("keep"), "x").expect("write");
    let err = write_atomic(&target, Path::new("taken"), "data").expect_err("a directory is in the way");
    assert!(err.to_string().starts_with("cannot write taken"), "{err}");
    assert_eq!(entries(dir.path()), ["taken"]);
}

#[test]
fn yaml_files_are_sorted_and_filtered() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["b.yml", "a.yaml", "notes.txt", ".hidden.yaml"] {
        fs::write(dir.path().join(name), "").expect("write");
    }
    fs::create_dir(dir.path().join("sub.yaml")).expect("mkdir");
    let files = yaml_files(dir.path(), Path::new(".mcp")).expect("list");
    let shown: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    assert_eq!(shown, [".mcp/.hidden.yaml", ".mcp/a.yaml", ".mcp/b.yml"]);
}
