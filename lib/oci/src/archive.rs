//! Deterministic tar and gzip for release archives and image layers: entries sorted by path,
//! every mtime the given epoch (`SOURCE_DATE_EPOCH`), uid/gid 0 with empty owner names, fixed
//! modes (0755 for directories and executables, 0644 otherwise), and a gzip header without a
//! file name or time. The same inputs give the same bytes on any machine.
//!
//! The tar writer is the POSIX ustar format (paths up to 255 bytes through the prefix field,
//! which is all our archives and Debian's packages need), written here rather than through a
//! crate so that nothing about the machine (user names, device numbers, extended attributes)
//! can reach an archive.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{Error, Result};

macro_rules! bail {
    ($($arg:tt)*) => { return Err(Error::Invalid(format!($($arg)*))) };
}

/// One entry of an archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A directory.
    Dir,
    /// A directory with another mode (`/tmp`: 01777).
    DirMode(u32),
    /// A directory owned by this uid and gid (the non-root user's home).
    DirOwned(u32),
    /// A regular file; `exec` gives it mode 0755.
    File { data: Vec<u8>, exec: bool },
    /// A symbolic link to the target.
    Symlink(String),
}

/// The entries of an archive by path (relative, `/`-separated, no leading `./`); a `BTreeMap`,
/// so they are always written in byte order of their paths.
pub type Tree = BTreeMap<String, Entry>;

/// Adds `path` and every parent directory missing from `tree`.
pub fn insert(tree: &mut Tree, path: &str, entry: Entry) {
    let path = path.trim_start_matches("./").trim_start_matches('/').trim_end_matches('/').to_string();
    let mut parent = String::new();
    for part in path.split('/').collect::<Vec<_>>().iter().rev().skip(1).rev() {
        if !parent.is_empty() {
            parent.push('/');
        }
        parent.push_str(part);
        tree.entry(parent.clone()).or_insert(Entry::Dir);
    }
    if !path.is_empty() {
        tree.insert(path, entry);
    }
}

/// Reads the files under `dir` into `tree` below `prefix` (modes kept only as "executable or
/// not"; symbolic links kept as links).
pub fn add_dir(tree: &mut Tree, dir: &Path, prefix: &str) -> Result<()> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in
            std::fs::read_dir(&current).map_err(|e| Error::io(format!("read {}", current.display()), e))?
        {
            let entry = entry.map_err(|e| Error::io(format!("read {}", current.display()), e))?;
            let path = entry.path();
            let rel = path
                .strip_prefix(dir)
                .map_err(|_| Error::Invalid(format!("{} is outside {}", path.display(), dir.display())))?
                .to_string_lossy()
                .replace('\\', "/");
            let name =
                if prefix.is_empty() { rel } else { format!("{}/{rel}", prefix.trim_end_matches('/')) };
            let meta = std::fs::symlink_metadata(&path)
                .map_err(|e| Error::io(format!("stat {}", path.display()), e))?;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path)
                    .map_err(|e| Error::io(format!("read link {}", path.display()), e))?
                    .to_string_lossy()
                    .to_string();
                insert(tree, &name, Entry::Symlink(target));
            } else if meta.is_dir() {
                insert(tree, &name, Entry::Dir);
                stack.push(path);
            } else {
                use std::os::unix::fs::PermissionsExt;
                let exec = meta.permissions().mode() & 0o111 != 0;
                let data =
                    std::fs::read(&path).map_err(|e| Error::io(format!("read {}", path.display()), e))?;
                insert(tree, &name, Entry::File { data, exec });
            }
        }
    }
    Ok(())
}

/// The uncompressed tar of `tree`, every mtime `epoch`.
pub fn tar(tree: &Tree, epoch: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for (path, entry) in tree {
        let (mode, typeflag, size, link, name) = match entry {
            Entry::Dir | Entry::DirOwned(_) => (0o755, b'5', 0, "", format!("{path}/")),
            Entry::DirMode(mode) => (*mode, b'5', 0, "", format!("{path}/")),
            Entry::File { data, exec } => {
                (if *exec { 0o755 } else { 0o644 }, b'0', data.len(), "", path.clone())
            }
            Entry::Symlink(target) => (0o777, b'2', 0, target.as_str(), path.clone()),
        };
        let owner = if let Entry::DirOwned(uid) = entry { u64::from(*uid) } else { 0 };
        let mut header = [0u8; 512];
        let (prefix, name) = split_name(&name)?;
        put(&mut header[0..100], name.as_bytes())?;
        octal(&mut header[100..108], u64::from(mode))?;
        octal(&mut header[108..116], owner)?;
        octal(&mut header[116..124], owner)?;
        octal(&mut header[124..136], size as u64)?;
        octal(&mut header[136..148], epoch)?;
        header[156] = typeflag;
        put(&mut header[157..257], link.as_bytes())?;
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        put(&mut header[345..500], prefix.as_bytes())?;
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
        octal(&mut header[148..155], u64::from(sum))?;
        header[155] = b' ';
        out.extend_from_slice(&header);
        if let Entry::File { data, .. } = entry {
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
    }
    out.resize(out.len() + 1024, 0);
    Ok(out)
}

/// gzip of `data` with a fixed header (no name, mtime 0, OS "unknown") at the best compression.
pub fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).map_err(|e| Error::io("gzip", e))?;
    encoder.finish().map_err(|e| Error::io("gzip", e))
}

