//! Kubernetes' OpenAPI v3 schemas, compiled once into a graph of nodes the
//! validator walks: the built-in kinds of one Kubernetes version (bundled,
//! or read from a directory of documents), and the kinds of
//! CustomResourceDefinitions added to them.

pub mod bundle;
mod check;

use std::collections::HashMap;
use std::io::Read as _;
use std::path::Path;

use serde_json::Value;

pub use check::Violation;

/// The Kubernetes minor whose schemas are bundled: what the devcluster
/// serves (`scripts/openapi-bundle.sh` writes them).
pub const BUNDLED_VERSION: &str = "1.34";

/// The bundle, gzipped: see [`bundle`].
const BUNDLED: &[u8] = include_bytes!("../../schemas/kubernetes-1.34.json.gz");

/// The schema of ObjectMeta, which every custom resource's `metadata` is.
const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// Why schemas could not be loaded: validate cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// No schemas are bundled for the version asked for.
    #[error(
        "no bundled schemas for Kubernetes {0} (bundled: {BUNDLED_VERSION}); pass --schema-dir with that version's OpenAPI v3 documents"
    )]
    NotBundled(String),
    /// A schema file could not be read or parsed.
    #[error("{file}: {reason}")]
    Unreadable {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// The documents describe no kind.
    #[error("{0}: no OpenAPI v3 group-version document (as `kubectl get --raw /openapi/v3/apis/apps/v1` writes them) found")]
    Empty(String),
}

/// A kind: group (empty for the core group), version, kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gvk {
    /// The API group, empty for the core group.
    pub group: String,
    /// The version.
    pub version: String,
    /// The kind.
    pub kind: String,
}

impl Gvk {
    /// The kind of an object's `apiVersion` and `kind`.
    pub fn of(api_version: &str, kind: &str) -> Gvk {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        Gvk { group: group.into(), version: version.into(), kind: kind.into() }
    }
}

impl std::fmt::Display for Gvk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}/{}", self.version, self.kind)
        } else {
            write!(f, "{}/{}/{}", self.group, self.version, self.kind)
        }
    }
}

type NodeId = usize;

/// What an object accepts beyond its named properties.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Additional {
    /// Nothing: other fields are unknown (pruned by the API server).
    Closed,
    /// Anything (`x-kubernetes-preserve-unknown-fields`, an opaque object).
    Open,
    /// Values of this schema (a map).
    Schema(NodeId),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Type {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
}

impl Type {
    fn parse(s: &str) -> Option<Type> {
        Some(match s {
            "object" => Type::Object,
            "array" => Type::Array,
            "string" => Type::String,
            "integer" => Type::Integer,
            "number" => Type::Number,
            "boolean" => Type::Boolean,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Type::Object => "object",
            Type::Array => "array",
            Type::String => "string",
            Type::Integer => "integer",
            Type::Number => "number",
            Type::Boolean => "boolean",
        }
    }
}

/// The formats checked: those whose violation the API server refuses
/// while decoding, and that cost little.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Format {
    Int32,
    Int64,
    Byte,
    DateTime,
}

/// One compiled schema.
#[derive(Clone, Debug, Default)]
struct Node {
    ty: Option<Type>,
    format: Option<Format>,
    properties: HashMap<String, NodeId>,
    required: Vec<String>,
    /// Unsaid: other fields are unknown where fields are named (here or
    /// in an `allOf`), accepted where none are.
    additional: Option<Additional>,
    items: Option<NodeId>,
    /// `allOf` and `$ref`: the value must match each.
    all_of: Vec<NodeId>,
    one_of: Vec<NodeId>,
    any_of: Vec<NodeId>,
    not: Option<NodeId>,
    enumeration: Option<Vec<Value>>,
    nullable: bool,
    int_or_string: bool,
    embedded: bool,
}

/// Where a kind's schema came from.
#[derive(Clone, Debug, PartialEq)]
pub enum Origin {
    /// The Kubernetes version's own API.
    BuiltIn,
    /// A CustomResourceDefinition (its name).
    Crd(String),
}

/// A kind that has a schema.
#[derive(Clone, Debug)]
pub struct KindSchema {
    root: NodeId,
    /// Whether objects of the kind live in a namespace.
    pub namespaced: bool,
    /// Where the schema came from.
    pub origin: Origin,
}

