//! Git repositories: mirrors, revision resolution, checkouts per commit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::process::Command;

use crate::git_access::{GitAccess, Prepared};
use crate::github_app::AppTokens;
use crate::repo_creds::scrub_userinfo;

/// Why a source could not be provided. Every message names the repository.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// `git` is not installed.
    #[error("the `git` binary was not found on PATH: install git to use Git sources")]
    GitMissing,
    /// Fetching failed: bad URL, network, credentials.
    #[error("repository {url} is unreachable: {reason}")]
    Unreachable {
        /// The repository.
        url: String,
        /// What git said.
        reason: String,
    },
    /// The revision names no branch, tag or commit of the repository.
    #[error("revision {revision:?} not found in repository {url}: it is no branch, tag or commit there")]
    UnknownRevision {
        /// The repository.
        url: String,
        /// The revision asked for.
        revision: String,
    },
    /// Local I/O failed.
    #[error("git cache {path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The repository needs what driftless does not do.
    #[error("repository {url}: {reason}")]
    Unsupported {
        /// The repository.
        url: String,
        /// What is not supported.
        reason: String,
    },
    /// A git command failed for another reason.
    #[error("git {args} in {url} failed: {reason}")]
    Git {
        /// The repository.
        url: String,
        /// The command.
        args: String,
        /// What git said.
        reason: String,
    },
}

/// A commit's files on disk, shared and read-only: renderers must not write
/// into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkout {
    /// The full commit SHA.
    pub revision: String,
    /// The root of the files.
    pub path: PathBuf,
    /// Whether this call fetched from the remote; false when it shared a
    /// fetch that another caller began after this one asked.
    pub fetched: bool,
}

/// How long a checkout nobody asks for stays on disk. Longer than the
/// resync period, so that a steady app's commit stays checked out; a commit
/// the apps have moved away from goes.
const UNUSED_CHECKOUT_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// Mirrors and checkouts under one cache directory.
#[derive(Debug)]
pub struct GitCache {
    root: PathBuf,
    /// One lock per repository: two fetches of one mirror must not overlap,
    /// different repositories proceed in parallel.
    repos: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Mirror>>>>,
    /// See [`UNUSED_CHECKOUT_LIFETIME`].
    unused_lifetime: Duration,
    /// GitHub App installation tokens.
    app_tokens: AppTokens,
}

/// What is known of one mirror, guarded by its lock.
#[derive(Debug, Default)]
struct Mirror {
    /// When the last successful update began.
    updated: Option<Instant>,
    /// Revisions resolved since that update.
    resolved: HashMap<String, String>,
    /// Each checkout on disk, with when it was last asked for; None until
    /// the checkouts directory was first read.
    checkouts: Option<HashMap<String, Instant>>,
}

impl GitCache {
    /// A cache rooted at `root`, created on first use.
    pub fn new(root: impl Into<PathBuf>) -> GitCache {
        GitCache { root: root.into(), repos: Mutex::default(), unused_lifetime: UNUSED_CHECKOUT_LIFETIME, app_tokens: AppTokens::default() }
    }

    /// The GitHub App installation tokens this cache's fetches use, for
    /// other callers of GitHub's API (the SCM generators).
    pub fn app_tokens(&self) -> &AppTokens {
        &self.app_tokens
    }

    /// Fetches `url` and resolves `revision` (branch, tag, commit SHA, or
    /// empty/`HEAD` for the default branch) to a commit, then makes sure that
    /// commit is checked out. The checkout is reused across calls. `access`
    /// says how to reach the repository (credentials, CA, known hosts).
    ///
    /// Callers that wait while another fetch of the same repository runs
    /// share the next one: an update that began after a call was made has
    /// seen everything that call would, so a thousand apps of one
    /// repository cost a couple of fetches, not a thousand.
    pub async fn fetch(&self, url: &str, revision: &str, access: &GitAccess) -> Result<Checkout, SourceError> {
        self.fetch_since(url, revision, access, Instant::now()).await
    }

    /// [`GitCache::fetch`], content with any fetch that began after
    /// `since`: what a caller needs to see happened before then (a
    /// webhook's push), so every app one push refreshes shares one fetch.
    pub async fn fetch_since(&self, url: &str, revision: &str, access: &GitAccess, since: Instant) -> Result<Checkout, SourceError> {
        let asked = since;
        let repo = self.repo(url);
        let mut state = repo.lock().await;
        let mirror = self.mirror_path(url);
        let fetched = state.updated.is_none_or(|began| began < asked);
        if fetched {
            let began = Instant::now();
            state.updated = None;
            state.resolved.clear();
            self.update_mirror(url, &mirror, access).await?;
            state.updated = Some(began);
        }
        let sha = match state.resolved.get(revision) {
            Some(sha) => sha.clone(),
            None => {
                let sha = resolve(url, &mirror, revision).await?;
                state.resolved.insert(revision.to_string(), sha.clone());
                sha
            }
        };
        let path = self.checkout_path(url, &sha);
        if !path.is_dir() {
            export(url, &mirror, &sha, &path).await?;
        }
        self.remove_unused(url, &mut state, &sha).await;
        Ok(Checkout { revision: sha, path, fetched })
    }

