//! A local registry for pulls through the CRI plugin: Debian's docker-registry
//! (distribution 2.8) on 127.0.0.1 at a free port, plain http, storage in a temp dir,
//! stopped by PID when dropped. Images get there with `skopeo copy` from an OCI layout.

use crate::cmd::{self, ok, wait_for};
use anyhow::{Context, Result};
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct Registry {
    child: Option<Child>,
    /// `127.0.0.1:PORT`
    pub host: String,
}

impl Registry {
    pub fn start(dir: &Path) -> Result<Registry> {
        fs::create_dir_all(dir)?;
        let mut last = String::new();
        // A freed port can be taken again before the registry binds it: try a few.
        for _ in 0..5 {
            let port = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
            let host = format!("127.0.0.1:{port}");
            let config = dir.join("config.yml");
            fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                     storage:\n  filesystem:\n    rootdirectory: {}\n\
                     http:\n  addr: {host}\n  secret: sangja-clients\n",
                    dir.join("data").display()
                ),
            )?;
            let log = fs::File::create(dir.join("registry.log"))?;
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("start docker-registry")?;
            let mut reg = Registry {
                child: Some(child),
                host,
            };
            if reg.wait_ready(port).is_ok() {
                return Ok(reg);
            }
            last = fs::read_to_string(dir.join("registry.log")).unwrap_or_default();
            reg.stop();
        }
        anyhow::bail!("docker-registry did not start: {last}")
    }

    /// Waits until the port answers HTTP, failing at once if the registry exited.
    fn wait_ready(&mut self, port: u16) -> Result<()> {
        wait_for("docker-registry to answer /v2/", || {
            if let Some(c) = self.child.as_mut() {
                if let Some(status) = c.try_wait()? {
                    anyhow::bail!("docker-registry exited ({status})");
                }
            }
            let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
                return Ok(None);
            };
            s.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n")?;
            let mut buf = [0u8; 16];
            Ok((s.read(&mut buf)? > 0).then_some(()))
        })
    }

    /// Pushes `oci:<layout ref>` as `<host>/<name>`; returns that reference.
    pub fn push(&self, layout_ref: &str, name: &str) -> Result<String> {
        let reference = format!("{}/{name}", self.host);
        ok(Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .arg(format!("oci:{layout_ref}"))
            .arg(format!("docker://{reference}")))
        .with_context(|| format!("push {reference}"))?;
        Ok(reference)
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = cmd::wait_guarded(&mut c, "docker-registry (stopping)");
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}
