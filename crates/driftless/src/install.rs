//! `driftless install`: the manifests of `install/` (embedded in the binary),
//! built by the native Kustomize engine for a namespace, printed or applied
//! with server-side apply. The Helm chart renders the same objects, so the
//! binary, the kustomize tree and the chart never drift apart.

use anyhow::Context as _;
use kube::api::{DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};

use crate::output;

/// Every file of `install/`, by its path there. A test checks that none is
/// missing.
pub const FILES: &[(&str, &str)] = &[
    ("base/kustomization.yaml", include_str!("../../../install/base/kustomization.yaml")),
    ("base/serviceaccounts.yaml", include_str!("../../../install/base/serviceaccounts.yaml")),
    ("base/server-role.yaml", include_str!("../../../install/base/server-role.yaml")),
    ("base/controller.yaml", include_str!("../../../install/base/controller.yaml")),
    ("base/server.yaml", include_str!("../../../install/base/server.yaml")),
    ("base/policies.yaml", include_str!("../../../install/base/policies.yaml")),
    ("crds/kustomization.yaml", include_str!("../../../install/crds/kustomization.yaml")),
    ("crds/crds.yaml", include_str!("../../../install/crds/crds.yaml")),
    ("cluster/kustomization.yaml", include_str!("../../../install/cluster/kustomization.yaml")),
    ("cluster/rbac.yaml", include_str!("../../../install/cluster/rbac.yaml")),
    ("namespace/kustomization.yaml", include_str!("../../../install/namespace/kustomization.yaml")),
    ("namespace/rbac.yaml", include_str!("../../../install/namespace/rbac.yaml")),
    ("namespace/in-cluster.yaml", include_str!("../../../install/namespace/in-cluster.yaml")),
];

/// The namespace the manifests name; the names of cluster-scoped objects
/// (ClusterRoles and their bindings) get `-<namespace>` in any other, so
/// that installs in several namespaces of one cluster do not collide.
pub const DEFAULT_NAMESPACE: &str = "argocd";

/// Flags of `driftless install`.
#[derive(clap::Args)]
pub struct InstallArgs {
    /// Print the manifests instead of applying them.
    #[arg(long)]
    dry_run: bool,
    /// The namespace to install into (the control plane).
    #[arg(long, short = 'n', default_value = DEFAULT_NAMESPACE)]
    namespace: String,
    /// Roles instead of ClusterRoles, nothing outside the namespace, no
    /// CRDs (a cluster admin applies them once: `driftless crds`); the
    /// controller manages that namespace alone.
    #[arg(long)]
    namespace_scoped: bool,
    /// The container image of the controller and the server (default: this
    /// version's release image).
    #[arg(long)]
    image: Option<String>,
    /// Controller replicas: standbys with leader election, or shares of
    /// the apps with --sharded.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    replicas: u16,
    /// Every controller replica takes a share of the apps (by the shard of
    /// their cluster Secret, else by name) instead of one leader acting for
    /// all: `controller --sharded` rather than `--leader-elect`.
    #[arg(long)]
    sharded: bool,
    /// Output format of `--dry-run`.
    #[arg(short, long, value_enum, default_value_t = ManifestFormat::Yaml)]
    output: ManifestFormat,
}

/// `--dry-run -o`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ManifestFormat {
    /// Multi-document YAML, as `kubectl kustomize` prints it.
    Yaml,
    /// A `v1` List.
    Json,
}

/// What to install.
#[derive(Debug, Clone)]
pub struct Options {
    /// The control-plane namespace.
    pub namespace: String,
    /// The namespace-scoped variant.
    pub namespace_scoped: bool,
    /// The image, instead of the manifests' own.
    pub image: Option<String>,
    /// The controller's replicas.
    pub replicas: u16,
    /// The controller replicas share the apps instead of electing a leader.
    pub sharded: bool,
}

