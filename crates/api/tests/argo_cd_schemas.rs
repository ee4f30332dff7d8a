//! The generated CRD schemas hold every field of Argo CD's published CRDs
//! (`manifests/crds/application-crd.yaml`, `appproject-crd.yaml`,
//! `applicationset-crd.yaml`, Argo CD 3.x) with the same JSON type, so that
//! the API server neither rejects nor prunes an Argo CD manifest.
//!
//! The expected fields are written out below from Argo CD's CRD files,
//! type by type, and expanded at every place Argo CD uses the type (the
//! CRDs repeat a source at about fifteen places). Paths: `a.b` a property,
//! `a[]` the items of an array, `a{}` the values of a map. Types: the
//! OpenAPI type, `int-or-string`, `preserved-object` (an object whose
//! fields are kept as they are) and `any` (any JSON, kept as it is).
//!
//! A field inside an object that our schema keeps whole (the Application's
//! `status`, which only the controller writes: see `crd::application`) is
//! neither rejected nor pruned either, whatever its type.

use std::collections::BTreeMap;

use driftless_api::crd;
use serde_json::Value;

type Fields = &'static [(&'static str, &'static str)];

/// Collects expected fields: `add(prefix, fields)`.
#[derive(Default)]
struct Expected(Vec<(String, &'static str)>);

impl Expected {
    fn add(&mut self, prefix: &str, fields: Fields) -> &mut Self {
        for (path, ty) in fields {
            self.0.push((join(prefix, path), ty));
        }
        self
    }
    fn one(&mut self, path: &str, ty: &'static str) -> &mut Self {
        self.0.push((path.to_string(), ty));
        self
    }
}

fn join(prefix: &str, path: &str) -> String {
    match (prefix, path) {
        ("", p) => p.to_string(),
        (p, "") => p.to_string(),
        (p, q) if q.starts_with('[') || q.starts_with('{') => format!("{p}{q}"),
        (p, q) => format!("{p}.{q}"),
    }
}

const HELM: Fields = &[
    ("valueFiles", "array"),
    ("valueFiles[]", "string"),
    ("parameters", "array"),
    ("parameters[]", "object"),
    ("parameters[].name", "string"),
    ("parameters[].value", "string"),
    ("parameters[].forceString", "boolean"),
    ("releaseName", "string"),
    ("values", "string"),
    ("fileParameters", "array"),
    ("fileParameters[]", "object"),
    ("fileParameters[].name", "string"),
    ("fileParameters[].path", "string"),
    ("version", "string"),
    ("passCredentials", "boolean"),
    ("ignoreMissingValueFiles", "boolean"),
    ("skipCrds", "boolean"),
    ("valuesObject", "preserved-object"),
    ("namespace", "string"),
    ("kubeVersion", "string"),
    ("apiVersions", "array"),
    ("apiVersions[]", "string"),
    ("skipTests", "boolean"),
    ("skipSchemaValidation", "boolean"),
];

const KUSTOMIZE: Fields = &[
    ("namePrefix", "string"),
    ("nameSuffix", "string"),
    ("images", "array"),
    ("images[]", "string"),
    ("commonLabels", "object"),
    ("commonLabels{}", "string"),
    ("version", "string"),
    ("commonAnnotations", "object"),
    ("commonAnnotations{}", "string"),
    ("forceCommonLabels", "boolean"),
    ("forceCommonAnnotations", "boolean"),
    ("namespace", "string"),
    ("commonAnnotationsEnvsubst", "boolean"),
    ("replicas", "array"),
    ("replicas[]", "object"),
    ("replicas[].name", "string"),
    ("replicas[].count", "int-or-string"),
    ("patches", "array"),
    ("patches[]", "object"),
    ("patches[].path", "string"),
    ("patches[].patch", "string"),
    ("patches[].target", "object"),
    ("patches[].target.group", "string"),
    ("patches[].target.version", "string"),
    ("patches[].target.kind", "string"),
    ("patches[].target.name", "string"),
    ("patches[].target.namespace", "string"),
    ("patches[].target.annotationSelector", "string"),
    ("patches[].target.labelSelector", "string"),
    ("patches[].options", "object"),
    ("patches[].options{}", "boolean"),
    ("components", "array"),
    ("components[]", "string"),
    ("ignoreMissingComponents", "boolean"),
    ("labelWithoutSelector", "boolean"),
    ("kubeVersion", "string"),
    ("apiVersions", "array"),
    ("apiVersions[]", "string"),
    ("labelIncludeTemplates", "boolean"),
];

const JSONNET_VARS: Fields = &[("", "array"), ("[]", "object"), ("[].name", "string"), ("[].value", "string"), ("[].code", "boolean")];

const DIRECTORY: Fields = &[
    ("recurse", "boolean"),
    ("jsonnet", "object"),
    ("jsonnet.libs", "array"),
    ("jsonnet.libs[]", "string"),
    ("exclude", "string"),
    ("include", "string"),
    ("disableExtensionFilter", "boolean"),
];

const PLUGIN: Fields = &[
    ("name", "string"),
    ("env", "array"),
    ("env[]", "object"),
    ("env[].name", "string"),
    ("env[].value", "string"),
    ("parameters", "array"),
    ("parameters[]", "object"),
    ("parameters[].name", "string"),
    ("parameters[].string", "string"),
    ("parameters[].map", "object"),
    ("parameters[].map{}", "string"),
    ("parameters[].array", "array"),
    ("parameters[].array[]", "string"),
];

const SOURCE_SCALARS: Fields = &[
    ("repoURL", "string"),
    ("path", "string"),
    ("targetRevision", "string"),
    ("chart", "string"),
    ("ref", "string"),
    ("name", "string"),
    ("tagPrefix", "string"),
];

const DESTINATION: Fields = &[("server", "string"), ("namespace", "string"), ("name", "string")];

const RETRY: Fields = &[
    ("limit", "integer"),
    ("backoff", "object"),
    ("backoff.duration", "string"),
    ("backoff.factor", "integer"),
    ("backoff.maxDuration", "string"),
    ("refresh", "boolean"),
];

const IGNORE_DIFFERENCES: Fields = &[
    ("", "array"),
    ("[]", "object"),
    ("[].group", "string"),
    ("[].kind", "string"),
    ("[].name", "string"),
    ("[].namespace", "string"),
    ("[].jsonPointers", "array"),
    ("[].jsonPointers[]", "string"),
    ("[].jqPathExpressions", "array"),
    ("[].jqPathExpressions[]", "string"),
    ("[].managedFieldsManagers", "array"),
    ("[].managedFieldsManagers[]", "string"),
];

const INFO: Fields = &[("", "array"), ("[]", "object"), ("[].name", "string"), ("[].value", "string")];
const STRINGS: Fields = &[("", "array"), ("[]", "string")];
const STRING_MAP: Fields = &[("", "object"), ("{}", "string")];
const INITIATOR: Fields = &[("", "object"), ("username", "string"), ("automated", "boolean")];

const SYNC_OPERATION: Fields = &[
    ("revision", "string"),
    ("prune", "boolean"),
    ("dryRun", "boolean"),
    ("syncStrategy", "object"),
    ("syncStrategy.apply", "object"),
    ("syncStrategy.apply.force", "boolean"),
    ("syncStrategy.hook", "object"),
    ("syncStrategy.hook.force", "boolean"),
    ("resources", "array"),
    ("resources[]", "object"),
    ("resources[].group", "string"),
    ("resources[].kind", "string"),
    ("resources[].name", "string"),
    ("resources[].namespace", "string"),
    ("autoHealAttemptsCount", "integer"),
];

const RESOURCE_STATUS: Fields = &[
    ("", "array"),
    ("[]", "object"),
    ("[].group", "string"),
    ("[].version", "string"),
    ("[].kind", "string"),
    ("[].namespace", "string"),
    ("[].name", "string"),
    ("[].status", "string"),
    ("[].health", "object"),
    ("[].health.status", "string"),
    ("[].health.message", "string"),
    ("[].health.lastTransitionTime", "string"),
    ("[].hook", "boolean"),
    ("[].requiresPruning", "boolean"),
    ("[].syncWave", "integer"),
    ("[].requiresDeletionConfirmation", "boolean"),
];

const RESOURCE_RESULTS: Fields = &[
    ("", "array"),
    ("[]", "object"),
    ("[].group", "string"),
    ("[].version", "string"),
    ("[].kind", "string"),
    ("[].namespace", "string"),
    ("[].name", "string"),
    ("[].status", "string"),
    ("[].message", "string"),
    ("[].hookType", "string"),
    ("[].hookPhase", "string"),
    ("[].syncPhase", "string"),
    ("[].images", "array"),
    ("[].images[]", "string"),
];

const HYDRATE_OPERATION: Fields = &[
    ("startedAt", "string"),
    ("finishedAt", "string"),
    ("phase", "string"),
    ("message", "string"),
    ("drySHA", "string"),
    ("hydratedSHA", "string"),
];

fn source(e: &mut Expected, at: &str) {
    e.one(at, "object").add(at, SOURCE_SCALARS);
    source_options(e, at);
}

/// helm, kustomize, directory and plugin: a source's and a dry source's.
fn source_options(e: &mut Expected, at: &str) {
    e.one(&join(at, "helm"), "object").add(&join(at, "helm"), HELM);
    e.one(&join(at, "kustomize"), "object").add(&join(at, "kustomize"), KUSTOMIZE);
    e.one(&join(at, "directory"), "object").add(&join(at, "directory"), DIRECTORY);
    e.add(&join(at, "directory.jsonnet.extVars"), JSONNET_VARS).add(&join(at, "directory.jsonnet.tlas"), JSONNET_VARS);
    e.one(&join(at, "plugin"), "object").add(&join(at, "plugin"), PLUGIN);
}

fn sources(e: &mut Expected, at: &str) {
    e.one(at, "array");
    source(e, &join(at, "[]"));
}

fn hydrator(e: &mut Expected, at: &str) {
    e.one(at, "object");
    let dry = join(at, "drySource");
    e.one(&dry, "object").add(&dry, &[("repoURL", "string"), ("targetRevision", "string"), ("path", "string")]);
    source_options(e, &dry);
    e.add(
        at,
        &[("syncSource", "object"), ("syncSource.targetBranch", "string"), ("syncSource.path", "string"), ("syncSource.repoURL", "string")],
    );
    e.add(at, &[("hydrateTo", "object"), ("hydrateTo.targetBranch", "string")]);
}

fn managed_namespace_metadata(e: &mut Expected, at: &str) {
    e.one(at, "object").add(&join(at, "labels"), STRING_MAP).add(&join(at, "annotations"), STRING_MAP);
}

fn app_spec(e: &mut Expected, at: &str) {
    e.one(at, "object");
    source(e, &join(at, "source"));
    sources(e, &join(at, "sources"));
    e.one(&join(at, "destination"), "object").add(&join(at, "destination"), DESTINATION);
    e.one(&join(at, "project"), "string");
    let policy = join(at, "syncPolicy");
    e.one(&policy, "object").add(
        &policy,
        &[
            ("automated", "object"),
            ("automated.prune", "boolean"),
            ("automated.selfHeal", "boolean"),
            ("automated.allowEmpty", "boolean"),
            ("automated.enabled", "boolean"),
        ],
    );
    e.add(&join(&policy, "syncOptions"), STRINGS).one(&join(&policy, "retry"), "object").add(&join(&policy, "retry"), RETRY);
    managed_namespace_metadata(e, &join(&policy, "managedNamespaceMetadata"));
    e.add(&join(at, "ignoreDifferences"), IGNORE_DIFFERENCES).add(&join(at, "info"), INFO);
    e.one(&join(at, "revisionHistoryLimit"), "integer");
    hydrator(e, &join(at, "sourceHydrator"));
}

fn operation(e: &mut Expected, at: &str) {
    e.one(at, "object");
    let sync = join(at, "sync");
    e.one(&sync, "object").add(&sync, SYNC_OPERATION);
    source(e, &join(&sync, "source"));
    sources(e, &join(&sync, "sources"));
    for list in ["manifests", "syncOptions", "revisions"] {
        e.add(&join(&sync, list), STRINGS);
    }
    e.add(&join(at, "initiatedBy"), INITIATOR).add(&join(at, "info"), INFO);
    e.one(&join(at, "retry"), "object").add(&join(at, "retry"), RETRY);
}

fn app_status(e: &mut Expected, at: &str) {
    e.one(at, "object").add(&join(at, "resources"), RESOURCE_STATUS);
    let sync = join(at, "sync");
    e.one(&sync, "object").add(&sync, &[("status", "string"), ("revision", "string"), ("comparedTo", "object")]);
    e.add(&join(&sync, "revisions"), STRINGS);
    let compared = join(&sync, "comparedTo");
    source(e, &join(&compared, "source"));
    sources(e, &join(&compared, "sources"));
    e.one(&join(&compared, "destination"), "object").add(&join(&compared, "destination"), DESTINATION);
    e.add(&join(&compared, "ignoreDifferences"), IGNORE_DIFFERENCES);
    e.add(at, &[("health", "object"), ("health.status", "string"), ("health.message", "string"), ("health.lastTransitionTime", "string")]);
    let history = join(at, "history[]");
    e.one(&join(at, "history"), "array");
    e.one(&history, "object")
        .add(&history, &[("revision", "string"), ("deployedAt", "string"), ("id", "integer"), ("deployStartedAt", "string")]);
    source(e, &join(&history, "source"));
    sources(e, &join(&history, "sources"));
    e.add(&join(&history, "revisions"), STRINGS).add(&join(&history, "initiatedBy"), INITIATOR);
    e.add(
        &join(at, "conditions"),
        &[("", "array"), ("[]", "object"), ("[].type", "string"), ("[].message", "string"), ("[].lastTransitionTime", "string")],
    );
    e.add(
        at,
        &[
            ("reconciledAt", "string"),
            ("observedAt", "string"),
            ("sourceType", "string"),
            ("resourceHealthSource", "string"),
            ("controllerNamespace", "string"),
            ("summary", "object"),
        ],
    );
    e.add(&join(at, "sourceTypes"), STRINGS).add(&join(at, "summary.externalURLs"), STRINGS).add(&join(at, "summary.images"), STRINGS);
    e.one(&join(at, "summary.isAppOfApps"), "boolean");
    let state = join(at, "operationState");
    e.one(&state, "object").add(
        &state,
        &[("phase", "string"), ("message", "string"), ("startedAt", "string"), ("finishedAt", "string"), ("retryCount", "integer")],
    );
    operation(e, &join(&state, "operation"));
    let result = join(&state, "syncResult");
    e.one(&result, "object").one(&join(&result, "revision"), "string").add(&join(&result, "resources"), RESOURCE_RESULTS);
    source(e, &join(&result, "source"));
    sources(e, &join(&result, "sources"));
    e.add(&join(&result, "revisions"), STRINGS);
    managed_namespace_metadata(e, &join(&result, "managedNamespaceMetadata"));
    let hydration = join(at, "sourceHydrator");
    e.one(&hydration, "object");
    let last = join(&hydration, "lastSuccessfulOperation");
    e.one(&last, "object").add(&last, &[("drySHA", "string"), ("hydratedSHA", "string")]);
    hydrator(e, &join(&last, "sourceHydrator"));
    let current = join(&hydration, "currentOperation");
    e.one(&current, "object").add(&current, HYDRATE_OPERATION);
    hydrator(e, &join(&current, "sourceHydrator"));
}

fn application() -> Expected {
    let mut e = Expected::default();
    e.add("", &[("apiVersion", "string"), ("kind", "string"), ("metadata", "object")]);
    app_spec(&mut e, "spec");
    app_status(&mut e, "status");
    operation(&mut e, "operation");
    e
}

const GROUP_KINDS: Fields = &[("", "array"), ("[]", "object"), ("[].group", "string"), ("[].kind", "string")];
const CLUSTER_RESOURCES: Fields = &[("", "array"), ("[]", "object"), ("[].group", "string"), ("[].kind", "string"), ("[].name", "string")];
const JWT_TOKENS: Fields = &[("", "array"), ("[]", "object"), ("[].iat", "integer"), ("[].exp", "integer"), ("[].id", "string")];
const INTEGRITY_REPOS: Fields = &[("", "array"), ("[]", "object"), ("[].url", "string")];

fn app_project() -> Expected {
    let mut e = Expected::default();
    e.add("", &[("apiVersion", "string"), ("kind", "string"), ("metadata", "object"), ("spec", "object")]);
    e.add("spec.sourceRepos", STRINGS).add("spec.sourceNamespaces", STRINGS);
    e.add("spec.destinations", &[("", "array"), ("[]", "object")]).add("spec.destinations[]", DESTINATION);
    e.add("spec", &[("description", "string"), ("permitOnlyProjectScopedClusters", "boolean")]);
    e.add("spec.roles", &[("", "array"), ("[]", "object"), ("[].name", "string"), ("[].description", "string")]);
    e.add("spec.roles[].policies", STRINGS).add("spec.roles[].groups", STRINGS).add("spec.roles[].jwtTokens", JWT_TOKENS);
    e.add("spec.clusterResourceWhitelist", CLUSTER_RESOURCES).add("spec.clusterResourceBlacklist", CLUSTER_RESOURCES);
    e.add("spec.namespaceResourceWhitelist", GROUP_KINDS).add("spec.namespaceResourceBlacklist", GROUP_KINDS);
    e.add(
        "spec.orphanedResources",
        &[
            ("", "object"),
            ("warn", "boolean"),
            ("ignore", "array"),
            ("ignore[]", "object"),
            ("ignore[].group", "string"),
            ("ignore[].kind", "string"),
            ("ignore[].name", "string"),
        ],
    );
    e.add(
        "spec.syncWindows",
        &[
            ("", "array"),
            ("[]", "object"),
            ("[].kind", "string"),
            ("[].schedule", "string"),
            ("[].duration", "string"),
            ("[].manualSync", "boolean"),
            ("[].timeZone", "string"),
            ("[].andOperator", "boolean"),
            ("[].description", "string"),
        ],
    );
    for list in ["applications", "namespaces", "clusters"] {
        e.add(&format!("spec.syncWindows[].{list}"), STRINGS);
    }
    e.add("spec.signatureKeys", &[("", "array"), ("[]", "object"), ("[].keyID", "string")]);
    e.add(
        "spec.destinationServiceAccounts",
        &[("", "array"), ("[]", "object"), ("[].server", "string"), ("[].namespace", "string"), ("[].defaultServiceAccount", "string")],
    );
    e.add("spec.sourceIntegrity", &[("", "object"), ("git", "object"), ("git.policies", "array"), ("git.policies[]", "object")]);
    e.add("spec.sourceIntegrity.git.policies[].repos", INTEGRITY_REPOS);
    e.add("spec.sourceIntegrity.git.policies[]", &[("gpg", "object"), ("gpg.mode", "string")]);
    e.add("spec.sourceIntegrity.git.policies[].gpg.keys", STRINGS);
    e.add("spec.sourceIntegrity", &[("helm", "object"), ("helm.policies", "array"), ("helm.policies[]", "object")]);
    e.add("spec.sourceIntegrity.helm.policies[].repos", INTEGRITY_REPOS);
    e.add("spec.sourceIntegrity.helm.policies[]", &[("provenance", "object")])
        .add("spec.sourceIntegrity.helm.policies[].provenance.keys", STRINGS);
    e.add("status", &[("", "object"), ("jwtTokensByRole", "object"), ("jwtTokensByRole{}", "object")]);
    e.add("status.jwtTokensByRole{}.items", JWT_TOKENS);
    e
}

fn template(e: &mut Expected, at: &str) {
    e.one(at, "object");
    let meta = join(at, "metadata");
    e.one(&meta, "object").add(&meta, &[("name", "string"), ("namespace", "string")]);
    e.add(&join(&meta, "labels"), STRING_MAP).add(&join(&meta, "annotations"), STRING_MAP).add(&join(&meta, "finalizers"), STRINGS);
    app_spec(e, &join(at, "spec"));
}

fn label_selector(e: &mut Expected, at: &str) {
    e.one(at, "object").add(&join(at, "matchLabels"), STRING_MAP);
    e.add(&join(at, "matchExpressions"), &[("", "array"), ("[]", "object"), ("[].key", "string"), ("[].operator", "string")]);
    e.add(&join(at, "matchExpressions[].values"), STRINGS);
}

const SECRET_REF: Fields = &[("", "object"), ("secretName", "string"), ("key", "string")];
const CA_REF: Fields = &[("", "object"), ("configMapName", "string"), ("key", "string")];

/// `basicAuth` and `bearerToken` of the Bitbucket providers.
fn bitbucket_auth(e: &mut Expected, at: &str) {
    e.add(&join(at, "basicAuth"), &[("", "object"), ("username", "string")]).add(&join(at, "basicAuth.passwordRef"), SECRET_REF);
    e.one(&join(at, "bearerToken"), "object").add(&join(at, "bearerToken.tokenRef"), SECRET_REF);
}

fn scm_provider(e: &mut Expected, at: &str) {
    let p = |name: &str| join(at, name);
    e.one(at, "object").add(at, &[("cloneProtocol", "string"), ("requeueAfterSeconds", "integer")]);
    e.add(&p("values"), STRING_MAP);
    template(e, &p("template"));
    e.add(
        &p("github"),
        &[("", "object"), ("organization", "string"), ("api", "string"), ("appSecretName", "string"), ("allBranches", "boolean")],
    );
    e.add(&p("github.tokenRef"), SECRET_REF);
    e.add(
        &p("gitlab"),
        &[
            ("", "object"),
            ("group", "string"),
            ("includeSubgroups", "boolean"),
            ("api", "string"),
            ("allBranches", "boolean"),
            ("insecure", "boolean"),
            ("includeSharedProjects", "boolean"),
            ("topic", "string"),
        ],
    );
    e.add(&p("gitlab.tokenRef"), SECRET_REF).add(&p("gitlab.caRef"), CA_REF);
    e.add(&p("bitbucket"), &[("", "object"), ("owner", "string"), ("user", "string"), ("allBranches", "boolean")]);
    e.add(&p("bitbucket.appPasswordRef"), SECRET_REF);
    e.add(
        &p("bitbucketServer"),
        &[("", "object"), ("project", "string"), ("api", "string"), ("allBranches", "boolean"), ("insecure", "boolean")],
    );
    bitbucket_auth(e, &p("bitbucketServer"));
    e.add(&p("bitbucketServer.caRef"), CA_REF);
    e.add(&p("gitea"), &[("", "object"), ("owner", "string"), ("api", "string"), ("allBranches", "boolean"), ("insecure", "boolean")]);
    e.add(&p("gitea.tokenRef"), SECRET_REF);
    e.add(
        &p("azureDevOps"),
        &[("", "object"), ("organization", "string"), ("api", "string"), ("teamProject", "string"), ("allBranches", "boolean")],
    );
    e.add(&p("azureDevOps.accessTokenRef"), SECRET_REF);
    e.add(&p("awsCodeCommit"), &[("", "object"), ("role", "string"), ("region", "string"), ("allBranches", "boolean")]);
    e.add(&p("awsCodeCommit.tagFilters"), &[("", "array"), ("[]", "object"), ("[].key", "string"), ("[].value", "string")]);
    e.add(
        &p("filters"),
        &[("", "array"), ("[]", "object"), ("[].repositoryMatch", "string"), ("[].labelMatch", "string"), ("[].branchMatch", "string")],
    );
    e.add(&p("filters[].pathsExist"), STRINGS).add(&p("filters[].pathsDoNotExist"), STRINGS);
}

fn pull_request(e: &mut Expected, at: &str) {
    let p = |name: &str| join(at, name);
    e.one(at, "object").one(&p("requeueAfterSeconds"), "integer");
    template(e, &p("template"));
    e.add(&p("github"), &[("", "object"), ("owner", "string"), ("repo", "string"), ("api", "string"), ("appSecretName", "string")]);
    e.add(&p("github.tokenRef"), SECRET_REF).add(&p("github.labels"), STRINGS);
    e.add(
        &p("gitlab"),
        &[("", "object"), ("project", "string"), ("api", "string"), ("pullRequestState", "string"), ("insecure", "boolean")],
    );
    e.add(&p("gitlab.tokenRef"), SECRET_REF).add(&p("gitlab.labels"), STRINGS).add(&p("gitlab.caRef"), CA_REF);
    e.add(&p("gitea"), &[("", "object"), ("owner", "string"), ("repo", "string"), ("api", "string"), ("insecure", "boolean")]);
    e.add(&p("gitea.tokenRef"), SECRET_REF).add(&p("gitea.labels"), STRINGS).add(&p("values"), STRING_MAP);
    e.add(&p("bitbucketServer"), &[("", "object"), ("project", "string"), ("repo", "string"), ("api", "string"), ("insecure", "boolean")]);
    bitbucket_auth(e, &p("bitbucketServer"));
    e.add(&p("bitbucketServer.caRef"), CA_REF);
    e.add(&p("bitbucket"), &[("", "object"), ("owner", "string"), ("repo", "string"), ("api", "string")]);
    bitbucket_auth(e, &p("bitbucket"));
    e.add(&p("azuredevops"), &[("", "object"), ("organization", "string"), ("project", "string"), ("repo", "string"), ("api", "string")]);
    e.add(&p("azuredevops.tokenRef"), SECRET_REF).add(&p("azuredevops.labels"), STRINGS);
    e.add(&p("filters"), &[("", "array"), ("[]", "object"), ("[].branchMatch", "string"), ("[].targetBranchMatch", "string")]);
}

/// The generators allowed at every level (not matrix and merge).
fn base_generators(e: &mut Expected, at: &str) {
    let p = |name: &str| join(at, name);
    e.one(at, "object");
    e.add(&p("list"), &[("", "object"), ("elements", "array"), ("elements[]", "any"), ("elementsYaml", "string")]);
    template(e, &p("list.template"));
    e.one(&p("clusters"), "object").add(&p("clusters.values"), STRING_MAP);
    label_selector(e, &p("clusters.selector"));
    template(e, &p("clusters.template"));
    e.add(
        &p("git"),
        &[("", "object"), ("repoURL", "string"), ("revision", "string"), ("requeueAfterSeconds", "integer"), ("pathParamPrefix", "string")],
    );
    e.add(&p("git.directories"), &[("", "array"), ("[]", "object"), ("[].path", "string"), ("[].exclude", "boolean")]);
    e.add(&p("git.files"), &[("", "array"), ("[]", "object"), ("[].path", "string")]).add(&p("git.values"), STRING_MAP);
    template(e, &p("git.template"));
    scm_provider(e, &p("scmProvider"));
    e.add(
        &p("clusterDecisionResource"),
        &[("", "object"), ("configMapRef", "string"), ("name", "string"), ("requeueAfterSeconds", "integer")],
    );
    label_selector(e, &p("clusterDecisionResource.labelSelector"));
    e.add(&p("clusterDecisionResource.values"), STRING_MAP);
    template(e, &p("clusterDecisionResource.template"));
    pull_request(e, &p("pullRequest"));
    e.add(&p("plugin"), &[("", "object"), ("configMapRef", "object"), ("configMapRef.name", "string"), ("requeueAfterSeconds", "integer")]);
    e.add(&p("plugin.input"), &[("", "object"), ("parameters", "object"), ("parameters{}", "any")]).add(&p("plugin.values"), STRING_MAP);
    template(e, &p("plugin.template"));
    label_selector(e, &p("selector"));
}

fn application_set() -> Expected {
    let mut e = Expected::default();
    e.add("", &[("apiVersion", "string"), ("kind", "string"), ("metadata", "object")]);
    e.add(
        "spec",
        &[
            ("", "object"),
            ("goTemplate", "boolean"),
            ("applyNestedSelectors", "boolean"),
            ("templatePatch", "string"),
            ("generators", "array"),
        ],
    );
    e.add("spec.goTemplateOptions", STRINGS);
    template(&mut e, "spec.template");
    e.add("spec.syncPolicy", &[("", "object"), ("preserveResourcesOnDeletion", "boolean"), ("applicationsSync", "string")]);
    e.add(
        "spec.strategy",
        &[
            ("", "object"),
            ("type", "string"),
            ("deletionOrder", "string"),
            ("rollingSync", "object"),
            ("rollingSync.steps", "array"),
            ("rollingSync.steps[]", "object"),
        ],
    );
    let step = "spec.strategy.rollingSync.steps[]";
    e.one(&join(step, "maxUpdate"), "int-or-string");
    e.add(&join(step, "matchExpressions"), &[("", "array"), ("[]", "object"), ("[].key", "string"), ("[].operator", "string")]);
    e.add(&join(step, "matchExpressions[].values"), STRINGS);
    e.one("spec.preservedFields", "object").add("spec.preservedFields.annotations", STRINGS).add("spec.preservedFields.labels", STRINGS);
    e.add("spec.ignoreApplicationDifferences", &[("", "array"), ("[]", "object"), ("[].name", "string")]);
    e.add("spec.ignoreApplicationDifferences[].jsonPointers", STRINGS)
        .add("spec.ignoreApplicationDifferences[].jqPathExpressions", STRINGS);
    let top = "spec.generators[]";
    base_generators(&mut e, top);
    for combination in ["matrix", "merge"] {
        let c = join(top, combination);
        e.add(&c, &[("", "object"), ("generators", "array")]);
        template(&mut e, &join(&c, "template"));
        let nested = join(&c, "generators[]");
        base_generators(&mut e, &nested);
        e.add(&nested, &[("matrix", "any"), ("merge", "any")]);
    }
    e.add(&join(top, "merge.mergeKeys"), STRINGS);
    e.one("status", "object");
    e.add(
        "status.conditions",
        &[
            ("", "array"),
            ("[]", "object"),
            ("[].type", "string"),
            ("[].message", "string"),
            ("[].lastTransitionTime", "string"),
            ("[].status", "string"),
            ("[].reason", "string"),
        ],
    );
    e.add(
        "status.applicationStatus",
        &[
            ("", "array"),
            ("[]", "object"),
            ("[].application", "string"),
            ("[].lastTransitionTime", "string"),
            ("[].message", "string"),
            ("[].status", "string"),
            ("[].step", "string"),
        ],
    );
    e.add("status.applicationStatus[].targetRevisions", STRINGS).add("status.resources", RESOURCE_STATUS);
    e
}

/// Every (path, type) of a schema.
fn walk(schema: &Value, path: &str, out: &mut BTreeMap<String, String>) {
    let ty = if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        "int-or-string".to_string()
    } else {
        let preserved = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
        match (schema.get("type").and_then(Value::as_str), preserved) {
            (Some("object"), true) => "preserved-object".to_string(),
            (None, true) => "any".to_string(),
            (Some(t), _) => t.to_string(),
            (None, false) => "untyped".to_string(),
        }
    };
    if !path.is_empty() {
        out.insert(path.to_string(), ty);
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, s) in props {
            walk(s, &join(path, name), out);
        }
    }
    if let Some(items) = schema.get("items") {
        walk(items, &format!("{path}[]"), out);
    }
    if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        walk(values, &format!("{path}{{}}"), out);
    }
}

