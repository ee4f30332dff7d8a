//! Dependencies between Applications in the loop (`driftless.dev/depends-on`,
//! judged by [`driftless_engine::dependencies`]): an app whose dependencies
//! are not ready does not sync ([`within_dependencies`], pure), the apps that
//! wait are woken by their dependencies' status writes ([`Waker`]), and a
//! cascading deletion waits for the apps that depend on the app
//! ([`wait_for_dependents`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use driftless_api::{Application, ApplicationStatus, condition};
use driftless_engine::dependencies::{
    ANNOTATION_DEPENDS_ON, ANNOTATION_DEPENDS_ON_READY, AppKey, Apps, Assessment, Dependencies, DependencyError, default_readiness,
};
use driftless_engine::status;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;

use crate::reconcile::{Context, Decision, Origin, ReconcileError};
use crate::writer::AppWriter;

/// Every Application the controller sees.
pub(crate) fn all_apps(stores: &[Store<Application>]) -> Vec<Arc<Application>> {
    stores.iter().flat_map(Store::state).collect()
}

/// What `app` waits for, among the apps the controller sees. Most apps
/// declare nothing: they cost no copy of the store.
pub(crate) fn assess(app: &Application, stores: &[Store<Application>]) -> driftless_engine::dependencies::Assessment {
    if !app.annotations().contains_key(driftless_engine::dependencies::ANNOTATION_DEPENDS_ON) {
        return Default::default();
    }
    driftless_engine::dependencies::assess(app, &all_apps(stores))
}

/// The dependencies' say on a decision (pure, after the windows and
/// policies): while they are not ready, automation does not start and a
/// requested sync waits with its request kept (it runs once they are),
/// unless it is forced (`syncStrategy.{apply,hook}.force`, the CLI's
/// `--force`). A requested sync of an app whose dependencies cannot be
/// judged (bad annotation, a cycle) is refused with the reason. A sync a
/// restart interrupted goes on regardless: it started once they were ready.
pub fn within_dependencies(decision: Decision, deps: &Assessment) -> Decision {
    let Decision::Run(op, origin) = &decision else { return decision };
    let forced = op.sync.as_ref().is_some_and(crate::operation::strategy_forces);
    match (origin, &deps.error) {
        _ if deps.ready() => decision,
        (Origin::Resumed, _) => decision,
        (Origin::Requested, _) if forced => decision,
        (Origin::Requested, Some(e)) => Decision::Refuse(format!("cannot sync: {e}")),
        _ => Decision::Nothing,
    }
}

/// Shows on `status` what the app waits for (DependencyNotReady) or why its
/// dependencies cannot be judged (DependencyError); cleared once ready.
pub(crate) fn show(status: &mut ApplicationStatus, deps: &Assessment) {
    match &deps.error {
        Some(e) => status::set_condition(status, condition::DEPENDENCY_ERROR, e.to_string()),
        None => status::clear_condition(status, condition::DEPENDENCY_ERROR),
    }
    match deps.waiting() {
        Some(waiting) => status::set_condition(status, condition::DEPENDENCY_NOT_READY, waiting),
        None => status::clear_condition(status, condition::DEPENDENCY_NOT_READY),
    }
}

/// What of an app wakes its reconcile besides spec and operation: its
/// dependency annotations (for [`crate::reconcile::trigger_hash`]).
pub(crate) fn trigger_part(app: &Application) -> [Option<&String>; 2] {
    let a = app.annotations();
    [a.get(ANNOTATION_DEPENDS_ON), a.get(ANNOTATION_DEPENDS_ON_READY)]
}

