//! Real Git repositories for tests.

use std::path::Path;
use std::process::Command;

/// A Git repository in a temporary directory, deleted on drop. Tests write
/// files, commit, and point Applications at [`GitRepo::url`].
pub struct GitRepo {
    dir: tempfile::TempDir,
}

impl GitRepo {
    /// An empty repository whose default branch is `main`.
    pub fn new() -> GitRepo {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let repo = GitRepo { dir };
        repo.git(&["init", "--quiet", "--initial-branch", "main"]);
        repo
    }

    /// `file://` URL of the repository.
    pub fn url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }

    /// The working tree.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes (or overwrites) a file, creating its directories.
    pub fn write(&self, path: &str, content: &str) -> &GitRepo {
        let p = self.dir.path().join(path);
        std::fs::create_dir_all(p.parent().expect("a file has a parent")).expect("create directories");
        std::fs::write(p, content).expect("write file");
        self
    }

    /// Deletes a file.
    pub fn remove(&self, path: &str) -> &GitRepo {
        std::fs::remove_file(self.dir.path().join(path)).expect("remove file");
        self
    }

    /// Commits everything and returns the new commit's SHA.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
        self.head()
    }

    /// The SHA of HEAD.
    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"])
    }

    /// Runs git in the repository and returns its trimmed stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(self.dir.path())
            .args(["-c", "user.name=driftless-test", "-c", "user.email=test@driftless.invalid", "-c", "commit.gpgsign=false"])
            .args(args)
            .output()
            .expect("git is on PATH");
        assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Default for GitRepo {
    fn default() -> Self {
        GitRepo::new()
    }
}
