//! Reading an image archive into what a registry push needs.
//!
//! Two formats are accepted, told apart by their files:
//! - an **OCI image layout** in a tar (`oci-layout`, `index.json`, `blobs/sha256/…`: what
//!   `mcp-runtime server build`, `cargo xtask images`, `skopeo copy … oci-archive:` and recent
//!   `docker save` write). The manifest is pushed byte for byte, so the digest the registry
//!   reports is the digest the archive's maker printed.
//! - a **`docker save`** tar (`manifest.json` with `Config` and `Layers`): an OCI manifest is
//!   written for it (uncompressed layers, `application/vnd.oci.image.layer.v1.tar`; gzip ones
//!   keep `+gzip`).
//!
//! The archive is untrusted: only regular files are read, paths with `..` or absolute paths are
//! refused, every blob must match its digest and its declared size, the archive must name
//! exactly one image of one platform (`linux/amd64` or `linux/arm64` as its config says), and
//! there are limits on entries and JSON sizes.

use std::collections::BTreeMap;
use std::io::Read;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

macro_rules! bail {
    ($($arg:tt)*) => { return Err(Error::Invalid(format!($($arg)*))) };
}

/// At most this many entries in an archive.
pub const MAX_ENTRIES: usize = 10_000;
/// At most this many layers in an image.
pub const MAX_LAYERS: usize = 127;
/// Manifests, indexes and configs are small: at most 4 MiB each.
pub const MAX_JSON: usize = 4 << 20;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// One blob to push.
#[derive(Clone, Debug)]
pub struct Blob {
    /// `sha256:<hex>`, checked against the data.
    pub digest: String,
    pub data: Vec<u8>,
}

/// An image ready to push.
#[derive(Clone, Debug)]
pub struct Image {
    /// The manifest, as pushed.
    pub manifest: Vec<u8>,
    /// Its media type (the `Content-Type` of the push).
    pub media_type: String,
    /// `sha256:<hex>` of [`Image::manifest`]: the image digest.
    pub digest: String,
    /// The config blob, then the layers, in manifest order.
    pub blobs: Vec<Blob>,
    /// The tag the archive names, if any (`org.opencontainers.image.ref.name`, `RepoTags`).
    pub tag: Option<String>,
    /// `os/architecture` from the config.
    pub platform: String,
}

impl Image {
    /// Total bytes of the blobs.
    pub fn size(&self) -> u64 {
        self.blobs.iter().map(|b| b.data.len() as u64).sum()
    }
}

/// A repository name as the distribution specification allows it: lowercase path components
/// of `[a-z0-9]+([._-][a-z0-9]+)*` separated by `/`.
pub fn valid_repository(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|part| {
            !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && part.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && part.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
        })
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && tag.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// `sha256:<hex>` of `data`.
pub fn digest_of(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Reads an image archive (see the module documentation).
pub fn read(archive: impl Read) -> Result<Image> {
    let files = files(archive)?;
    if files.contains_key("index.json") {
        oci_layout(&files)
    } else if files.contains_key("manifest.json") {
        docker_save(&files)
    } else {
        bail!(
            "not an image archive: it has neither index.json (an OCI image layout) nor manifest.json \
             (docker save)"
        )
    }
}

/// Every regular file of the tar by normalised path.
fn files(archive: impl Read) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut tar = tar::Archive::new(archive);
    let mut out = BTreeMap::new();
    let entries = tar.entries().map_err(|e| Error::Invalid(format!("not a tar archive: {e}")))?;
    for (count, entry) in entries.enumerate() {
        if count >= MAX_ENTRIES {
            bail!("the archive has more than {MAX_ENTRIES} entries");
        }
        let mut entry = entry.map_err(|e| Error::Invalid(format!("a corrupt tar entry: {e}")))?;
        let kind = entry.header().entry_type();
        let path = entry.path().map_err(|e| Error::Invalid(format!("a tar entry without a path: {e}")))?;
        let raw = path.to_string_lossy().to_string();
        let name = raw.trim_start_matches("./").to_string();
        if name.starts_with('/') || name.split('/').any(|part| part == "..") {
            bail!("the archive has an entry outside it: {raw:?}");
        }
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            // Links and devices have no place in an image archive's metadata or blobs.
            bail!("the archive entry {raw:?} is not a regular file");
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(|e| Error::Invalid(format!("read {raw:?}: {e}")))?;
        if out.insert(name, data).is_some() {
            bail!("the archive has {raw:?} twice");
        }
    }
    Ok(out)
}

fn json_file(files: &BTreeMap<String, Vec<u8>>, name: &str) -> Result<(Value, Vec<u8>)> {
    let data = files.get(name).ok_or_else(|| Error::Invalid(format!("the archive has no {name}")))?;
    if data.len() > MAX_JSON {
        bail!("{name} is larger than {MAX_JSON} bytes");
    }
    let value =
        serde_json::from_slice(data).map_err(|e| Error::Invalid(format!("{name} is not JSON: {e}")))?;
    Ok((value, data.clone()))
}