/// Deletion in reverse order: with cascade, the app's resources are deleted
/// only once no other app depends on it (an app's CRDs outlive the
/// operator that needs them). Says so with a DependentsExist condition and
/// returns what to do meanwhile; the Delete event of a dependent wakes the
/// app ([`Waker`]). Apps of a cycle with it do not hold it (each would wait
/// for the other).
pub(crate) async fn wait_for_dependents(ctx: &Context, app: &Application, writer: &AppWriter) -> Result<Option<Action>, ReconcileError> {
    let all = all_apps(&ctx.apps);
    let apps = Apps::new(&all);
    let in_cycle = matches!(driftless_engine::dependencies::assess_in(app, &apps).error, Some(DependencyError::Cycle(_)));
    let dependents = if in_cycle { Vec::new() } else { apps.dependents_of(&AppKey::of(app)) };
    let mut status = app.status.clone().unwrap_or_default();
    if dependents.is_empty() {
        status::clear_condition(&mut status, condition::DEPENDENTS_EXIST);
    } else {
        let names: Vec<String> = dependents.iter().map(ToString::to_string).collect();
        let message = format!("deletion waits until the apps that depend on it are gone: {}", names.join(", "));
        status::set_condition(&mut status, condition::DEPENDENTS_EXIST, message);
    }
    if app.status.as_ref() != Some(&status) && (app.status.is_some() || !dependents.is_empty()) {
        writer.write(&status).await?;
    }
    Ok((!dependents.is_empty()).then(|| Action::requeue(ctx.config.resync)))
}

/// Wakes the apps that wait on an app when its readiness changes, from the
/// Application watch: each status write of any app passes here, so the
/// work is bounded by the apps that declare dependencies (most declare
/// none), never by all apps. Only a change of its default readiness (Synced
/// and Healthy at its spec, or why not: what the waiting apps show) looks
/// at every app that declares dependencies; otherwise only the apps whose
/// readiness is a CEL expression (which may read any field) are checked.
pub(crate) struct Waker {
    apps: Vec<Store<Application>>,
    routes: driftless_engine::live::Routes,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    /// Each app's default readiness and why, as last seen.
    ready: HashMap<ObjectRef<Application>, (bool, String)>,
    /// The apps that declare dependencies (`depends-on`).
    declaring: HashSet<ObjectRef<Application>>,
    /// Those of them with a readiness expression.
    expressions: HashSet<ObjectRef<Application>>,
}

impl Waker {
    pub(crate) fn new(apps: Vec<Store<Application>>, routes: driftless_engine::live::Routes) -> Waker {
        Waker { apps, routes, seen: Mutex::default() }
    }

    /// Looks at one event of the Application watch.
    pub(crate) fn observe(&self, event: &watcher::Event<Application>) {
        match event {
            watcher::Event::InitApply(app) => {
                // Every app is reconciled after a (re)listing anyway.
                self.note(app);
            }
            watcher::Event::Apply(app) => {
                let maybe_waiting = self.note(app);
                if !maybe_waiting.is_empty() {
                    let key = AppKey::of(app);
                    self.wake(self.get(&maybe_waiting).iter().filter(|a| depends_on(a, &key)));
                }
            }
            watcher::Event::Delete(app) => {
                let r = ObjectRef::from_obj(app);
                {
                    let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                    seen.ready.remove(&r);
                    seen.declaring.remove(&r);
                    seen.expressions.remove(&r);
                }
                let key = AppKey::of(app);
                // Its dependents now miss it; what it depended on (any app)
                // may be waiting to be deleted after it.
                match Dependencies::of(app).ok().flatten() {
                    Some(deps) => {
                        let all = all_apps(&self.apps);
                        self.wake(all.iter().filter(|a| depends_on(a, &key) || deps.names(&AppKey::of(a))));
                    }
                    None => self.wake(self.declaring().iter().filter(|a| depends_on(a, &key))),
                }
            }
            watcher::Event::Init | watcher::Event::InitDone => {}
        }
    }

