//! Real components for the registry tests: Debian's docker-registry on a free port
//! (anonymous, htpasswd, or token auth), a token server issuing JWTs signed with a key
//! made here, a fault-injecting proxy in front of a registry, and OCI layouts built
//! by hand. Every daemon is stopped by PID on drop, pass or fail.
#![allow(dead_code)]

pub mod http;
pub mod oci;
pub mod token;

use libtest_mimic::Failed;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .expect("bind port 0")
        .local_addr()
        .expect("local addr")
        .port()
}

pub enum Auth {
    None,
    Htpasswd { user: String, password: String },
    Token { realm: String, cert: PathBuf },
}

pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub struct Registry {
    child: Child,
    pub host: String,
    pub dir: PathBuf,
}

pub const TOKEN_SERVICE: &str = "sangja-test-registry";
pub const TOKEN_ISSUER: &str = "sangja-test-issuer";

impl Registry {
    pub fn start(dir: &Path, auth: Auth) -> Result<Registry, Failed> {
        Self::start_on(dir, auth, "127.0.0.1", None)
    }

    pub fn start_on(
        dir: &Path,
        auth: Auth,
        ip: &str,
        tls: Option<Tls>,
    ) -> Result<Registry, Failed> {
        fs::create_dir_all(dir)?;
        let mut last = String::new();
        // A freed port may be taken again before the registry binds it: try a few.
        for _ in 0..5 {
            let port = free_port(ip);
            let host = format!("{ip}:{port}");
            let mut cfg = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n  secret: sangja-test\n",
                dir.join("data").display()
            );
            if let Some(t) = &tls {
                cfg.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    t.cert.display(),
                    t.key.display()
                ));
            }
            match &auth {
                Auth::None => {}
                Auth::Htpasswd { user, password } => {
                    let file = dir.join("htpasswd");
                    super::sh(
                        Command::new("htpasswd")
                            .args(["-Bbc"])
                            .arg(&file)
                            .args([user, password]),
                    )?;
                    cfg.push_str(&format!(
                        "auth:\n  htpasswd:\n    realm: sangja-test\n    path: {}\n",
                        file.display()
                    ));
                }
                Auth::Token { realm, cert } => {
                    cfg.push_str(&format!(
                        "auth:\n  token:\n    realm: {realm}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                        cert.display()
                    ));
                }
            }
            let cfg_path = dir.join("config.yml");
            fs::write(&cfg_path, cfg)?;
            let log = fs::File::create(dir.join("registry.log"))?;
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&cfg_path)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()?;
            let mut reg = Registry {
                child,
                host: host.clone(),
                dir: dir.to_path_buf(),
            };
            if reg.wait_ready(ip, port) {
                return Ok(reg);
            }
            last = fs::read_to_string(dir.join("registry.log")).unwrap_or_default();
            reg.stop();
        }
        Err(format!("docker-registry did not start: {last}").into())
    }

    /// Waits until the port answers HTTP (or the registry exits).
    fn wait_ready(&mut self, ip: &str, port: u16) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut s) = TcpStream::connect((ip, port)) {
                let _ = s.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n");
                let mut buf = [0u8; 16];
                if s.read(&mut buf).map(|n| n > 0).unwrap_or(false) {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
