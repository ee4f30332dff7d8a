//! What every request shares: the cluster client, the app store, the
//! watched settings, the login throttle, and the controller's comparison
//! context (for diffs).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use driftless_api::Application;
use kube::Resource as _;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use crate::auth::Identity;
use crate::auth::throttle::Throttle;
use crate::error::ApiError;
use crate::rbac::{self, Policy};
use crate::settings::Settings;
use crate::store::AppStore;
use crate::{Config, Error};

/// How the API serves a kind.
pub type KindInfo = (kube::discovery::ApiResource, kube::discovery::ApiCapabilities);

/// How long a request waits for the first listing of apps.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

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
    /// The parsed policy and the argocd-rbac-cm resourceVersion it came from.
    policy: Mutex<Option<(Option<String>, Arc<Policy>)>>,
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
        tasks.push(tokio::spawn(Arc::clone(&store).run(client.clone())));
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

    /// The policy of argocd-rbac-cm now (only the built-in roles when it
    /// is broken, with the error logged).
    pub fn policy(&self) -> Arc<Policy> {
        let cm = self.settings.rbac_cm.get();
        let version = cm.as_ref().and_then(|c| c.metadata.resource_version.clone());
        let mut cached = self.policy.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((v, p)) = cached.as_ref()
            && *v == version
        {
            return Arc::clone(p);
        }
        let data = cm.and_then(|c| c.data.clone()).unwrap_or_default();
        let policy = Arc::new(Policy::from_configmap(&data).unwrap_or_else(|e| {
            tracing::error!("{e}; only the built-in roles apply until it is fixed");
            Policy::builtin()
        }));
        *cached = Some((version, Arc::clone(&policy)));
        policy
    }

    /// Whether `who` may do `action` on `object` of `resource`.
    pub fn allowed(&self, policy: &Policy, who: &Identity, resource: &str, action: &str, object: &str) -> bool {
        policy.enforce(&who.subjects(policy.scopes()), resource, action, object)
    }

    /// 403 unless `who` may do `action` on `object` of `resource`.
    pub fn enforce(&self, who: &Identity, resource: &str, action: &str, object: &str) -> Result<(), ApiError> {
        if self.allowed(&self.policy(), who, resource, action, object) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("permission denied: {resource}, {action}, {object}, sub: {}", who.username)))
        }
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
                "Applications are not listed yet: is the Application CRD installed (`driftless crds | kubectl apply -f -`)?",
            ))
        }
    }

    /// The app `namespace/name`, or 404; with `action` checked (403).
    pub async fn app(&self, who: &Identity, namespace: &str, name: &str, action: &str) -> Result<Arc<Application>, ApiError> {
        self.apps_ready().await?;
        let app = self
            .store
            .get(namespace, name)
            .ok_or_else(|| ApiError::not_found(format!("application {name:?} not found in namespace {namespace:?}")))?;
        self.enforce(who, "applications", action, &self.app_object(&app))?;
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
