//! Kubernetes manifests of MCP Runtime resources, read from multi-document YAML files.
//!
//! A file may hold any mix of `MCPServer`, `MCPAccessGrant` and `MCPAgentSession` documents
//! (`apiVersion: mcpruntime.org/v1alpha1`), and `kind: List` documents whose `items` are such
//! objects (what `kubectl get -o yaml` prints). Every object that loads has a valid
//! `metadata.name`, a known `kind` and `apiVersion`, and no field its type does not know.

use std::path::{Path, PathBuf};

use mcp_api::{MCPAccessGrant, MCPAgentSession, MCPServer};
use serde_json::Value;

use crate::error::CliError;
use crate::yaml::{self, Problem};
use crate::{fsio, names};

/// `apiVersion` of every MCP Runtime resource.
pub const API_VERSION: &str = "mcpruntime.org/v1alpha1";

/// Kinds a manifest file may hold.
const KINDS: [&str; 3] = ["MCPServer", "MCPAccessGrant", "MCPAgentSession"];

/// An object and where it was read from.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded<T> {
    /// The file, as it was named to [`load_manifests`].
    pub file: PathBuf,
    /// Zero-based index of the YAML document in the file (empty documents count).
    pub index: usize,
    /// The object.
    pub object: T,
}

/// Every object read from a set of files, by kind, in file and document order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Manifests {
    /// `MCPServer` objects.
    pub servers: Vec<Loaded<MCPServer>>,
    /// `MCPAccessGrant` objects.
    pub grants: Vec<Loaded<MCPAccessGrant>>,
    /// `MCPAgentSession` objects.
    pub sessions: Vec<Loaded<MCPAgentSession>>,
}

impl Manifests {
    /// True when no object was loaded.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty() && self.grants.is_empty() && self.sessions.is_empty()
    }
}

/// Reads every document of every file (paths relative to the process's working directory).
///
/// Stops at the first problem: unreadable file ([`CliError::Read`]), malformed YAML
/// ([`CliError::Syntax`]), or a document that is not a valid object of a known kind
/// ([`CliError::Decode`], naming file, document, field path and value). Validation of the
/// specs themselves (lib/api's `validate_*`) is left to the caller.
pub fn load_manifests(paths: &[PathBuf]) -> Result<Manifests, CliError> {
    load_manifests_in(Path::new(""), paths)
}

/// Like [`load_manifests`], with relative paths resolved against `base`. [`Loaded::file`] and
/// error messages keep each path as given.
pub fn load_manifests_in(base: &Path, paths: &[PathBuf]) -> Result<Manifests, CliError> {
    let mut manifests = Manifests::default();
    for path in paths {
        let text = fsio::read(&base.join(path), path)?;
        let docs = yaml::parse_documents(&text)
            .map_err(|source| CliError::Syntax { file: path.clone(), source: Box::new(source) })?;
        let several = docs.len() > 1;
        for doc in docs {
            let objects = decode_objects(&doc.value).map_err(|p| CliError::Decode {
                file: path.clone(),
                document: several.then_some(doc.index),
                field: p.field,
                message: p.message,
                value: p.value,
            })?;
            for (_, object, unknown) in objects {
                if let Some(p) = unknown.into_iter().next() {
                    return Err(CliError::Decode {
                        file: path.clone(),
                        document: several.then_some(doc.index),
                        field: p.field,
                        message: p.message,
                        value: p.value,
                    });
                }
                let (file, index) = (path.clone(), doc.index);
                match object {
                    Object::Server(object) => manifests.servers.push(Loaded { file, index, object: *object }),
                    Object::Grant(object) => manifests.grants.push(Loaded { file, index, object: *object }),
                    Object::Session(object) => {
                        manifests.sessions.push(Loaded { file, index, object: *object })
                    }
                }
            }
        }
    }
    Ok(manifests)
}

/// A decoded object of one of the three kinds.
#[derive(Clone, Debug)]
pub(crate) enum Object {
    Server(Box<MCPServer>),
    Grant(Box<MCPAccessGrant>),
    Session(Box<MCPAgentSession>),
}

