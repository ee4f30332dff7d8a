//! What every request shares: the cluster client, the app store, the
//! watched settings and AppProjects, the login throttle, and the
//! controller's comparison context (for diffs). Apps are looked up here
//! only, with tenancy and RBAC checked together, so that an app the caller
//! may not see answers exactly as one that does not exist.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use driftless_api::{AppProject, Application};
use kube::Resource as _;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use crate::auth::Identity;
use crate::auth::throttle::Throttle;
use crate::error::ApiError;
use crate::project_store::{ProjectStore, Snapshot};
use crate::rbac::{self, Enforcer, Policy};
use crate::settings::Settings;
use crate::store::AppStore;
use crate::{Config, Error};

/// How the API serves a kind.
pub type KindInfo = (kube::discovery::ApiResource, kube::discovery::ApiCapabilities);

/// How long a request waits for the first listing of apps.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// What the policy is built from.
type PolicyInputs = (Option<String>, Option<String>, u64);

/// The server's shared state.
pub struct AppState {
    /// The API server.
    pub client: kube::Client,
    /// How the server runs.
    pub config: Config,
    /// Every Application, in memory.
    pub store: Arc<AppStore>,
    /// argocd-cm, argocd-rbac-cm, argocd-secret.
    pub settings: Settings,
    /// Failed logins per username.
    pub throttle: Mutex<Throttle>,
    /// The engine, for renders, comparisons and clusters.
    pub compare: driftless_engine::Engine,
    /// Kubernetes Events on Applications.
    recorder: Recorder,
    /// API resources found per group/version/kind (None: not served).
    pub kinds: Mutex<HashMap<(String, String, String), Option<KindInfo>>>,
    /// The SSO provider, once discovered.
    pub oidc: crate::oidc::ProviderCache,
    /// The AppProjects of the control-plane namespace.
    pub projects: Arc<ProjectStore>,
    /// The policy and what it was built from: the resourceVersions of
    /// argocd-rbac-cm and argocd-cm, and the projects' version.
    policy: Mutex<Option<(PolicyInputs, Arc<Policy>)>>,
    /// Turns true when the server stops, ending the event streams (a
    /// graceful shutdown waits for every open connection).
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Watch tasks, stopped with the server.
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl AppState {
    /// Starts the watches and makes sure the signing key and the admin
    /// password exist.
    pub async fn start(client: kube::Client, config: Config) -> Result<Arc<AppState>, Error> {
        let settings_err = |source| Error::Settings { namespace: config.namespace().to_string(), source };
        let boot = crate::auth::accounts::bootstrap(&client, config.namespace()).await.map_err(settings_err)?;
        if let Some(password) = &boot.initial_password
            && config.print_initial_password
        {
            // Printed once, as the issue asks: this is the only way the
            // operator learns it besides reading the Secret.
            eprintln!(
                "driftless: initial password for user admin: {password} (kept in Secret {} in namespace {}; change it and delete that Secret)",
                crate::settings::INITIAL_ADMIN_SECRET,
                config.namespace()
            );
        }
        let store = AppStore::new();
        let (settings, mut tasks) = Settings::start(&client, config.namespace());
        settings.secret.set(boot.secret);
        // As the controller: the control plane alone unless apps may live
        // elsewhere, so that a namespace-scoped install needs no cluster-wide
        // list of Applications.
        let only = config.tenancy.app_namespaces.is_empty().then(|| config.namespace().to_string());
        tasks.push(tokio::spawn(Arc::clone(&store).run(client.clone(), only)));
        let projects = ProjectStore::new();
        tasks.push(tokio::spawn(Arc::clone(&projects).run(kube::Api::namespaced(client.clone(), config.namespace()))));
        let compare = driftless_engine::Engine::one_off(
            client.clone(),
            driftless_engine::EngineConfig {
                cache_dir: config.cache_dir.clone().unwrap_or_default(),
                tenancy: config.tenancy.clone(),
                ..Default::default()
            },
        );
        let recorder = Recorder::new(client.clone(), Reporter { controller: "driftless-server".into(), instance: None });
        if !settings.wait_ready(READY_TIMEOUT).await {
            tracing::warn!("settings of namespace {} not listed yet; going on with what is known", config.namespace());
        }
        if !projects.wait_ready(READY_TIMEOUT).await {
            tracing::warn!(
                "AppProjects of namespace {} not listed yet (is the CRD installed?); going on without their roles",
                config.namespace()
            );
        }
        Ok(Arc::new(AppState {
            client,
            config,
            store,
            settings,
            throttle: Mutex::default(),
            compare,
            recorder,
            kinds: Mutex::default(),
            oidc: tokio::sync::Mutex::new(None),
            projects,
            policy: Mutex::new(None),
            stopping: tokio::sync::watch::channel(false).0,
            tasks: Mutex::new(tasks),
        }))
    }

    /// Stops the watches.
    pub fn stop(&self) {
        for t in self.tasks.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            t.abort();
        }
    }

