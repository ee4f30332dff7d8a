//! An OCI registry on 127.0.0.1, plain HTTP: the CNCF distribution
//! `registry` binary (scripts/tools/registry.sh puts it in target/tools/bin).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

/// A running registry, stopped when dropped.
pub struct OciRegistry {
    /// `127.0.0.1:port`.
    pub host: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl OciRegistry {
    /// Starts a registry; with `htpasswd` (an htpasswd file's lines, bcrypt)
    /// it asks for basic auth. Panics when `registry` is not on PATH.
    pub fn start(htpasswd: Option<&str>) -> OciRegistry {
        let ok = Command::new("registry").arg("--version").output().is_ok_and(|o| o.status.success());
        assert!(ok, "registry is not on PATH: run scripts/tools/registry.sh and add target/tools/bin to PATH");
        let dir = tempfile::tempdir().expect("registry dir");
        let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
        let mut config = format!(
            "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {root}}}}}\nhttp: {{addr: 127.0.0.1:{port}}}\n",
            root = dir.path().join("data").display(),
        );
        if let Some(lines) = htpasswd {
            std::fs::write(dir.path().join("htpasswd"), lines).expect("htpasswd");
            config.push_str(&format!("auth: {{htpasswd: {{realm: test, path: {}}}}}\n", dir.path().join("htpasswd").display()));
        }
        std::fs::write(dir.path().join("config.yml"), config).expect("registry config");
        let child = Command::new("registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("registry");
        for _ in 0..400 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        OciRegistry { host: format!("127.0.0.1:{port}"), child, _dir: dir }
    }
}

impl Drop for OciRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