/// The blob of `digest` in an OCI layout, checked.
fn blob(files: &BTreeMap<String, Vec<u8>>, digest: &str, size: Option<u64>) -> Result<Vec<u8>> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
        .ok_or_else(|| Error::Invalid(format!("{digest:?} is not a sha256 digest")))?;
    let data = files
        .get(&format!("blobs/sha256/{hex}"))
        .ok_or_else(|| Error::Invalid(format!("the archive has no blob {digest}")))?;
    if digest_of(data) != digest {
        bail!("the blob {digest} does not match its digest");
    }
    if let Some(size) = size
        && size != data.len() as u64
    {
        bail!("the blob {digest} is {} bytes, its descriptor says {size}", data.len());
    }
    Ok(data.clone())
}

fn descriptor(value: &Value, what: &str) -> Result<(String, Option<u64>, String)> {
    let digest = value["digest"].as_str().ok_or_else(|| Error::Invalid(format!("{what} has no digest")))?;
    let size = value["size"].as_u64();
    let media = value["mediaType"].as_str().unwrap_or_default().to_string();
    Ok((digest.to_string(), size, media))
}

fn oci_layout(files: &BTreeMap<String, Vec<u8>>) -> Result<Image> {
    let (index, _) = json_file(files, "index.json")?;
    let manifests =
        index["manifests"].as_array().ok_or_else(|| Error::Invalid("index.json has no manifests".into()))?;
    let [entry] = manifests.as_slice() else {
        bail!("the archive holds {} images; push one image (one platform) per archive", manifests.len());
    };
    let (digest, size, media) = descriptor(entry, "index.json's manifest")?;
    if media == OCI_INDEX || media == DOCKER_LIST {
        bail!("the archive holds a multi-platform index; push one platform's image");
    }
    let manifest = blob(files, &digest, size)?;
    if manifest.len() > MAX_JSON {
        bail!("the manifest is larger than {MAX_JSON} bytes");
    }
    let parsed: Value = serde_json::from_slice(&manifest)
        .map_err(|e| Error::Invalid(format!("the manifest is not JSON: {e}")))?;
    let media_type = match parsed["mediaType"].as_str() {
        Some(m @ (OCI_MANIFEST | DOCKER_MANIFEST)) => m.to_string(),
        None if media == OCI_MANIFEST || media.is_empty() => OCI_MANIFEST.to_string(),
        other => bail!("unsupported manifest type {other:?}"),
    };
    let (config_digest, config_size, _) = descriptor(&parsed["config"], "the manifest's config")?;
    let config = blob(files, &config_digest, config_size)?;
    let mut blobs = vec![Blob { digest: config_digest, data: config.clone() }];
    let layers =
        parsed["layers"].as_array().ok_or_else(|| Error::Invalid("the manifest has no layers".into()))?;
    if layers.len() > MAX_LAYERS {
        bail!("the image has {} layers (at most {MAX_LAYERS})", layers.len());
    }
    for layer in layers {
        let (digest, size, _) = descriptor(layer, "a layer")?;
        let data = blob(files, &digest, size)?;
        blobs.push(Blob { digest, data });
    }
    let tag = entry["annotations"]["org.opencontainers.image.ref.name"].as_str().map(str::to_string);
    Ok(Image { digest: digest_of(&manifest), manifest, media_type, blobs, tag, platform: platform(&config)? })
}

fn docker_save(files: &BTreeMap<String, Vec<u8>>) -> Result<Image> {
    let (list, _) = json_file(files, "manifest.json")?;
    let images = list.as_array().ok_or_else(|| Error::Invalid("manifest.json is not a list".into()))?;
    let [image] = images.as_slice() else {
        bail!("the archive holds {} images; save one image per archive", images.len());
    };
    let config_path =
        image["Config"].as_str().ok_or_else(|| Error::Invalid("manifest.json names no Config".into()))?;
    let (_, config) = json_file(files, config_path)?;
    let config_digest = digest_of(&config);
    let layer_paths =
        image["Layers"].as_array().ok_or_else(|| Error::Invalid("manifest.json names no Layers".into()))?;
    if layer_paths.len() > MAX_LAYERS {
        bail!("the image has {} layers (at most {MAX_LAYERS})", layer_paths.len());
    }
    let mut blobs = vec![Blob { digest: config_digest.clone(), data: config.clone() }];
    let mut descriptors = Vec::new();
    for path in layer_paths {
        let path = path.as_str().ok_or_else(|| Error::Invalid("a layer path is not a string".into()))?;
        let data = files
            .get(path.trim_start_matches("./"))
            .ok_or_else(|| Error::Invalid(format!("the archive has no layer {path}")))?;
        let digest = digest_of(data);
        let media = if data.starts_with(&[0x1f, 0x8b]) {
            "application/vnd.oci.image.layer.v1.tar+gzip"
        } else {
            "application/vnd.oci.image.layer.v1.tar"
        };
        descriptors.push(json!({"mediaType": media, "digest": digest, "size": data.len()}));
        blobs.push(Blob { digest, data: data.clone() });
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": descriptors,
    });
    let manifest = serde_json::to_vec(&manifest).map_err(|e| Error::Invalid(e.to_string()))?;
    let tag = image["RepoTags"][0]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .and_then(|last| last.split_once(':'))
        .map(|(_, tag)| tag.to_string());
    Ok(Image {
        digest: digest_of(&manifest),
        manifest,
        media_type: OCI_MANIFEST.to_string(),
        blobs,
        tag,
        platform: platform(&config)?,
    })
}