/// Reads a gzip-compressed tar back as (path, header and data digest) in archive order, so two
/// archives can be compared entry by entry.
pub fn entries(targz: &[u8]) -> Result<Vec<(String, String)>> {
    let mut data = Vec::new();
    flate2::read::GzDecoder::new(targz).read_to_end(&mut data).map_err(|e| Error::io("gunzip", e))?;
    Ok(tar_entries(&data))
}

/// [`entries`] of an uncompressed tar (an OCI image layout archive).
pub fn tar_entries(data: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 512 <= data.len() {
        let header = &data[at..at + 512];
        if header.iter().all(|b| *b == 0) {
            break;
        }
        let name = cstr(&header[0..100]);
        let prefix = cstr(&header[345..500]);
        let path = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let size = usize::from_str_radix(cstr(&header[124..136]).trim(), 8).unwrap_or(0);
        let end = (at + 512 + size).min(data.len());
        let mut digest = Sha256::new();
        digest.update(header);
        digest.update(&data[at + 512..end]);
        out.push((path, hex::encode(digest.finalize())));
        at += 512 + size.div_ceil(512) * 512;
    }
    out
}

/// The first entry where two archives (gzip-compressed or plain tar) differ.
pub fn first_difference(a: &[u8], b: &[u8]) -> Result<Option<String>> {
    let read = |x: &[u8]| if x.starts_with(&[0x1f, 0x8b]) { entries(x) } else { Ok(tar_entries(x)) };
    let (a, b) = (read(a)?, read(b)?);
    for i in 0..a.len().max(b.len()) {
        match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) if x == y => {}
            (Some(x), _) => return Ok(Some(x.0.clone())),
            (None, Some(y)) => return Ok(Some(y.0.clone())),
            (None, None) => break,
        }
    }
    Ok(None)
}

/// The sha256 of `data`, lowercase hex.
pub fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn cstr(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).to_string()
}

/// ustar's name/prefix split: the name part at most 100 bytes, the prefix at most 155.
fn split_name(path: &str) -> Result<(&str, &str)> {
    if path.len() <= 100 {
        return Ok(("", path));
    }
    let bytes = path.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'/' && i <= 155 && path.len() - i - 1 <= 100 && i > 0 {
            return Ok((&path[..i], &path[i + 1..]));
        }
    }
    bail!("path too long for a ustar archive: {path}")
}

fn put(field: &mut [u8], value: &[u8]) -> Result<()> {
    if value.len() > field.len() {
        bail!("tar field too long: {}", String::from_utf8_lossy(value));
    }
    field[..value.len()].copy_from_slice(value);
    Ok(())
}

/// An octal number, zero-padded, NUL-terminated, filling `field`.
fn octal(field: &mut [u8], value: u64) -> Result<()> {
    let width = field.len() - 1;
    let text = format!("{value:0width$o}");
    if text.len() > width {
        bail!("tar number too large: {value}");
    }
    field[..width].copy_from_slice(text.as_bytes());
    field[width] = 0;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Tree {
        let mut tree = Tree::new();
        insert(&mut tree, "b/bin/tool", Entry::File { data: b"#!x".to_vec(), exec: true });
        insert(&mut tree, "a.txt", Entry::File { data: vec![7; 700], exec: false });
        insert(&mut tree, "b/link", Entry::Symlink("bin/tool".into()));
        tree
    }

    #[test]
    fn same_tree_same_bytes_and_parents_are_added() {
        let one = gzip(&tar(&sample(), 1_700_000_000).expect("tar")).expect("gzip");
        let two = gzip(&tar(&sample(), 1_700_000_000).expect("tar")).expect("gzip");
        assert_eq!(sha256(&one), sha256(&two));
        let paths: Vec<String> = entries(&one).expect("read").into_iter().map(|e| e.0).collect();
        assert_eq!(paths, ["a.txt", "b/", "b/bin/", "b/bin/tool", "b/link"]);
        // gzip header: no name flag, mtime 0.
        assert_eq!(&one[3..8], &[0, 0, 0, 0, 0]);
    }

    #[test]
    fn tar_reads_back_with_the_system_tar() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("x.tar");
        std::fs::write(&file, tar(&sample(), 1_700_000_000).expect("tar")).expect("write");
        let listing = duct::cmd!("tar", "-tvf", &file).read().expect("tar -t");
        assert!(listing.contains("-rwxr-xr-x 0/0") && listing.contains("b/bin/tool"), "{listing}");
        assert!(listing.contains("2023-11-14"), "{listing}");
        let long = format!("{}/file", "d".repeat(120));
        let mut tree = Tree::new();
        insert(&mut tree, &long, Entry::File { data: vec![1], exec: false });
        std::fs::write(&file, tar(&tree, 0).expect("tar")).expect("write");
        assert!(duct::cmd!("tar", "-tf", &file).read().expect("tar -t").contains(&long));
    }

    #[test]
    fn a_changed_entry_is_named() {
        let one = gzip(&tar(&sample(), 1).expect("tar")).expect("gzip");
        let mut tree = sample();
        insert(&mut tree, "b/bin/tool", Entry::File { data: b"#!y".to_vec(), exec: true });
        let two = gzip(&tar(&tree, 1).expect("tar")).expect("gzip");
        assert_eq!(first_difference(&one, &two).expect("compare").as_deref(), Some("b/bin/tool"));
        assert_eq!(first_difference(&one, &one).expect("compare"), None);
    }
}