    /// The policy now: argocd-rbac-cm's (only the built-in roles when it is
    /// broken, with the error logged), the AppProjects' roles, and
    /// argocd-cm's `exec.enabled`.
    pub fn policy(&self) -> Arc<Policy> {
        let rbac_cm = self.settings.rbac_cm.get();
        let cm = self.settings.cm.get();
        let projects = self.projects.snapshot();
        let version = |c: &Option<Arc<k8s_openapi::api::core::v1::ConfigMap>>| c.as_ref().and_then(|c| c.metadata.resource_version.clone());
        let inputs = (version(&rbac_cm), version(&cm), projects.version);
        let mut cached = self.policy.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((v, p)) = cached.as_ref()
            && *v == inputs
        {
            return Arc::clone(p);
        }
        let data = rbac_cm.and_then(|c| c.data.clone()).unwrap_or_default();
        let mut policy = Policy::from_configmap(&data).unwrap_or_else(|e| {
            tracing::error!("{e}; only the built-in roles apply until it is fixed");
            Policy::builtin()
        });
        let exec = cm.and_then(|c| c.data.as_ref().and_then(|d| d.get("exec.enabled").cloned()));
        policy.enable_exec(exec.is_some_and(|v| v.trim() == "true"));
        for project in projects.items.values() {
            for e in policy.add_project(project) {
                tracing::error!("{e}: the line is ignored");
            }
        }
        let policy = Arc::new(policy);
        *cached = Some((inputs, Arc::clone(&policy)));
        policy
    }

