//! The workload every peer gets: apps of 10 plain YAML objects each (9
//! ConfigMaps and a Deployment), one directory per app in one Git
//! repository, served over smart HTTP on 127.0.0.1.

use driftless_testkit::{GitHttpServer, GitRepo};

/// One set of apps: app `i` is named `{prefix}{i}` and its directory is
/// `apps/{prefix}{i}`, with no namespace in its files (each peer puts them
/// in `namespace`) and no kustomization.yaml (each peer reads a directory).
#[derive(Clone)]
pub struct Workload {
    pub repo_url: String,
    pub revision: String,
    pub namespace: String,
    pub prefix: String,
}

impl Workload {
    pub fn name(&self, i: usize) -> String {
        format!("{}{i}", self.prefix)
    }

    pub fn path(&self, i: usize) -> String {
        format!("apps/{}", self.name(i))
    }
}

/// A workload's repository, kept for the commits of the run.
pub struct Repo {
    pub git: GitRepo,
    pub workload: Workload,
}

impl Repo {
    /// Writes `apps` apps into a new repository served by `server` as
    /// `name`, and commits them.
    pub fn new(server: &GitHttpServer, name: &str, prefix: &str, apps: usize, namespace: &str) -> Repo {
        let git = GitRepo::new();
        let workload = Workload {
            repo_url: server.serve(name, git.path()),
            revision: "main".into(),
            namespace: namespace.into(),
            prefix: prefix.into(),
        };
        for i in 0..apps {
            let app = workload.name(i);
            for j in 0..9 {
                git.write(&format!("{}/cm{j}.yaml", workload.path(i)), &config_map(&format!("{app}-cm{j}"), "v"));
            }
            git.write(&format!("{}/deploy.yaml", workload.path(i)), &deployment(&format!("{app}-web")));
        }
        git.commit("apps");
        Repo { git, workload }
    }

    /// Commits a new value for app `i`'s first ConfigMap; the new head.
    pub fn change(&self, i: usize, value: &str) -> String {
        let app = self.workload.name(i);
        self.git.write(&format!("{}/cm0.yaml", self.workload.path(i)), &config_map(&format!("{app}-cm0"), value));
        self.git.commit(&format!("{app}: {value}"))
    }
}

pub fn config_map(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: {value}\n")
}

pub fn deployment(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: main\n        image: nginx:1.27\n"
    )
}