impl Default for Options {
    /// What the manifests say: the cluster-wide install in argocd, one
    /// controller with leader election.
    fn default() -> Options {
        Options { namespace: DEFAULT_NAMESPACE.into(), namespace_scoped: false, image: None, replicas: 1, sharded: false }
    }
}

/// Why the manifests could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--namespace` is no namespace name.
    #[error(
        "--namespace {0:?}: not a namespace name (lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit)"
    )]
    Namespace(String),
    /// `--image` is no image reference.
    #[error("--image {0:?}: not an image reference (no spaces or control characters, not empty)")]
    Image(String),
    /// The embedded files could not be written out to build.
    #[error("write the install manifests to a temporary directory: {0}")]
    Io(#[from] std::io::Error),
    /// The kustomization does not build (a bug of the embedded files).
    #[error("build the install manifests: {0}")]
    Build(#[from] driftless_kustomize::Error),
}

/// The objects to install, in apply order (CRDs first).
pub fn manifests(opts: &Options) -> Result<Vec<Value>, Error> {
    if !driftless_api::is_dns_label(&opts.namespace) {
        return Err(Error::Namespace(opts.namespace.clone()));
    }
    if let Some(image) = &opts.image
        && (image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(Error::Image(image.clone()));
    }
    let dir = tempfile::tempdir()?;
    for (path, text) in FILES {
        let file = dir.path().join("install").join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(file, text)?;
    }
    let variant = if opts.namespace_scoped { "install/namespace" } else { "install/cluster" };
    let top = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": opts.namespace,
        "resources": [variant],
    });
    std::fs::write(dir.path().join("kustomization.yaml"), top.to_string())?;
    let built = driftless_kustomize::build(dir.path(), &driftless_kustomize::BuildOptions::new(dir.path()))?;
    let mut objects = built.resources;
    for obj in &mut objects {
        localize(obj, opts);
    }
    Ok(objects)
}

/// What Kustomize's `namespace:` does not change: the namespace of
/// ServiceAccount subjects and of the in-cluster Secret's `namespaces`
/// limit, the names of cluster-scoped RBAC objects; and the image and the
/// controller's replicas and sharding. The Helm chart's templates do the
/// same.
fn localize(obj: &mut Value, opts: &Options) {
    let ns = opts.namespace.as_str();
    let kind = obj["kind"].as_str().unwrap_or_default().to_string();
    if matches!(kind.as_str(), "RoleBinding" | "ClusterRoleBinding") {
        for s in obj["subjects"].as_array_mut().into_iter().flatten() {
            if s["kind"] == "ServiceAccount" {
                s["namespace"] = json!(ns);
            }
        }
    }
    if ns != DEFAULT_NAMESPACE && matches!(kind.as_str(), "ClusterRole" | "ClusterRoleBinding") {
        let suffixed = |name: &Value| json!(format!("{}-{ns}", name.as_str().unwrap_or_default()));
        obj["metadata"]["name"] = suffixed(&obj["metadata"]["name"]);
        if kind == "ClusterRoleBinding" && obj["roleRef"]["kind"] == "ClusterRole" {
            obj["roleRef"]["name"] = suffixed(&obj["roleRef"]["name"]);
        }
    }
    if kind == "Secret" && obj["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "cluster" {
        obj["stringData"]["namespaces"] = json!(ns);
    }
    if kind == "Deployment"
        && let Some(image) = &opts.image
    {
        for c in obj["spec"]["template"]["spec"]["containers"].as_array_mut().into_iter().flatten() {
            c["image"] = json!(image);
        }
    }
    if kind == "Deployment" && obj["metadata"]["name"] == "driftless-controller" {
        obj["spec"]["replicas"] = json!(opts.replicas);
        if opts.sharded {
            for c in obj["spec"]["template"]["spec"]["containers"].as_array_mut().into_iter().flatten() {
                for arg in c["args"].as_array_mut().into_iter().flatten().filter(|a| *a == "--leader-elect") {
                    *arg = json!("--sharded");
                }
            }
        }
    }
}