/// The schemas of a Kubernetes version and of custom resources. Built once,
/// shared by every app's validation (it is immutable and `Sync`).
#[derive(Clone, Debug, Default)]
pub struct Schemas {
    version: String,
    nodes: Vec<Node>,
    kinds: HashMap<Gvk, KindSchema>,
    object_meta: Option<NodeId>,
}

/// What validating one object found.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// No schema for its kind.
    NoSchema(Gvk),
    /// The violations, none when it is valid.
    Checked(Vec<Violation>),
}

impl Schemas {
    /// The bundled schemas of `version` (`1.34`, or `v1.34.3`: the minor
    /// counts).
    pub fn bundled(version: &str) -> Result<Schemas, SchemaError> {
        if minor_of(version) != BUNDLED_VERSION {
            return Err(SchemaError::NotBundled(version.to_string()));
        }
        let mut text = String::new();
        flate2::read::GzDecoder::new(BUNDLED).read_to_string(&mut text).map_err(|e| unreadable("the bundled schemas", e))?;
        let bundle: Value = serde_json::from_str(&text).map_err(|e| unreadable("the bundled schemas", e))?;
        Ok(Schemas::from_bundle(BUNDLED_VERSION, &bundle))
    }

    /// The decompressed bundle, as [`bundle::reduce`] makes it: for the test
    /// that compares it with what a cluster serves.
    pub fn bundled_json() -> Value {
        let mut text = String::new();
        flate2::read::GzDecoder::new(BUNDLED).read_to_string(&mut text).expect("the bundle is gzip");
        serde_json::from_str(&text).expect("the bundle is JSON")
    }