fn generated(kind: &str) -> BTreeMap<String, String> {
    let crd = crd::all().into_iter().find(|c| c.spec.names.kind == kind).unwrap_or_else(|| panic!("no CRD for {kind}"));
    let schema = serde_json::to_value(&crd.spec.versions[0].schema.as_ref().unwrap().open_api_v3_schema).unwrap();
    let mut out = BTreeMap::new();
    walk(&schema, "", &mut out);
    out
}

/// Every expected field missing from the generated schema or of another type.
fn differences(kind: &str, expected: &Expected) -> Vec<String> {
    let ours = generated(kind);
    let kept_whole = |path: &str| {
        let mut at = path;
        while !at.is_empty() {
            if ours.get(at).map(String::as_str) == Some("preserved-object") {
                return true;
            }
            at = at.rfind(['.', '[', '{']).map_or("", |i| &at[..i]);
        }
        false
    };
    let mut problems = Vec::new();
    for (path, ty) in &expected.0 {
        if kept_whole(path) {
            continue;
        }
        match ours.get(path) {
            None => problems.push(format!("{kind}: {path} ({ty}) is missing")),
            Some(t) if t != ty => problems.push(format!("{kind}: {path} is {t}, Argo CD's is {ty}")),
            Some(_) => {}
        }
    }
    problems.dedup();
    problems
}