    /// Records that `sha` was just asked for, and removes the repository's
    /// checkouts nobody asked for in [`UNUSED_CHECKOUT_LIFETIME`]: a
    /// controller that runs for months must not keep every commit it ever
    /// rendered. Checkouts an earlier process left count from now.
    async fn remove_unused(&self, url: &str, state: &mut Mirror, sha: &str) {
        let now = Instant::now();
        let checkouts = match &mut state.checkouts {
            Some(known) => known,
            None => {
                let mut found = HashMap::new();
                if let Ok(mut entries) = tokio::fs::read_dir(self.repo_dir(url).join("checkouts")).await {
                    while let Ok(Some(entry)) = entries.next_entry().await {
                        found.insert(entry.file_name().to_string_lossy().into_owned(), now);
                    }
                }
                state.checkouts.insert(found)
            }
        };
        checkouts.insert(sha.to_string(), now);
        let unused: Vec<String> = checkouts
            .iter()
            .filter(|(s, asked)| *s != sha && now.duration_since(**asked) >= self.unused_lifetime)
            .map(|(s, _)| s.clone())
            .collect();
        for s in unused {
            checkouts.remove(&s);
            let _ = tokio::fs::remove_dir_all(self.checkout_path(url, &s)).await;
        }
    }

    fn repo(&self, url: &str) -> Arc<tokio::sync::Mutex<Mirror>> {
        let mut repos = self.repos.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        repos.entry(normalize_url(url)).or_default().clone()
    }

    fn repo_dir(&self, url: &str) -> PathBuf {
        let digest = Sha256::digest(normalize_url(url).as_bytes());
        let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
        self.root.join(hex)
    }

    fn mirror_path(&self, url: &str) -> PathBuf {
        self.repo_dir(url).join("mirror.git")
    }

    fn checkout_path(&self, url: &str, sha: &str) -> PathBuf {
        self.repo_dir(url).join("checkouts").join(sha)
    }

    /// Asks the repository for its refs (`git ls-remote`), with `access`:
    /// a connection test that fetches nothing.
    pub async fn ls_remote(&self, url: &str, access: &GitAccess) -> Result<(), SourceError> {
        let prepared = self.prepare(url, access).await?;
        git(url, None, Some(&prepared), &["ls-remote", "--quiet", "--heads", "--", url, "HEAD"])
            .await
            .map(drop)
            .map_err(|e| unreachable(url, e))
    }

    /// The environment that hands git `access` for `url`, a GitHub App's
    /// token minted (or reused) first.
    async fn prepare(&self, url: &str, access: &GitAccess) -> Result<Prepared, SourceError> {
        let creds = access.creds.as_ref();
        if creds.is_some_and(|c| c.enable_lfs) {
            return Err(SourceError::Unsupported {
                url: scrub_userinfo(url),
                reason: "Git LFS is not supported (its repository Secret sets enableLfs)".into(),
            });
        }
        let token = match creds.and_then(|c| c.github_app.as_ref()) {
            Some(app) => Some(
                self.app_tokens
                    .token(app, access.ca_pem.as_deref())
                    .await
                    .map_err(|reason| SourceError::Unreachable { url: scrub_userinfo(url), reason })?,
            ),
            None => None,
        };
        access.prepare(url, &self.root, token).map_err(|source| SourceError::Io { path: self.root.clone(), source })
    }

    async fn update_mirror(&self, url: &str, mirror: &Path, access: &GitAccess) -> Result<(), SourceError> {
        let prepared = self.prepare(url, access).await?;
        if mirror.join("HEAD").is_file() {
            return git(url, Some(mirror), Some(&prepared), &["fetch", "--prune", "--force", "--quiet", "origin"])
                .await
                .map(drop)
                .map_err(|e| unreachable(url, e));
        }
        let parent = mirror.parent().unwrap_or(&self.root);
        tokio::fs::create_dir_all(parent).await.map_err(|source| SourceError::Io { path: parent.into(), source })?;
        // Clone into a temporary name and rename, so a failed clone leaves
        // nothing that looks like a mirror.
        let partial = parent.join("mirror.partial");
        let _ = tokio::fs::remove_dir_all(&partial).await;
        let partial_str = partial.to_string_lossy().into_owned();
        git(url, None, Some(&prepared), &["clone", "--mirror", "--quiet", "--", url, &partial_str])
            .await
            .map_err(|e| unreachable(url, e))?;
        tokio::fs::rename(&partial, mirror).await.map_err(|source| SourceError::Io { path: mirror.into(), source })
    }
}