    /// Records `app`'s readiness and whether it declares dependencies, and
    /// returns the apps that may wait for it: all that declare dependencies
    /// if its readiness changed, else those with a readiness expression.
    fn note(&self, app: &Application) -> Vec<ObjectRef<Application>> {
        let r = ObjectRef::from_obj(app);
        let ready = default_readiness(app);
        let mut guard = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let seen = &mut *guard;
        let declares = app.annotations().get(ANNOTATION_DEPENDS_ON).is_some_and(|l| !l.trim().is_empty());
        let expression = declares && app.annotations().contains_key(ANNOTATION_DEPENDS_ON_READY);
        for (set, member) in [(&mut seen.declaring, declares), (&mut seen.expressions, expression)] {
            if member {
                set.insert(r.clone());
            } else {
                set.remove(&r);
            }
        }
        let changed = seen.ready.get(&r) != Some(&ready);
        seen.ready.insert(r, ready);
        let maybe_waiting = if changed { &seen.declaring } else { &seen.expressions };
        maybe_waiting.iter().cloned().collect()
    }

    /// The apps that declare dependencies.
    fn declaring(&self) -> Vec<Arc<Application>> {
        let refs: Vec<ObjectRef<Application>> = self.seen.lock().unwrap_or_else(|p| p.into_inner()).declaring.iter().cloned().collect();
        self.get(&refs)
    }

    fn get(&self, refs: &[ObjectRef<Application>]) -> Vec<Arc<Application>> {
        refs.iter().filter_map(|r| self.apps.iter().find_map(|s| s.get(r))).collect()
    }

    fn wake<'a>(&self, apps: impl Iterator<Item = &'a Arc<Application>>) {
        for app in apps {
            driftless_engine::live::route(&self.routes, ObjectRef::from_obj(&**app));
        }
    }
}