    /// The schemas of every OpenAPI v3 document (`*.json`) in `dir`, as
    /// `kubectl get --raw /openapi/v3/apis/<group>/<version>` writes them.
    pub fn from_dir(version: &str, dir: &Path) -> Result<Schemas, SchemaError> {
        let entries = std::fs::read_dir(dir).map_err(|e| unreadable(&dir.display().to_string(), e))?;
        let mut docs = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| unreadable(&dir.display().to_string(), e))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| unreadable(&path.display().to_string(), e))?;
            docs.push(serde_json::from_str::<Value>(&text).map_err(|e| unreadable(&path.display().to_string(), e))?);
        }
        let bundle = bundle::reduce(&docs);
        if bundle["kinds"].as_array().is_none_or(Vec::is_empty) {
            return Err(SchemaError::Empty(dir.display().to_string()));
        }
        Ok(Schemas::from_bundle(version, &bundle))
    }

    /// Compiles a bundle (see [`bundle`]).
    pub fn from_bundle(version: &str, bundle: &Value) -> Schemas {
        let mut s = Schemas { version: minor_of(version).to_string(), ..Default::default() };
        let named = bundle["schemas"].as_object().cloned().unwrap_or_default();
        // Every named schema gets its slot first, so that references
        // (recursive ones too: JSONSchemaProps) resolve while compiling.
        let ids: HashMap<String, NodeId> = named.keys().enumerate().map(|(i, n)| (n.clone(), i)).collect();
        s.nodes = vec![Node::default(); ids.len()];
        for (name, schema) in &named {
            let node = s.compile(schema, &ids, Mode::BuiltIn);
            s.nodes[ids[name]] = node;
        }
        s.object_meta = ids.get(OBJECT_META).copied();
        for k in bundle["kinds"].as_array().into_iter().flatten() {
            let (Some(schema), Some(kind)) = (k["schema"].as_str().and_then(|n| ids.get(n)), k["kind"].as_str()) else { continue };
            let gvk = Gvk { group: str_of(&k["group"]), version: str_of(&k["version"]), kind: kind.to_string() };
            s.kinds
                .insert(gvk, KindSchema { root: *schema, namespaced: k["namespaced"].as_bool().unwrap_or(true), origin: Origin::BuiltIn });
        }
        s
    }

    /// The Kubernetes version (major.minor) the schemas are of.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Adds the kinds a CustomResourceDefinition serves (every version with
    /// a schema); returns them. An error says what is wrong with it.
    pub fn add_crd(&mut self, crd: &Value) -> Result<Vec<Gvk>, String> {
        let name = crd["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let spec = &crd["spec"];
        let group = spec["group"].as_str().ok_or("spec.group is missing")?;
        let kind = spec["names"]["kind"].as_str().ok_or("spec.names.kind is missing")?;
        let namespaced = spec["scope"].as_str() != Some("Cluster");
        let mut added = Vec::new();
        for (i, v) in spec["versions"].as_array().into_iter().flatten().enumerate() {
            let version = v["name"].as_str().ok_or_else(|| format!("spec.versions[{i}].name is missing"))?;
            // apiextensions.k8s.io/v1beta1 kept one schema for all versions.
            let schema = v["schema"]["openAPIV3Schema"].as_object().or_else(|| spec["validation"]["openAPIV3Schema"].as_object());
            let root = match schema {
                Some(schema) => {
                    let node = self.compile(&Value::Object(schema.clone()), &HashMap::new(), Mode::Crd);
                    self.crd_root(node)
                }
                // A version without a schema accepts anything, as the
                // API server does for it.
                None => self.push(Node { ty: Some(Type::Object), additional: Some(Additional::Open), ..Default::default() }),
            };
            let gvk = Gvk { group: group.to_string(), version: version.to_string(), kind: kind.to_string() };
            self.kinds.insert(gvk.clone(), KindSchema { root, namespaced, origin: Origin::Crd(name.clone()) });
            added.push(gvk);
        }
        if added.is_empty() {
            return Err("spec.versions lists no version".into());
        }
        Ok(added)
    }

    /// The schema of a kind, if known.
    pub fn kind(&self, gvk: &Gvk) -> Option<&KindSchema> {
        self.kinds.get(gvk)
    }

    /// Whether a kind is namespaced, if known (any version of the group's kind).
    pub fn is_namespaced(&self, group: &str, kind: &str) -> Option<bool> {
        self.kinds.iter().find(|(g, _)| g.group == group && g.kind == kind).map(|(_, k)| k.namespaced)
    }

    /// `group/version` and `group/version/Kind` of every kind, sorted: Helm's
    /// `.Capabilities.APIVersions`, as the engine discovers them.
    pub fn api_versions(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .kinds
            .keys()
            .flat_map(|g| {
                let gv = if g.group.is_empty() { g.version.clone() } else { format!("{}/{}", g.group, g.version) };
                [format!("{gv}/{}", g.kind), gv]
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Validates one object against its kind's schema.
    pub fn validate(&self, object: &Value) -> Outcome {
        let gvk = Gvk::of(object["apiVersion"].as_str().unwrap_or_default(), object["kind"].as_str().unwrap_or_default());
        let Some(k) = self.kinds.get(&gvk) else { return Outcome::NoSchema(gvk) };
        let crd = matches!(k.origin, Origin::Crd(_));
        // A Secret's values never appear in a message.
        let quote = !(gvk.group.is_empty() && gvk.kind == "Secret");
        Outcome::Checked(check::Checker { schemas: self, crd, quote }.run(k.root, object))
    }

    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// The root of a custom resource: `apiVersion`, `kind` and `metadata`
    /// are the API server's, whatever the CRD says of them.
    fn crd_root(&mut self, mut root: Node) -> NodeId {
        let string = self.push(Node { ty: Some(Type::String), ..Default::default() });
        let meta = match self.object_meta {
            Some(m) => m,
            None => self.push(Node { ty: Some(Type::Object), additional: Some(Additional::Open), ..Default::default() }),
        };
        root.ty.get_or_insert(Type::Object);
        root.properties.insert("apiVersion".into(), string);
        root.properties.insert("kind".into(), string);
        root.properties.insert("metadata".into(), meta);
        self.push(root)
    }

    /// Compiles a schema into a node (pushing its children).
    fn compile(&mut self, schema: &Value, ids: &HashMap<String, NodeId>, mode: Mode) -> Node {
        let Some(o) = schema.as_object() else { return Node::default() };
        let mut node = Node {
            ty: o.get("type").and_then(Value::as_str).and_then(Type::parse),
            nullable: o.get("nullable").and_then(Value::as_bool).unwrap_or(false),
            int_or_string: o.get("x-kubernetes-int-or-string").and_then(Value::as_bool).unwrap_or(false)
                || o.get("format").and_then(Value::as_str) == Some("int-or-string"),
            embedded: o.get("x-kubernetes-embedded-resource").and_then(Value::as_bool).unwrap_or(false),
            format: match o.get("format").and_then(Value::as_str) {
                Some("int32") => Some(Format::Int32),
                Some("int64") => Some(Format::Int64),
                Some("byte") => Some(Format::Byte),
                Some("date-time") => Some(Format::DateTime),
                _ => None,
            },
            enumeration: o.get("enum").and_then(Value::as_array).cloned(),
            required: o
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|r| Some(r.as_str()?.to_string()))
                .collect(),
            ..Default::default()
        };
        if node.int_or_string {
            // The `oneOf: [integer, string]` beside it says the same.
            node.ty = None;
        }
        for (field, s) in o.get("properties").and_then(Value::as_object).into_iter().flatten() {
            let id = self.compile_child(s, ids, mode);
            node.properties.insert(field.clone(), id);
        }
        if let Some(items) = o.get("items").filter(|i| i.is_object()) {
            node.items = Some(self.compile_child(items, ids, mode));
        }
        let preserve = o.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool).unwrap_or(false);
        let named = !node.properties.is_empty() || o.contains_key("$ref") || o.contains_key("allOf");
        node.additional = match o.get("additionalProperties") {
            Some(Value::Bool(false)) => Some(Additional::Closed),
            Some(Value::Bool(true)) => Some(Additional::Open),
            Some(s @ Value::Object(_)) => Some(Additional::Schema(self.compile_child(s, ids, mode))),
            _ if preserve => Some(Additional::Open),
            // An object with no fields named: opaque in the built-in API
            // (RawExtension, FieldsV1), every field pruned in a CRD's.
            _ if node.ty == Some(Type::Object) && !named => Some(if mode == Mode::BuiltIn { Additional::Open } else { Additional::Closed }),
            _ => None,
        };
        if let Some(r) = o.get("$ref").and_then(Value::as_str) {
            node.all_of.push(self.reference(r, ids));
        }
        for s in o.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            let id = self.compile_child(s, ids, mode);
            node.all_of.push(id);
        }
        for (key, list) in [("oneOf", &mut node.one_of), ("anyOf", &mut node.any_of)] {
            for s in o.get(key).and_then(Value::as_array).into_iter().flatten() {
                list.push(self.compile_child(s, ids, mode));
            }
        }
        if node.int_or_string {
            node.one_of.clear();
        }
        if let Some(n) = o.get("not").filter(|n| n.is_object()) {
            node.not = Some(self.compile_child(n, ids, mode));
        }
        node
    }

    fn compile_child(&mut self, schema: &Value, ids: &HashMap<String, NodeId>, mode: Mode) -> NodeId {
        let node = self.compile(schema, ids, mode);
        // A bare reference (`allOf: [{$ref}]`, Kubernetes' way of giving a
        // field a named type) is the named node itself.
        if is_bare_reference(&node) {
            return node.all_of[0];
        }
        self.push(node)
    }

    fn reference(&mut self, r: &str, ids: &HashMap<String, NodeId>) -> NodeId {
        let name = r.trim_start_matches("#/components/schemas/");
        match ids.get(name) {
            Some(id) => *id,
            // An unknown reference accepts anything rather than inventing errors.
            None => self.push(Node { additional: Some(Additional::Open), ..Default::default() }),
        }
    }
}

/// Built-in schemas and CRDs differ in what an object without named fields
/// accepts.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    BuiltIn,
    Crd,
}

fn is_bare_reference(n: &Node) -> bool {
    n.all_of.len() == 1
        && n.ty.is_none()
        && n.format.is_none()
        && n.properties.is_empty()
        && n.required.is_empty()
        && n.items.is_none()
        && n.one_of.is_empty()
        && n.any_of.is_empty()
        && n.not.is_none()
        && n.enumeration.is_none()
        && !n.nullable
        && !n.int_or_string
        && !n.embedded
        && n.additional.is_none()
}

/// `1.34` of `1.34`, `v1.34.3`, `1.34+`.
pub fn minor_of(version: &str) -> &str {
    let v = version.trim().trim_start_matches('v');
    let mut dots = v.match_indices('.');
    let end = match (dots.next(), dots.next()) {
        (Some(_), Some((second, _))) => second,
        _ => v.len(),
    };
    v[..end].trim_end_matches('+')
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn unreadable(file: &str, e: impl std::fmt::Display) -> SchemaError {
    SchemaError::Unreadable { file: file.to_string(), reason: e.to_string() }
}