impl Object {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Object::Server(_) => "MCPServer",
            Object::Grant(_) => "MCPAccessGrant",
            Object::Session(_) => "MCPAgentSession",
        }
    }
}

/// One object of a document: where it sits (`""`, or `items[i]` in a list), the object, and
/// its unknown fields (already placed under that path).
pub(crate) type Decoded = (String, Object, Vec<Problem>);

/// Decodes one document: a single object, or the items of a `kind: List`.
pub(crate) fn decode_objects(value: &Value) -> Result<Vec<Decoded>, Problem> {
    if header(value)?.0 == "List" {
        let items = match value.get("items") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err(Problem::new("items", "must be a list of objects", None)),
        };
        return items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let at = format!("items[{i}]");
                if header(item).map_err(|p| p.under(&at))?.0 == "List" {
                    return Err(Problem::new(format!("{at}.kind"), "lists cannot be nested", Some("List")));
                }
                let (object, unknown) = decode_object(item).map_err(|p| p.under(&at))?;
                let unknown = unknown.into_iter().map(|p| p.under(&at)).collect();
                Ok((at, object, unknown))
            })
            .collect();
    }
    let (object, unknown) = decode_object(value)?;
    Ok(vec![(String::new(), object, unknown)])
}

/// `kind` and `apiVersion` of a document.
fn header(value: &Value) -> Result<(&str, &str), Problem> {
    if !value.is_object() {
        return Err(Problem::new(
            "",
            "expected a Kubernetes object (a mapping with apiVersion and kind)",
            None,
        ));
    }
    let field = |name: &'static str| match value.get(name) {
        None | Some(Value::Null) => Err(Problem::new(name, "is required", None)),
        Some(Value::String(s)) => Ok(s.as_str()),
        Some(other) => Err(Problem::new(name, "must be a string", Some(&yaml::scalar_text(other)))),
    };
    let kind = field("kind")?;
    let api_version = field("apiVersion")?;
    Ok((kind, api_version))
}

/// Decodes one object, checking `kind`, `apiVersion` and `metadata.name`; unknown fields come
/// back separately.
fn decode_object(value: &Value) -> Result<(Object, Vec<Problem>), Problem> {
    let (kind, api_version) = header(value)?;
    if !KINDS.contains(&kind) {
        return Err(Problem::new(
            "kind",
            format!("unknown kind (expected one of {}, or List)", KINDS.join(", ")),
            Some(kind),
        ));
    }
    if api_version != API_VERSION {
        return Err(Problem::new(
            "apiVersion",
            format!("unsupported apiVersion for {kind} (expected {API_VERSION})"),
            Some(api_version),
        ));
    }
    let (object, unknown) = match kind {
        "MCPServer" => yaml::decode(value).map(|(o, u)| (Object::Server(Box::new(o)), u))?,
        "MCPAccessGrant" => yaml::decode(value).map(|(o, u)| (Object::Grant(Box::new(o)), u))?,
        _ => yaml::decode(value).map(|(o, u)| (Object::Session(Box::new(o)), u))?,
    };
    let metadata = match &object {
        Object::Server(o) => &o.metadata,
        Object::Grant(o) => &o.metadata,
        Object::Session(o) => &o.metadata,
    };
    let check_name: fn(&str) -> Result<(), String> =
        if matches!(object, Object::Server(_)) { names::check_label } else { names::check_subdomain };
    match metadata.name.as_deref() {
        None => return Err(Problem::new("metadata.name", "is required", None)),
        Some(name) => check_name(name).map_err(|reason| Problem::new("metadata.name", reason, Some(name)))?,
    }
    if let Some(ns) = metadata.namespace.as_deref() {
        names::check_label(ns).map_err(|reason| Problem::new("metadata.namespace", reason, Some(ns)))?;
    }
    Ok((object, unknown))
}

#[cfg(test)]
mod tests;