/// Whether `app` (another app) depends on `key`.
fn depends_on(app: &Application, key: &AppKey) -> bool {
    AppKey::of(app) != *key && matches!(Dependencies::of(app), Ok(Some(d)) if d.names(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::tests::auto_app;
    use driftless_api::{Operation, SyncOperation};
    use driftless_engine::dependencies::Dependency;

    fn waiting() -> Assessment {
        Assessment {
            dependencies: vec![Dependency { pattern: "argocd/a".into(), app: None, ready: false, reason: "no such app".into() }],
            error: None,
        }
    }

    fn cycle() -> Assessment {
        Assessment { dependencies: Vec::new(), error: Some(DependencyError::Cycle("argocd/a -> argocd/b -> argocd/a".into())) }
    }

    fn run(origin: Origin, force: bool) -> Decision {
        let strategy = force.then(|| serde_json::json!({"apply": {"force": true}}));
        let op = Operation { sync: Some(SyncOperation { sync_strategy: strategy, ..Default::default() }), ..Default::default() };
        Decision::Run(Box::new(op), origin)
    }

    fn named(name: &str, depends_on: Option<&str>) -> Application {
        let mut a = Application::default();
        a.metadata.name = Some(name.into());
        a.metadata.namespace = Some("argocd".into());
        a.metadata.annotations = depends_on.map(|d| [(ANNOTATION_DEPENDS_ON.to_string(), d.to_string())].into());
        a
    }

    fn healthy(mut a: Application) -> Application {
        let status = a.status.get_or_insert_with(Default::default);
        status.sync.status = driftless_api::SyncStatusCode::Synced;
        status.health.status = driftless_api::HealthStatusCode::Healthy;
        a
    }

    /// A Waker over a store, fed as the controller's watch feeds both.
    struct Watched {
        waker: Waker,
        store: kube::runtime::reflector::store::Writer<Application>,
        woken: futures::channel::mpsc::UnboundedReceiver<ObjectRef<Application>>,
    }

    impl Watched {
        fn new(apps: &[Application]) -> Watched {
            let (reader, store) = kube::runtime::reflector::store();
            let (tx, woken) = futures::channel::mpsc::unbounded();
            let mut w = Watched { waker: Waker::new(vec![reader], vec![(None, tx)]), store, woken };
            w.event(watcher::Event::Init);
            for a in apps {
                w.event(watcher::Event::InitApply(a.clone()));
            }
            w.event(watcher::Event::InitDone);
            w
        }

        fn event(&mut self, event: watcher::Event<Application>) {
            self.store.apply_watcher_event(&event);
            self.waker.observe(&event);
        }

        fn woken(&mut self) -> Vec<String> {
            let mut names = Vec::new();
            while let Ok(r) = self.woken.try_recv() {
                names.push(r.name);
            }
            names.sort();
            names
        }
    }

    #[test]
    fn a_readiness_change_wakes_only_the_apps_that_name_the_app() {
        let apps = [named("db", None), named("api", Some("db")), named("web", Some("api")), named("other", None)];
        let mut w = Watched::new(&apps);
        w.event(watcher::Event::Apply(healthy(named("db", None))));
        assert_eq!(w.woken(), ["api"]);
        // The same readiness again wakes nothing.
        w.event(watcher::Event::Apply(healthy(named("db", None))));
        assert!(w.woken().is_empty());
        // An app that starts to depend on db later is found too; one that
        // stops is not.
        w.event(watcher::Event::Apply(named("other", Some("argocd/d*"))));
        w.event(watcher::Event::Apply(named("api", None)));
        w.event(watcher::Event::Apply(named("db", None)));
        assert_eq!(w.woken(), ["other"]);
        // db's deletion wakes what names it; the deletion of an app that
        // names others wakes them (they may wait to be deleted after it).
        w.event(watcher::Event::Delete(named("db", None)));
        assert_eq!(w.woken(), ["other"]);
        w.event(watcher::Event::Delete(named("web", Some("api"))));
        assert_eq!(w.woken(), ["api"]);
    }

    #[test]
    fn unready_dependencies_hold_automation_and_requests_but_not_forced_or_resumed_syncs() {
        let automated = run(Origin::Automated { self_heal: false }, false);
        assert_eq!(within_dependencies(automated.clone(), &waiting()), Decision::Nothing);
        assert_eq!(within_dependencies(automated.clone(), &Assessment::default()), automated);
        let requested = run(Origin::Requested, false);
        assert_eq!(within_dependencies(requested.clone(), &waiting()), Decision::Nothing, "it waits, its request kept");
        let forced = run(Origin::Requested, true);
        assert_eq!(within_dependencies(forced.clone(), &waiting()), forced);
        assert_eq!(within_dependencies(forced.clone(), &cycle()), forced);
        let resumed = run(Origin::Resumed, false);
        assert_eq!(within_dependencies(resumed.clone(), &waiting()), resumed);
        assert_eq!(within_dependencies(Decision::Nothing, &waiting()), Decision::Nothing);
    }

    #[test]
    fn a_request_in_a_cycle_is_refused_with_the_cycle() {
        let Decision::Refuse(msg) = within_dependencies(run(Origin::Requested, false), &cycle()) else { panic!() };
        assert_eq!(msg, "cannot sync: dependency cycle: argocd/a -> argocd/b -> argocd/a");
        assert_eq!(within_dependencies(run(Origin::Automated { self_heal: true }, false), &cycle()), Decision::Nothing);
    }

    #[test]
    fn conditions_say_what_the_app_waits_for_and_are_cleared_when_ready() {
        let mut status = auto_app(false).status.unwrap_or_default();
        show(&mut status, &waiting());
        let c = status.conditions.iter().find(|c| c.type_ == condition::DEPENDENCY_NOT_READY).expect("shown");
        assert_eq!(c.message, "waiting for argocd/a: no such app");
        show(&mut status, &cycle());
        assert!(status.conditions.iter().any(|c| c.type_ == condition::DEPENDENCY_ERROR && c.message.contains("argocd/b")));
        assert!(!status.conditions.iter().any(|c| c.type_ == condition::DEPENDENCY_NOT_READY));
        show(&mut status, &Assessment::default());
        assert!(status.conditions.is_empty());
    }
}