/// The objects as `kubectl kustomize` prints them.
pub fn to_yaml(objects: &[Value]) -> String {
    objects.iter().map(driftless_kustomize::yaml::emit::to_yaml).collect::<Vec<_>>().join("---\n")
}

/// `driftless install`.
pub async fn run(args: InstallArgs) -> anyhow::Result<()> {
    let opts = Options {
        namespace: args.namespace,
        namespace_scoped: args.namespace_scoped,
        image: args.image,
        replicas: args.replicas,
        sharded: args.sharded,
    };
    let objects = manifests(&opts)?;
    if args.dry_run {
        return match args.output {
            ManifestFormat::Yaml => output::write_stdout(&to_yaml(&objects)),
            ManifestFormat::Json => {
                output::print(output::Format::Json, &json!({ "apiVersion": "v1", "kind": "List", "items": objects }), String::new)
            }
        };
    }
    let client = crate::kube_client::connect().await?;
    apply(&client, &opts.namespace, &objects).await?;
    let variant = if opts.namespace_scoped { "namespace-scoped" } else { "cluster-wide" };
    output::progress(&format!("driftless installed in namespace {} ({variant})", opts.namespace))
}

/// Server-side applies the namespace (unless it exists) and every object,
/// as field manager `driftless`, printing a line for each.
pub(crate) async fn apply(client: &kube::Client, namespace: &str, objects: &[Value]) -> anyhow::Result<()> {
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
    if namespaces.get_opt(namespace).await.with_context(|| format!("read namespace {namespace}"))?.is_none() {
        let ns = json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": namespace } });
        apply_one(client, &ns).await?;
    }
    for obj in objects {
        apply_one(client, obj).await?;
    }
    Ok(())
}