/// Trailing slashes and `.git` do not make a different repository.
fn normalize_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    url.strip_suffix(".git").unwrap_or(url).to_string()
}

fn unreachable(url: &str, e: SourceError) -> SourceError {
    match e {
        SourceError::Git { reason, .. } => SourceError::Unreachable { url: scrub_userinfo(url), reason },
        other => other,
    }
}

async fn resolve(url: &str, mirror: &Path, revision: &str) -> Result<String, SourceError> {
    let revision = revision.trim();
    let rev = if revision.is_empty() { "HEAD" } else { revision };
    // `--end-of-options` keeps a revision like `--output=x` from being read
    // as an option.
    let spec = format!("{rev}^{{commit}}");
    match git(url, Some(mirror), None, &["rev-parse", "--verify", "--quiet", "--end-of-options", &spec]).await {
        Ok(out) => Ok(out.trim().to_string()),
        Err(SourceError::Git { .. }) => Err(SourceError::UnknownRevision { url: scrub_userinfo(url), revision: rev.into() }),
        Err(e) => Err(e),
    }
}

/// Writes the files of commit `sha` to `dest` with `git archive`, through a
/// temporary directory renamed into place, so readers never see half a tree.
async fn export(url: &str, mirror: &Path, sha: &str, dest: &Path) -> Result<(), SourceError> {
    let parent = dest.parent().unwrap_or(mirror);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SourceError::Io { path, source }
    };
    tokio::fs::create_dir_all(parent).await.map_err(io(parent))?;
    let tmp = parent.join(format!(".{sha}.partial"));
    let _ = tokio::fs::remove_dir_all(&tmp).await;
    tokio::fs::create_dir_all(&tmp).await.map_err(io(&tmp))?;
    let tmp_str = tmp.to_string_lossy().into_owned();
    // `git worktree`-free checkout: a throwaway index, the mirror's objects.
    let index = parent.join(format!(".{sha}.index"));
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(mirror)
        .arg("--work-tree")
        .arg(&tmp_str)
        .args(["checkout", "--quiet", "--force", sha, "--", "."])
        .env("GIT_INDEX_FILE", &index)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .await
        .map_err(git_spawn_error)?;
    let _ = tokio::fs::remove_file(&index).await;
    if !out.status.success() {
        let _ = tokio::fs::remove_dir_all(&tmp).await;
        return Err(SourceError::Git {
            url: scrub_userinfo(url),
            args: format!("checkout {sha}"),
            reason: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    match tokio::fs::rename(&tmp, dest).await {
        Ok(()) => Ok(()),
        // Someone else exported the same commit first: theirs is identical.
        Err(_) if dest.is_dir() => {
            let _ = tokio::fs::remove_dir_all(&tmp).await;
            Ok(())
        }
        Err(source) => Err(SourceError::Io { path: dest.into(), source }),
    }
}

fn git_spawn_error(e: std::io::Error) -> SourceError {
    if e.kind() == std::io::ErrorKind::NotFound {
        SourceError::GitMissing
    } else {
        SourceError::Io { path: PathBuf::from("git"), source: e }
    }
}

/// Runs git non-interactively and returns its stdout. A command that talks
/// to the remote gets `access`; what git says comes back scrubbed of it.
async fn git(url: &str, git_dir: Option<&Path>, access: Option<&Prepared>, args: &[&str]) -> Result<String, SourceError> {
    let mut cmd = Command::new("git");
    if let Some(dir) = git_dir {
        cmd.arg("--git-dir").arg(dir);
    }
    match access {
        Some(p) => cmd.envs(p.env.iter().map(|(k, v)| (k, v))),
        // Never wait for a password on a terminal; never use a system config
        // that could redirect the fetch.
        None => cmd.env("GIT_TERMINAL_PROMPT", "0").env("GIT_CONFIG_NOSYSTEM", "1").envs(crate::git_access::askpass(String::new())),
    };
    let out = cmd.args(args).stdin(std::process::Stdio::null()).output().await.map_err(git_spawn_error)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let said = String::from_utf8_lossy(&out.stderr);
        let reason = match access {
            Some(p) => p.scrub(said.trim()),
            None => scrub_userinfo(said.trim()),
        };
        Err(SourceError::Git { url: scrub_userinfo(url), args: args.first().copied().unwrap_or_default().into(), reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> GitAccess {
        GitAccess::default()
    }

    fn sh(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"])
            .args(args)
            .output()
            .expect("git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn repo_with_commits(dir: &Path) -> (String, String) {
        sh(dir, &["init", "--quiet"]);
        std::fs::write(dir.join("a.yaml"), "one").unwrap();
        sh(dir, &["add", "."]);
        sh(dir, &["commit", "--quiet", "-m", "one"]);
        let first = sh(dir, &["rev-parse", "HEAD"]);
        sh(dir, &["tag", "v1"]);
        std::fs::write(dir.join("a.yaml"), "two").unwrap();
        sh(dir, &["commit", "--quiet", "-am", "two"]);
        (first, sh(dir, &["rev-parse", "HEAD"]))
    }

    #[tokio::test]
    async fn resolves_branches_tags_and_commits_and_sees_new_commits() {
        let repo = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let (first, second) = repo_with_commits(repo.path());
        let url = format!("file://{}", repo.path().display());
        let git = GitCache::new(cache.path());

        let head = git.fetch(&url, "", &access()).await.unwrap();
        assert_eq!(head.revision, second);
        assert_eq!(std::fs::read_to_string(head.path.join("a.yaml")).unwrap(), "two");
        assert_eq!(git.fetch(&url, "main", &access()).await.unwrap().revision, second);
        let tagged = git.fetch(&url, "v1", &access()).await.unwrap();
        assert_eq!(tagged.revision, first);
        assert_eq!(std::fs::read_to_string(tagged.path.join("a.yaml")).unwrap(), "one");
        assert_eq!(git.fetch(&url, &first[..10], &access()).await.unwrap().revision, first);

        std::fs::write(repo.path().join("a.yaml"), "three").unwrap();
        sh(repo.path(), &["commit", "--quiet", "-am", "three"]);
        let third = git.fetch(&url, "main", &access()).await.unwrap();
        assert_ne!(third.revision, second, "a new commit is seen on the next fetch");
        assert_eq!(std::fs::read_to_string(third.path.join("a.yaml")).unwrap(), "three");
    }

    #[tokio::test]
    async fn checkouts_nobody_asks_for_are_removed_and_made_again_when_asked() {
        let repo = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let (first, second) = repo_with_commits(repo.path());
        let url = format!("file://{}", repo.path().display());
        // Left by an earlier process: counted as unused from now.
        let earlier = GitCache::new(cache.path()).fetch(&url, "v1", &access()).await.unwrap();
        let git = GitCache { unused_lifetime: Duration::ZERO, ..GitCache::new(cache.path()) };

        let newer = git.fetch(&url, "main", &access()).await.unwrap();
        assert_eq!(newer.revision, second);
        assert!(newer.path.is_dir(), "the checkout asked for stays");
        assert!(!earlier.path.exists(), "the unused one is gone");

        let again = git.fetch(&url, "v1", &access()).await.unwrap();
        assert_eq!((again.revision.as_str(), &again.path), (first.as_str(), &earlier.path));
        assert_eq!(std::fs::read_to_string(again.path.join("a.yaml")).unwrap(), "one", "checked out again");
        assert!(!newer.path.exists());
        let left: Vec<_> = std::fs::read_dir(again.path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 1, "nothing else left behind: {left:?}");
    }

    #[tokio::test]
    async fn callers_waiting_on_one_repository_share_a_fetch() {
        let repo = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let (_, head) = repo_with_commits(repo.path());
        let url = format!("file://{}", repo.path().display());
        let git = GitCache::new(cache.path());

        let none = access();
        let all = futures::future::join_all((0..20).map(|_| git.fetch(&url, "main", &none))).await;
        let fetched = all.iter().filter(|c| c.as_ref().unwrap().fetched).count();
        assert!(all.iter().all(|c| c.as_ref().unwrap().revision == head));
        // The first caller fetches; everyone queued behind it shares the
        // one fetch that began after they asked.
        assert!((1..=2).contains(&fetched), "20 concurrent callers made {fetched} fetches");
        assert!(git.fetch(&url, "main", &access()).await.unwrap().fetched, "a later call fetches again");
    }

    #[tokio::test]
    async fn unknown_revision_and_unreachable_repository_are_clear_errors() {
        let repo = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        repo_with_commits(repo.path());
        let url = format!("file://{}", repo.path().display());
        let git = GitCache::new(cache.path());

        let err = git.fetch(&url, "no-such-branch", &access()).await.unwrap_err();
        assert!(matches!(err, SourceError::UnknownRevision { .. }), "{err}");
        assert!(err.to_string().contains("no-such-branch") && err.to_string().contains(&url));

        let missing = format!("file://{}/nope", repo.path().display());
        let err = git.fetch(&missing, "main", &access()).await.unwrap_err();
        assert!(matches!(err, SourceError::Unreachable { .. }), "{err}");
        assert!(err.to_string().contains("nope"));
    }
}