    /// The rules of `policy` that apply to `who`: a project token's role
    /// alone, confined to its project; else the user's subjects.
    pub fn enforcer<'a>(&self, policy: &'a Policy, who: &Identity) -> Enforcer<'a> {
        match who.project_token() {
            Some((project, role)) => policy.for_project_token(project, role),
            None => policy.for_subjects(&who.subjects(policy.scopes())),
        }
    }

    /// Whether `who` may do `action` on `object` of `resource`.
    pub fn allowed(&self, policy: &Policy, who: &Identity, resource: &str, action: &str, object: &str) -> bool {
        self.enforcer(policy, who).allows(resource, action, object)
    }

    /// 403 unless `who` may do `action` on `object` of `resource`.
    pub fn enforce(&self, who: &Identity, resource: &str, action: &str, object: &str) -> Result<(), ApiError> {
        if self.allowed(&self.policy(), who, resource, action, object) {
            Ok(())
        } else {
            Err(ApiError::permission_denied(resource, action, object, &who.username))
        }
    }

    /// Whether a project token of `role` in `project`, issued at `iat`
    /// with id `id`, is still listed by its role.
    pub fn project_token_valid(&self, project: &str, role: &str, iat: i64, id: Option<&str>) -> bool {
        self.projects.get(project).is_some_and(|p| crate::project_tokens::valid(&p, role, iat, id))
    }

    /// The RBAC object of an app.
    pub fn app_object(&self, app: &Application) -> String {
        rbac::app_object(
            &app.spec.project,
            app.metadata.namespace.as_deref().unwrap_or_default(),
            app.metadata.name.as_deref().unwrap_or_default(),
            self.config.namespace(),
        )
    }

    /// Waits for the first listing of apps; 503 if it does not come.
    pub async fn apps_ready(&self) -> Result<(), ApiError> {
        if self.store.wait_ready(READY_TIMEOUT).await {
            Ok(())
        } else {
            Err(ApiError::new(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "Applications are not listed yet: is the Application CRD installed (`driftless crds | kubectl apply --server-side -f -`)?",
            ))
        }
    }

    /// The project `name` of the control-plane namespace: from the watched
    /// store, else read (one created a moment ago), the implicit `default`
    /// when that one does not exist.
    pub async fn project(&self, name: &str) -> Result<AppProject, driftless_engine::project::LoadError> {
        let name = if name.is_empty() { "default" } else { name };
        match self.projects.get(name) {
            Some(p) => Ok((*p).clone()),
            None => driftless_engine::project::load(&self.client, None, &self.config.tenancy, name).await,
        }
    }

    /// Why an app of `project` may not live in `namespace` (as the
    /// controller would refuse it), if it may not.
    pub async fn check_tenancy(&self, namespace: &str, project: &str) -> Result<(), String> {
        let tenancy = &self.config.tenancy;
        tenancy.check_namespace(namespace)?;
        if namespace == tenancy.control_plane {
            return Ok(());
        }
        let project = self.project(project).await.map_err(|e| e.to_string())?;
        tenancy.check_project(&project, namespace)
    }

    /// Whether the server shows `app` at all, judged from a snapshot of the
    /// projects (for lists and the stream): its namespace is the control
    /// plane's, or an enabled one its project lists in `sourceNamespaces`.
    pub fn app_visible(&self, app: &Application, projects: &Snapshot) -> bool {
        self.visible(app.metadata.namespace.as_deref().unwrap_or_default(), &app.spec.project, projects)
    }

    /// Whether an app (or ApplicationSet) of `project` in `namespace` is
    /// shown, judged from a snapshot of the projects: as [`AppState::app_visible`].
    pub fn visible(&self, namespace: &str, project: &str, projects: &Snapshot) -> bool {
        let tenancy = &self.config.tenancy;
        if namespace == tenancy.control_plane {
            return true;
        }
        let project = if project.is_empty() { "default" } else { project };
        projects.items.get(project).is_some_and(|p| tenancy.check_project(p, namespace).is_ok())
    }

    /// The app `namespace/name`, if `who` may do `action` on it. An app that
    /// does not exist, or lives where tenancy does not allow it, is refused
    /// exactly as an app the policy hides: the answer never tells them apart.
    pub async fn app(&self, who: &Identity, namespace: &str, name: &str, action: &str) -> Result<Arc<Application>, ApiError> {
        self.apps_ready().await?;
        let denied = || ApiError::permission_denied("applications", action, &format!("{namespace}/{name}"), &who.username);
        let app = match self.store.get(namespace, name) {
            Some(app) => app,
            // The watch may not have delivered an app created a moment ago:
            // ask the API server, so that a create is readable at once.
            None => kube::Api::<Application>::namespaced(self.client.clone(), namespace)
                .get_opt(name)
                .await
                .ok()
                .flatten()
                .map(Arc::new)
                .ok_or_else(denied)?,
        };
        if self.check_tenancy(namespace, &app.spec.project).await.is_err()
            || !self.allowed(&self.policy(), who, "applications", action, &self.app_object(&app))
        {
            return Err(denied());
        }
        Ok(app)
    }

    /// Records a Kubernetes Event on the app (audit); a failure is logged,
    /// not answered, since the action itself happened.
    pub async fn record(&self, app: &Application, reason: &str, action: &str, note: String) {
        let event = Event { type_: EventType::Normal, reason: reason.into(), note: Some(note), action: action.into(), secondary: None };
        if let Err(e) = self.recorder.publish(&event, &app.object_ref(&())).await {
            tracing::warn!("recording event {reason} on app {:?}: {e}", app.metadata.name);
        }
    }
}