async fn apply_one(client: &kube::Client, obj: &Value) -> anyhow::Result<()> {
    let (api_version, kind) = (obj["apiVersion"].as_str().unwrap_or_default(), obj["kind"].as_str().unwrap_or_default());
    let (name, ns) = (obj["metadata"]["name"].as_str().unwrap_or_default(), obj["metadata"]["namespace"].as_str());
    let what = match ns {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    };
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let (resource, _) = kube::discovery::pinned_kind(client, &GroupVersionKind::gvk(group, version, kind))
        .await
        .with_context(|| format!("apply {what}: the cluster does not serve {api_version} {kind}"))?;
    let api: kube::Api<DynamicObject> = match ns {
        Some(ns) => kube::Api::namespaced_with(client.clone(), ns, &resource),
        None => kube::Api::all_with(client.clone(), &resource),
    };
    api.patch(name, &PatchParams::apply("driftless").force(), &Patch::Apply(obj)).await.map_err(|e| {
        let hint = match &e {
            kube::Error::Api(s) if s.code == 403 => {
                " (the cluster-wide install needs cluster-admin; --namespace-scoped needs admin of the namespace)"
            }
            _ => "",
        };
        anyhow::anyhow!("apply {what}: {e}{hint}")
    })?;
    output::progress(&format!("{what} applied"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every file under `dir`, by its path relative to `dir` ("/"-separated).
    fn files_under(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).expect("read install/") {
            let path = entry.expect("an entry").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            if path.is_dir() {
                out.extend(files_under(&path).into_iter().map(|f| format!("{name}/{f}")));
            } else {
                out.push(name);
            }
        }
        out
    }

    fn install_dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../install")
    }

    fn opts(namespace: &str, namespace_scoped: bool) -> Options {
        Options { namespace: namespace.into(), namespace_scoped, ..Options::default() }
    }

    fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
        objects.iter().find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
    }

    #[test]
    fn every_file_of_the_install_tree_is_embedded() {
        let mut on_disk = files_under(&install_dir());
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "install/ and install::FILES differ: add the file to FILES");
    }

    #[test]
    fn the_crds_file_is_what_driftless_crds_prints() {
        let file = std::fs::read_to_string(install_dir().join("crds/crds.yaml")).expect("read install/crds/crds.yaml");
        assert!(
            file == crate::crds_yaml().expect("generate the CRDs"),
            "install/crds/crds.yaml is not the output of `driftless crds`: run `make manifests`"
        );
        let chart = install_dir().join("../charts/driftless/crds/crds.yaml");
        assert!(file == std::fs::read_to_string(chart).expect("read the chart's CRDs"), "the chart's CRDs differ: run `make manifests`");
    }

    #[test]
    fn the_manifests_image_is_this_version() {
        let objects = manifests(&opts(DEFAULT_NAMESPACE, false)).expect("build");
        let want = format!("ghcr.io/driftless-dev/driftless:v{}", env!("CARGO_PKG_VERSION"));
        let deployments: Vec<&Value> = objects.iter().filter(|o| o["kind"] == "Deployment").collect();
        assert_eq!(deployments.len(), 2);
        for d in deployments {
            assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], want.as_str(), "{}", d["metadata"]["name"]);
        }
    }

    #[test]
    fn the_cluster_wide_install_in_another_namespace_names_it_everywhere() {
        let objects =
            manifests(&Options { image: Some("registry.local:5000/driftless@sha256:ab".into()), ..opts("team-a", false) }).expect("build");
        assert!(objects[0]["kind"] == "CustomResourceDefinition", "CRDs come first: {}", objects[0]["kind"]);
        let binding = find(&objects, "ClusterRoleBinding", "driftless-controller-team-a").expect("a suffixed binding");
        assert_eq!(binding["roleRef"]["name"], "driftless-controller-team-a");
        assert_eq!(binding["subjects"][0]["namespace"], "team-a");
        assert!(find(&objects, "ClusterRole", "driftless-server-team-a").is_some());
        assert_eq!(find(&objects, "RoleBinding", "driftless-server").expect("the server's binding")["subjects"][0]["namespace"], "team-a");
        for o in objects.iter().filter(|o| o["metadata"]["namespace"].is_string()) {
            assert_eq!(o["metadata"]["namespace"], "team-a", "{} {}", o["kind"], o["metadata"]["name"]);
        }
        let server = find(&objects, "Deployment", "driftless-server").expect("the server");
        assert_eq!(server["spec"]["template"]["spec"]["containers"][0]["image"], "registry.local:5000/driftless@sha256:ab");
    }

    #[test]
    fn the_namespace_scoped_install_has_nothing_cluster_scoped() {
        let objects = manifests(&opts("team-b", true)).expect("build");
        for o in &objects {
            assert!(o["metadata"]["namespace"] == "team-b", "{} {} is not in the namespace", o["kind"], o["metadata"]["name"]);
        }
        let in_cluster = find(&objects, "Secret", "driftless-in-cluster").expect("the in-cluster Secret");
        assert_eq!(in_cluster["stringData"]["namespaces"], "team-b");
    }

    #[test]
    fn hostile_namespaces_and_images_are_refused_by_name() {
        for bad in ["", "Argocd", "-a", "a-", "a_b", "a/b", "a\nb", &"x".repeat(64), "ns\": \"x"] {
            let err = manifests(&opts(bad, false)).expect_err(bad).to_string();
            assert!(err.contains("--namespace"), "{err}");
        }
        for bad in ["", "a b", "img\n: x", "\u{7}"] {
            let err = manifests(&Options { image: Some(bad.into()), ..opts("ok", false) }).expect_err(bad).to_string();
            assert!(err.contains("--image"), "{err}");
        }
        // Random input never panics.
        let mut seed = 0x9e37_79b9_u32;
        for _ in 0..200 {
            let s: String = (0..(seed % 70))
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    char::from_u32(seed % 0x80).unwrap_or('a')
                })
                .collect();
            assert_eq!(driftless_api::is_dns_label(&s), manifests(&opts(&s, true)).is_ok(), "{s:?}");
        }
    }
}