/// `os/architecture` of a config; only Linux images are accepted.
fn platform(config: &[u8]) -> Result<String> {
    let value: Value = serde_json::from_slice(config)
        .map_err(|e| Error::Invalid(format!("the image config is not JSON: {e}")))?;
    let os = value["os"].as_str().unwrap_or_default();
    let arch = value["architecture"].as_str().unwrap_or_default();
    if os != "linux" {
        bail!("the image is for {os:?}, not linux");
    }
    if arch.is_empty() {
        bail!("the image config names no architecture");
    }
    Ok(format!("{os}/{arch}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{self, Entry, Tree};
    use crate::image::{self, Layer, Meta};

    fn built() -> (Vec<u8>, String) {
        let app = image::app_tree("tool", b"\x7fELF tool");
        let layer = Layer::new(&archive::tar(&app, 1_700_000_000).expect("tar")).expect("layer");
        let mut meta = Meta::product("tool", "example.test/team/tool:1.0", "abc", 1_700_000_000);
        meta.history.truncate(1);
        let image = image::assemble(&[layer], &meta).expect("assemble");
        (archive::tar(&image.layout, 1_700_000_000).expect("tar"), image.digest)
    }

    #[test]
    fn an_oci_archive_reads_back_with_its_own_digest_and_tag() {
        let (tar, digest) = built();
        let image = read(tar.as_slice()).expect("read");
        assert_eq!(image.digest, digest);
        assert_eq!(image.tag.as_deref(), Some("1.0"));
        assert_eq!(image.platform, "linux/amd64");
        assert_eq!(image.blobs.len(), 2);
        assert_eq!(digest_of(&image.manifest), digest);
    }

    #[test]
    fn a_docker_save_archive_gets_an_oci_manifest() {
        let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let layer = archive::tar(&image::app_tree("tool", b"x"), 0).expect("tar");
        let mut tree = Tree::new();
        let manifest = json!([{"Config": "cfg.json", "RepoTags": ["registry.test:5000/t/tool:v2"], "Layers": ["abc/layer.tar"]}]);
        archive::insert(
            &mut tree,
            "manifest.json",
            Entry::File { data: manifest.to_string().into_bytes(), exec: false },
        );
        archive::insert(&mut tree, "cfg.json", Entry::File { data: config.to_vec(), exec: false });
        archive::insert(&mut tree, "abc/layer.tar", Entry::File { data: layer.clone(), exec: false });
        let image = read(archive::tar(&tree, 0).expect("tar").as_slice()).expect("read");
        assert_eq!(image.tag.as_deref(), Some("v2"));
        assert_eq!(image.blobs[1].digest, digest_of(&layer));
        let manifest: Value = serde_json::from_slice(&image.manifest).expect("json");
        assert_eq!(manifest["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar");
        assert_eq!(manifest["config"]["digest"], digest_of(config));
    }

    #[test]
    fn tampered_or_hostile_archives_are_refused() {
        let (tar, _) = built();
        // Flip one byte inside a blob: its digest no longer matches.
        let mut files = files(tar.as_slice()).expect("files");
        let layer =
            files.keys().find(|k| k.starts_with("blobs/") && files[*k].len() > 200).cloned().expect("layer");
        files.get_mut(&layer).expect("layer")[100] ^= 1;
        let mut tree = Tree::new();
        for (name, data) in &files {
            archive::insert(&mut tree, name, Entry::File { data: data.clone(), exec: false });
        }
        let err = read(archive::tar(&tree, 0).expect("tar").as_slice()).expect_err("tampered");
        assert!(err.to_string().contains("does not match its digest"), "{err}");

        assert!(read(&b"not a tar at all"[..]).is_err());
        let mut empty = Tree::new();
        archive::insert(&mut empty, "hello.txt", Entry::File { data: b"hi".to_vec(), exec: false });
        let err = read(archive::tar(&empty, 0).expect("tar").as_slice()).expect_err("no image");
        assert!(err.to_string().contains("not an image archive"), "{err}");

        let mut linked = Tree::new();
        archive::insert(&mut linked, "index.json", Entry::Symlink("/etc/passwd".into()));
        let err = read(archive::tar(&linked, 0).expect("tar").as_slice()).expect_err("link");
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
}
