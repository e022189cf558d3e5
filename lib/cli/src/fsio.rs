//! File-system helpers: reading with the user's path in errors, listing metadata files, and
//! atomic writes (temporary file in the same directory, then rename), so a reader never sees
//! a half-written file and a failed write leaves the old file untouched.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::CliError;

/// Reads a UTF-8 file; `shown` is the path as the user wrote it, used in errors.
pub(crate) fn read(path: &Path, shown: &Path) -> Result<String, CliError> {
    fs::read_to_string(path).map_err(|e| CliError::read(shown, e))
}

/// The `*.yaml` and `*.yml` files directly inside `dir`, sorted by name.
pub(crate) fn yaml_files(dir: &Path, shown: &Path) -> Result<Vec<PathBuf>, CliError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| CliError::read(shown, e))? {
        let entry = entry.map_err(|e| CliError::read(shown, e))?;
        let name = entry.file_name();
        let is_yaml = Path::new(&name).extension().is_some_and(|ext| ext == "yaml" || ext == "yml");
        let is_file = entry.file_type().map_err(|e| CliError::read(shown, e))?.is_file()
            || fs::metadata(entry.path()).is_ok_and(|m| m.is_file());
        if is_yaml && is_file {
            names.push(name);
        }
    }
    names.sort();
    Ok(names.into_iter().map(|name| shown.join(name)).collect())
}

/// Creates `dir` and its parents.
pub(crate) fn create_dir(dir: &Path, shown: &Path) -> Result<(), CliError> {
    fs::create_dir_all(dir).map_err(|e| CliError::write(shown, e))
}

/// Replaces `path` with `contents` atomically. An existing file keeps its permissions.
pub(crate) fn write_atomic(path: &Path, shown: &Path, contents: impl AsRef<[u8]>) -> Result<(), CliError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let file_name = path.file_name().ok_or_else(|| {
        CliError::write(shown, io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))
    })?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{}.{}-{unique}.tmp", file_name.to_string_lossy(), std::process::id()));

    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(contents.as_ref())?;
        if let Ok(existing) = fs::metadata(path)
            && existing.is_file()
        {
            file.set_permissions(existing.permissions())?;
        }
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        // Best effort: the temporary file is ours and must not be left behind.
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| CliError::write(shown, e))
}

#[cfg(test)]
mod tests;