#[test]
fn the_application_crd_has_every_field_of_argo_cds_with_its_type() {
    let problems = differences("Application", &application());
    assert!(problems.is_empty(), "{} fields differ from Argo CD's:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn the_appproject_crd_has_every_field_of_argo_cds_with_its_type() {
    let problems = differences("AppProject", &app_project());
    assert!(problems.is_empty(), "{} fields differ from Argo CD's:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn the_applicationset_crd_has_every_field_of_argo_cds_with_its_type() {
    let problems = differences("ApplicationSet", &application_set());
    assert!(problems.is_empty(), "{} fields differ from Argo CD's:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn the_expected_lists_are_not_vacuous() {
    // A walk that found nothing, or lists that expand to nothing, would
    // pass the tests above without checking anything.
    assert!(application().0.len() > 1500, "{}", application().0.len());
    assert!(app_project().0.len() > 80, "{}", app_project().0.len());
    assert!(application_set().0.len() > 9000, "{}", application_set().0.len());
    let ours = generated("Application");
    assert_eq!(ours.get("spec.source.kustomize.replicas[].count").map(String::as_str), Some("int-or-string"));
    assert_eq!(ours.get("spec.source.helm.valuesObject").map(String::as_str), Some("preserved-object"));
    // What users write is checked by the server; the status the controller
    // writes is kept whole, and nothing under it is typed.
    assert_eq!(ours.get("status").map(String::as_str), Some("preserved-object"));
    assert!(!ours.keys().any(|p| p.starts_with("status.")), "the status is not walked");
    assert_eq!(ours.get("operation.sync.source.repoURL").map(String::as_str), Some("string"));
    assert_eq!(ours.get("spec.syncPolicy.automated.prune").map(String::as_str), Some("boolean"));
}

#[test]
fn the_applicationset_crd_is_namespaced_with_status_and_argo_cds_names() {
    let crd = crd::all().into_iter().find(|c| c.spec.names.kind == "ApplicationSet").unwrap();
    assert_eq!(crd.metadata.name.as_deref(), Some("applicationsets.argoproj.io"));
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(crd.spec.names.short_names.as_deref(), Some(&["appset".to_string(), "appsets".to_string()][..]));
    assert!(crd.spec.versions[0].subresources.as_ref().and_then(|s| s.status.as_ref()).is_some());
}
