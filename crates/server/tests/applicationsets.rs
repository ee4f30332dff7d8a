//! ApplicationSets through the HTTP API, against the real dev control
//! plane: Argo CD's paths and shapes (list, get, create with upsert and
//! dryRun, delete, the resource tree of the Applications a set owns), RBAC
//! on `applicationsets` with project roles and tokens, tenancy of sets in
//! other namespaces, and hostile input.

mod api_support;

use api_support::{IN_CLUSTER, PASSWORD, Reply, Server, TIMEOUT, admin_password};
use driftless_api::{AppProject, Application, ApplicationSet};
use driftless_testkit::{TestNamespace, wait_for};
use http::{Method, StatusCode};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// An AppProject in the control plane `ns` allowing every repo and
/// destination, with `roles` and `source_namespaces`.
async fn project(ns: &TestNamespace, name: &str, source_namespaces: &[&str], roles: Value) {
    let p: AppProject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": { "name": name, "namespace": ns.name() },
        "spec": { "sourceRepos": ["*"], "destinations": [{ "server": "*", "namespace": "*" }],
                  "sourceNamespaces": source_namespaces, "roles": roles },
    }))
    .expect("valid AppProject");
    ns.api::<AppProject>().create(&PostParams::default(), &p).await.expect("create AppProject");
}

/// An ApplicationSet manifest with a list generator, as a client sends it.
fn appset(name: &str, project: &str, labels: Value) -> Value {
    json!({
        "metadata": { "name": name, "labels": labels },
        "spec": {
            "generators": [{ "list": { "elements": [{ "env": "dev" }, { "env": "prod" }] } }],
            "template": {
                "metadata": { "name": format!("{name}-{{{{env}}}}") },
                "spec": { "project": project, "source": { "repoURL": "https://git.invalid/r.git", "path": "{{env}}" },
                          "destination": { "server": IN_CLUSTER, "namespace": "{{env}}" } },
            },
        },
    })
}

/// An Application in `namespace` owned by the set (as the controller makes
/// them), or by nothing.
async fn app(client: &kube::Client, namespace: &str, name: &str, project: &str, owner: Option<&ApplicationSet>) {
    let owners: Vec<Value> = owner
        .map(|s| json!({ "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": s.metadata.name, "uid": s.metadata.uid, "controller": true }))
        .into_iter()
        .collect();
    let app: Application = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": { "name": name, "namespace": namespace, "ownerReferences": owners },
        "spec": { "project": project, "source": { "repoURL": "https://git.invalid/r.git", "path": "." },
                  "destination": { "server": IN_CLUSTER, "namespace": namespace } },
    }))
    .expect("valid Application");
    Api::<Application>::namespaced(client.clone(), namespace).create(&PostParams::default(), &app).await.expect("create app");
}

fn names(r: &Reply) -> Vec<String> {
    let items = r.body["items"].as_array().unwrap_or_else(|| panic!("a list: {}", r.text));
    items
        .iter()
        .map(|s| format!("{}/{}", s["metadata"]["namespace"].as_str().unwrap_or(""), s["metadata"]["name"].as_str().unwrap_or("")))
        .collect()
}

/// A refusal with the name it was about replaced, so that two compare.
fn shape(r: &Reply, name: &str) -> String {
    r.text.replace(name, "{name}")
}

const TEAM_ROLES: &str = r#"[{ "name": "ci", "policies": [
    "p, proj:team:ci, applicationsets, get, team/*, allow",
    "p, proj:team:ci, applicationsets, create, team/*, allow",
    "p, proj:team:ci, applications, get, team/*, allow"
] }]"#;

