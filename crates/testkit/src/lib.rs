//! Test kit: every integration test in driftless runs against a real
//! Kubernetes control plane, the project's `devcluster`.
//!
//! - [`DevCluster::shared`] starts one devcluster per test binary on first use
//!   (or reuses the cluster named by `DRIFTLESS_TEST_KUBECONFIG`);
//! - [`TestNamespace::new`] gives each test its own namespace and a
//!   [`kube::Client`], and deletes the namespace when dropped, also when the
//!   test panics;
//! - [`wait_for`] polls a condition with a deadline and reports the last thing
//!   it saw when it gives up;
//! - [`GitRepo`] is a real Git repository in a temporary directory, to point
//!   Applications at; [`GitHttpServer`] and [`SshGitServer`] serve them
//!   over HTTP(S) with basic auth and over SSH, on 127.0.0.1;
//! - [`OciRegistry`] is a real OCI registry on 127.0.0.1;
//! - [`Gitea`] is a real Gitea on 127.0.0.1 (its REST API), for SCM generators;
//! - [`install_crds`] installs driftless' CRDs;
//! - [`procstat`] reads processes' CPU time and memory, for benchmarks.
//!
//! ```no_run
//! # async fn example() -> Result<(), driftless_testkit::Error> {
//! let ns = driftless_testkit::TestNamespace::new("my-test").await?;
//! let pods: kube::Api<k8s_openapi::api::core::v1::Pod> = ns.api();
//! # Ok(()) }
//! ```

mod cluster;
mod crds;
mod git;
mod git_server;
mod gitea;
mod http_sink;
mod namespace;
mod process;
pub mod procstat;
mod registry;
mod rng;
mod sops;
mod wait;

pub use cluster::{DevCluster, Error};
pub use crds::{install_crds, install_secret_controller_crds};
pub use git::GitRepo;
pub use git_server::{GitHttpOptions, GitHttpServer, SshGitServer, TestCa};
pub use gitea::{GITEA_ADMIN, Gitea};
pub use http_sink::{HttpSink, Received};
pub use namespace::TestNamespace;
pub use process::{LoggedChild, assert_success, run_cli, stderr, stdout};
pub use registry::OciRegistry;
pub use rng::Rng;
pub use sops::sops_encrypt;
pub use wait::wait_for;