#[tokio::test]
async fn create_list_get_upsert_tree_and_delete_with_rbac_and_project_tokens() {
    let ns = TestNamespace::new("appset-api").await.expect("namespace");
    let n = ns.name().to_string();
    let policy = "g, reader, role:readonly\n\
                  p, role:team, applicationsets, *, team/*, allow\n\
                  p, role:team, applications, get, team/*, allow\n\
                  g, carol, role:team\n";
    let server = Server::start(&ns, policy).await;
    project(&ns, "team", &[], serde_json::from_str(TEAM_ROLES).expect("roles")).await;
    project(&ns, "other", &[], json!([])).await;
    let admin = server.login("admin", &admin_password(&ns).await).await;
    let reader = server.login("reader", PASSWORD).await;
    let carol = server.login("carol", PASSWORD).await;

    // Create: the answer is the stored set, and a list right after shows it.
    let r = server.as_user(&admin, Method::POST, "/api/v1/applicationsets", Some(appset("web", "team", json!({ "tier": "web" })))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!((r.body["metadata"]["namespace"].clone(), r.body["kind"].clone()), (json!(n), json!("ApplicationSet")));
    let version = r.body["metadata"]["resourceVersion"].clone();
    let r = server.as_user(&admin, Method::GET, "/api/v1/applicationsets", None).await;
    assert_eq!(names(&r), [format!("{n}/web")], "{}", r.text);
    let r = server.as_user(&admin, Method::POST, "/api/v1/applicationsets", Some(appset("ops", "other", json!({})))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // The same set again changes nothing; another spec needs upsert.
    let r = server.as_user(&admin, Method::POST, "/api/v1/applicationsets", Some(appset("web", "team", json!({ "tier": "web" })))).await;
    assert_eq!((r.status, r.body["metadata"]["resourceVersion"].clone()), (StatusCode::OK, version), "idempotent: {}", r.text);
    let mut changed = appset("web", "team", json!({ "extra": "yes" }));
    changed["spec"]["template"]["spec"]["source"]["path"] = json!("apps/{{env}}");
    let r = server.as_user(&admin, Method::POST, "/api/v1/applicationsets", Some(changed.clone())).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.body["message"].as_str().unwrap_or_default().contains("upsert"), "{}", r.text);
    let r = server.as_user(&admin, Method::POST, "/api/v1/applicationsets?upsert=true", Some(changed)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let stored = ns.api::<ApplicationSet>().get("web").await.expect("read set");
    assert_eq!(stored.spec.template.spec.source.as_ref().and_then(|s| s.path.as_deref()), Some("apps/{{env}}"));
    let labels = stored.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        (labels.get("tier").map(String::as_str), labels.get("extra").map(String::as_str)),
        (Some("web"), Some("yes")),
        "labels merged"
    );

    // A dry run answers the set and stores nothing.
    let r = server.as_user(&admin, Method::POST, "/api/v1/applicationsets?dryRun=true", Some(appset("preview", "team", json!({})))).await;
    assert_eq!((r.status, r.body["metadata"]["name"].clone()), (StatusCode::OK, json!("preview")), "{}", r.text);
    assert!(ns.api::<ApplicationSet>().get_opt("preview").await.expect("read").is_none(), "a dry run stores nothing");

    // Filters: projects, selector, appsetNamespace.
    let r = server.as_user(&admin, Method::GET, "/api/v1/applicationsets?projects=other", None).await;
    assert_eq!(names(&r), [format!("{n}/ops")]);
    let r = server.as_user(&admin, Method::GET, "/api/v1/applicationsets?selector=tier%3Dweb", None).await;
    assert_eq!(names(&r), [format!("{n}/web")]);
    let r = server.as_user(&admin, Method::GET, &format!("/api/v1/applicationsets?appsetNamespace={n}"), None).await;
    assert_eq!(names(&r), [format!("{n}/ops"), format!("{n}/web")], "sorted by name");

    // The tree: the Applications the set owns, found by ownerReference.
    let client = ns.client();
    app(&client, &n, "web-dev", "team", Some(&stored)).await;
    app(&client, &n, "web-prod", "team", Some(&stored)).await;
    app(&client, &n, "loose", "team", None).await;
    let tree = wait_for("the set's apps in the server's store", TIMEOUT, || async {
        let r = server.as_user(&admin, Method::GET, "/api/v1/applicationsets/web/resource-tree", None).await;
        if r.body["nodes"].as_array().is_some_and(|n| n.len() == 2) { Ok(r) } else { Err(r.text) }
    })
    .await
    .expect("two apps");
    let node = &tree.body["nodes"][0];
    assert_eq!(
        (node["kind"].clone(), node["name"].clone(), node["group"].clone()),
        (json!("Application"), json!("web-dev"), json!("argoproj.io"))
    );
    assert_eq!(node["parentRefs"][0]["uid"], json!(stored.metadata.uid), "{}", tree.text);
    assert_eq!(node["parentRefs"][0]["kind"], "ApplicationSet");

    // A reader reads and changes nothing.
    let r = server.as_user(&reader, Method::GET, "/api/v1/applicationsets", None).await;
    assert_eq!(names(&r).len(), 2, "{}", r.text);
    let r = server.as_user(&reader, Method::GET, "/api/v1/applicationsets/web", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = server.as_user(&reader, Method::POST, "/api/v1/applicationsets", Some(appset("mine", "team", json!({})))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = server.as_user(&reader, Method::DELETE, "/api/v1/applicationsets/web", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);

    // carol holds the team project's sets only.
    let r = server.as_user(&carol, Method::GET, "/api/v1/applicationsets", None).await;
    assert_eq!(names(&r), [format!("{n}/web")], "{}", r.text);
    let r = server.as_user(&carol, Method::GET, "/api/v1/applicationsets/ops", None).await;
    let ghost = server.as_user(&carol, Method::GET, "/api/v1/applicationsets/ghost", None).await;
    assert_eq!((r.status, ghost.status), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));
    assert_eq!(shape(&r, "ops"), shape(&ghost, "ghost"), "another project's set answers as one that does not exist");
    let r = server.as_user(&carol, Method::POST, "/api/v1/applicationsets", Some(appset("carols", "other", json!({})))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    // Moving a set to another project needs the right on both.
    let r = server.as_user(&carol, Method::POST, "/api/v1/applicationsets?upsert=true", Some(appset("ops", "team", json!({})))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(ns.api::<ApplicationSet>().get("ops").await.expect("read").spec.project(), "other", "unchanged");

    // A project token acts on its project's sets only.
    let r = server.as_user(&admin, Method::POST, "/api/v1/projects/team/roles/ci/token", Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let token = r.body["token"].as_str().expect("token").to_string();
    let r = server.as_user(&token, Method::GET, "/api/v1/applicationsets", None).await;
    assert_eq!(names(&r), [format!("{n}/web")], "{}", r.text);
    let r = server.as_user(&token, Method::GET, "/api/v1/applicationsets/ops", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = server.as_user(&token, Method::POST, "/api/v1/applicationsets", Some(appset("by-token", "other", json!({})))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = server.as_user(&token, Method::POST, "/api/v1/applicationsets", Some(appset("by-token", "team", json!({})))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = server.as_user(&token, Method::DELETE, "/api/v1/applicationsets/by-token", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "the role has no delete: {}", r.text);

    // A templated project, or one that does not exist, is refused.
    let r = server.as_user(&admin, Method::POST, "/api/v1/applicationsets", Some(appset("tpl", "{{.env}}", json!({})))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.body["message"].as_str().unwrap_or_default().contains("templated"), "{}", r.text);
    let r = server.as_user(&carol, Method::POST, "/api/v1/applicationsets", Some(appset("tpl", "team-{{env}}", json!({})))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "refused whoever asks: {}", r.text);
    let r = server.as_user(&admin, Method::POST, "/api/v1/applicationsets", Some(appset("lost", "nowhere", json!({})))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.body["message"].as_str().unwrap_or_default().contains("does not exist"), "{}", r.text);
    for name in ["tpl", "lost"] {
        assert!(ns.api::<ApplicationSet>().get_opt(name).await.expect("read").is_none(), "{name} was not created");
    }

    // Delete: the set goes, and its Applications with it (ownerReferences);
    // the app it does not own stays.
    let r = server.as_user(&carol, Method::DELETE, "/api/v1/applicationsets/web", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = server.as_user(&admin, Method::GET, "/api/v1/applicationsets/web", None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    wait_for("the set's apps to be collected", TIMEOUT, || async {
        let left: Vec<String> = ns
            .api::<Application>()
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .into_iter()
            .filter_map(|a| a.metadata.name)
            .collect();
        if left == ["loose"] { Ok(()) } else { Err(format!("{left:?}")) }
    })
    .await
    .expect("only the loose app stays");
}

#[tokio::test]
async fn sets_in_other_namespaces_follow_the_tenancy_rules() {
    let ns = TestNamespace::new("appset-tenancy").await.expect("namespace");
    let sets = TestNamespace::new("appset-sets").await.expect("namespace");
    let apps_only = TestNamespace::new("appset-apps").await.expect("namespace");
    let (sets_ns, apps_ns) = (sets.name().to_string(), apps_only.name().to_string());
    let server = Server::start_with(&ns, "", |c| {
        c.tenancy = driftless_engine::project::Tenancy::new(c.tenancy.control_plane.clone())
            .with_app_namespaces(&format!("{sets_ns},{apps_ns}"))
            .and_then(|t| t.with_appset_namespaces(&sets_ns))
            .expect("valid");
    })
    .await;
    project(&ns, "team", &[&sets_ns, &apps_ns], json!([])).await;
    project(&ns, "other", &[], json!([])).await;
    let admin = server.login("admin", &admin_password(&ns).await).await;

    let post = |namespace: &str, name: &str, project: &str| {
        let mut body = appset(name, project, json!({}));
        body["metadata"]["namespace"] = json!(namespace);
        body
    };
    // Allowed: an enabled namespace its project lists.
    let r = server.as_user(&admin, Method::POST, "/api/v1/applicationsets", Some(post(&sets_ns, "team-set", "team"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // Refused, with the reason: a project that does not list it, a
    // namespace enabled for apps only, a namespace enabled for nothing.
    for (namespace, project, reason) in [
        (sets_ns.as_str(), "other", "sourceNamespaces"),
        (apps_ns.as_str(), "team", "applicationsetcontroller.namespaces"),
        ("kube-system", "team", "not handled"),
    ] {
        let r = server.as_user(&admin, Method::POST, "/api/v1/applicationsets", Some(post(namespace, "refused", project))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{namespace} {project}: {}", r.text);
        assert!(r.body["message"].as_str().unwrap_or_default().contains(reason), "{namespace} {project}: {}", r.text);
    }

    // Sets written past the API where tenancy does not allow them are
    // invisible: listed by nobody, answered as sets that do not exist.
    let direct = |namespace: &str, name: &str, project: &str| {
        let mut body = post(namespace, name, project);
        body["apiVersion"] = json!("argoproj.io/v1alpha1");
        body["kind"] = json!("ApplicationSet");
        serde_json::from_value::<ApplicationSet>(body).expect("valid set")
    };
    let client = ns.client();
    for (namespace, name, project) in [(sets_ns.as_str(), "stray", "other"), (apps_ns.as_str(), "hidden", "team")] {
        Api::<ApplicationSet>::namespaced(client.clone(), namespace)
            .create(&PostParams::default(), &direct(namespace, name, project))
            .await
            .expect("create directly");
    }
    let r = server.as_user(&admin, Method::GET, "/api/v1/applicationsets", None).await;
    assert_eq!(names(&r), [format!("{sets_ns}/team-set")], "{}", r.text);
    let r = server.as_user(&admin, Method::GET, &format!("/api/v1/applicationsets?appsetNamespace={apps_ns}"), None).await;
    assert_eq!(names(&r), Vec::<String>::new(), "{}", r.text);
    for (namespace, name) in [(sets_ns.as_str(), "stray"), (apps_ns.as_str(), "hidden")] {
        for (method, path) in [
            (Method::GET, format!("/api/v1/applicationsets/{name}?appsetNamespace={namespace}")),
            (Method::GET, format!("/api/v1/applicationsets/{name}/resource-tree?appsetNamespace={namespace}")),
            (Method::DELETE, format!("/api/v1/applicationsets/{name}?appsetNamespace={namespace}")),
        ] {
            let r = server.as_user(&admin, method.clone(), &path, None).await;
            let ghost = server.as_user(&admin, method.clone(), &path.replace(name, "ghost"), None).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}: {}", r.text);
            assert_eq!(shape(&r, name), shape(&ghost, "ghost"), "{method} {path}: hidden like one that does not exist");
        }
        assert!(Api::<ApplicationSet>::namespaced(client.clone(), namespace).get_opt(name).await.expect("read").is_some(), "not deleted");
    }
    // The visible one, named as namespace/name (its slash encoded) too.
    let r = server.as_user(&admin, Method::GET, &format!("/api/v1/applicationsets/{sets_ns}%2Fteam-set"), None).await;
    assert_eq!((r.status, r.body["metadata"]["name"].clone()), (StatusCode::OK, json!("team-set")), "{}", r.text);
    let r =
        server.as_user(&admin, Method::GET, &format!("/api/v1/applicationsets/{sets_ns}%2Fteam-set?appsetNamespace={apps_ns}"), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "two namespaces named: {}", r.text);
}

#[tokio::test]
async fn hostile_names_bodies_and_queries_are_refused_and_change_nothing() {
    let ns = TestNamespace::new("appset-hostile").await.expect("namespace");
    let server = Server::start(&ns, "").await;
    project(&ns, "team", &[], json!([])).await;
    let admin = server.login("admin", &admin_password(&ns).await).await;
    let long = "a".repeat(300);

    // Names no set can have: refused before anything is read.
    for name in ["..%2F..%2Fsecrets", "UPPER", long.as_str(), "a%00b", "a%20b", "-lead", "x%2Fy%2Fz", "%2Fempty-ns"] {
        for (method, path) in [
            (Method::GET, format!("/api/v1/applicationsets/{name}")),
            (Method::GET, format!("/api/v1/applicationsets/{name}/resource-tree")),
            (Method::DELETE, format!("/api/v1/applicationsets/{name}")),
        ] {
            let r = server.as_user(&admin, method.clone(), &path, None).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{method} {path}: {}", r.text);
            assert!(r.text.len() < 1000, "the answer stays short: {}", r.text);
        }
    }
    for namespace in ["..", "Kube-System", long.as_str()] {
        let r = server.as_user(&admin, Method::GET, &format!("/api/v1/applicationsets/web?appsetNamespace={namespace}"), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{namespace}: {}", r.text);
        let r = server.as_user(&admin, Method::GET, &format!("/api/v1/applicationsets?appsetNamespace={namespace}"), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "list {namespace}: {}", r.text);
    }
    // A namespace not enabled for sets answers as a set that does not exist.
    let r = server.as_user(&admin, Method::GET, "/api/v1/applicationsets/web?appsetNamespace=kube-system", None).await;
    let ghost = server.as_user(&admin, Method::GET, "/api/v1/applicationsets/ghost", None).await;
    assert_eq!((r.status, ghost.status), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));
    assert_eq!(shape(&r, "kube-system/web"), shape(&ghost, &format!("{}/ghost", ns.name())));

    // Bodies: each refused with a reason that names what is wrong.
    let mut no_generator = appset("empty", "team", json!({}));
    no_generator["spec"]["generators"] = json!([{ "list": { "elements": [] } }, { "selector": { "matchLabels": { "a": "b" } } }]);
    let mut bad_name = appset("x", "team", json!({}));
    bad_name["metadata"]["name"] = json!("../../x");
    let mut bad_ns = appset("x", "team", json!({}));
    bad_ns["metadata"]["namespace"] = json!("a/b");
    let mut wrong_kind = appset("x", "team", json!({}));
    wrong_kind["kind"] = json!("Application");
    let mut no_name = appset("x", "team", json!({}));
    no_name["metadata"] = json!({});
    for (label, body, says) in [
        ("no generator", no_generator.to_string(), "spec.generators[1]"),
        ("bad name", bad_name.to_string(), "not a valid ApplicationSet name"),
        ("bad namespace", bad_ns.to_string(), "not a valid namespace"),
        ("wrong kind", wrong_kind.to_string(), "kind"),
        ("no name", no_name.to_string(), "metadata.name"),
        ("an array", "[]".to_string(), "a JSON object"),
        ("not JSON", "{\"metadata\":".to_string(), "request body"),
        ("a string spec", json!({ "metadata": { "name": "s" }, "spec": "x" }).to_string(), "applicationset"),
    ] {
        let req = http::Request::post(format!("{}/api/v1/applicationsets", server.base))
            .header("authorization", format!("Bearer {admin}"))
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .expect("request");
        let resp = server.http.request(req).await.expect("HTTP");
        let status = resp.status();
        let text =
            String::from_utf8_lossy(&http_body_util::BodyExt::collect(resp.into_body()).await.expect("body").to_bytes()).into_owned();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{label}: {text}");
        assert!(text.contains(says), "{label}: {text}");
    }
    // An oversized body is refused as too large, not read into memory.
    let mut huge = appset("huge", "team", json!({}));
    huge["metadata"]["annotations"] = json!({ "padding": "x".repeat(3 << 20) });
    let r = server.as_user(&admin, Method::POST, "/api/v1/applicationsets", Some(huge)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", &r.text[..r.text.len().min(300)]);
    // Flags are true or false.
    let r = server.as_user(&admin, Method::POST, "/api/v1/applicationsets?upsert=maybe", Some(appset("flag", "team", json!({})))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = server.as_user(&admin, Method::GET, "/api/v1/applicationsets?selector=a%20in%20b", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let left = ns.api::<ApplicationSet>().list(&Default::default()).await.expect("list").items;
    assert!(left.is_empty(), "nothing was created: {:?}", left.iter().map(|s| &s.metadata.name).collect::<Vec<_>>());
}

/// `POST /api/v1/applicationsets/generate`: the Applications a set would
/// make, nothing stored; `create` on the set's project is needed; a
/// template error is a 400 naming the element and field.
#[tokio::test]
async fn generate_answers_the_apps_a_set_would_make_and_stores_nothing() {
    let ns = TestNamespace::new("appset-generate").await.expect("namespace");
    let policy = "p, role:team, applicationsets, create, team/*, allow\ng, carol, role:team\n";
    let server = Server::start(&ns, policy).await;
    project(&ns, "team", &[], json!([])).await;
    project(&ns, "other", &[], json!([])).await;
    let carol = server.login("carol", PASSWORD).await;

    let r = server
        .as_user(
            &carol,
            Method::POST,
            "/api/v1/applicationsets/generate",
            Some(json!({ "applicationSet": appset("web", "team", json!({})) })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let apps = r.body["applications"].as_array().cloned().unwrap_or_default();
    let made: Vec<(&str, &str)> = apps
        .iter()
        .map(|a| (a["metadata"]["name"].as_str().unwrap_or_default(), a["spec"]["source"]["path"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(made, [("web-dev", "dev"), ("web-prod", "prod")]);
    assert!(ns.api::<ApplicationSet>().get_opt("web").await.expect("read").is_none(), "nothing stored");
    assert!(ns.api::<Application>().list(&Default::default()).await.expect("list").items.is_empty(), "no app made");

    let r = server
        .as_user(
            &carol,
            Method::POST,
            "/api/v1/applicationsets/generate",
            Some(json!({ "applicationSet": appset("ops", "other", json!({})) })),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "another project: {}", r.text);
    let mut bad = appset("bad", "team", json!({}));
    bad["spec"]["template"]["metadata"]["name"] = json!("Bad_{{env}}");
    let r = server.as_user(&carol, Method::POST, "/api/v1/applicationsets/generate", Some(json!({ "applicationSet": bad }))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let message = r.body["message"].as_str().unwrap_or_default();
    assert!(message.contains("spec.generators[0] element 0") && message.contains("metadata.name"), "{message}");
    let r = server.as_user(&carol, Method::POST, "/api/v1/applicationsets/generate", Some(json!({ "set": {} }))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
}

#[tokio::test]
async fn a_set_nested_deeper_than_driftless_reads_is_listed_in_brief_and_takes_no_other_with_it() {
    let ns = TestNamespace::new("appset-deep").await.expect("namespace");
    let server = Server::start(&ns, "").await;
    project(&ns, "team", &[], json!([])).await;
    let admin = server.login("admin", &admin_password(&ns).await).await;
    for name in ["deep", "web"] {
        let r = server.as_user(&admin, Method::POST, "/api/v1/applicationsets", Some(appset(name, "team", json!({})))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    // List elements are kept as written, to any depth.
    let element = (0..300).fold(json!({}), |inner, _| json!({ "a": inner }));
    let patch = json!({ "spec": { "generators": [{ "list": { "elements": [element] } }] } });
    ns.api::<ApplicationSet>().patch("deep", &PatchParams::default(), &Patch::Merge(&patch)).await.expect("the server stores it");

    let r = server.as_user(&admin, Method::GET, "/api/v1/applicationsets", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(names(&r), [format!("{}/deep", ns.name()), format!("{}/web", ns.name())]);
    let why = r.body["items"][0]["status"]["conditions"][0]["message"].as_str().unwrap_or_default();
    assert!(why.contains("nested deeper than 100 levels"), "{}", r.text);
    assert_eq!(r.body["items"][0]["spec"]["template"]["spec"]["project"], "team");
    assert_eq!(r.body["items"][1]["spec"]["generators"][0]["list"]["elements"][1]["env"], "prod", "the other set is shown whole");
    let r = server.as_user(&admin, Method::GET, "/api/v1/applicationsets/deep", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"]["conditions"][0]["type"], "ErrorOccurred");
}
