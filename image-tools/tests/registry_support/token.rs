//! A token server for the registry's `auth.token`: JWTs (RS256, the certificate in
//! `x5c`) signed with a key made for the test, granting what a known user asks for.

use super::http::{Req, Resp, Server};
use base64::Engine as _;
use libtest_mimic::Failed;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub struct TokenServer {
    pub server: Server,
    pub cert: PathBuf,
    /// Tokens issued (refusals not counted).
    pub issued: Arc<AtomicUsize>,
    /// How many of the next tokens to issue already expired (the registry refuses them).
    pub stale: Arc<AtomicUsize>,
}

impl TokenServer {
    pub fn start(dir: &Path, user: &str, password: &str) -> Result<TokenServer, Failed> {
        std::fs::create_dir_all(dir)?;
        let key = dir.join("token-key.pem");
        let cert = dir.join("token-cert.pem");
        super::super::sh(
            Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                ])
                .args(["-subj", "/CN=sangja-test-token"])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&cert),
        )?;
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()?
            .stdout;
        let x5c = base64::engine::general_purpose::STANDARD.encode(der);
        let issued = Arc::new(AtomicUsize::new(0));
        let stale = Arc::new(AtomicUsize::new(0));
        let (issued2, stale2) = (issued.clone(), stale.clone());
        let (user, password) = (user.to_string(), password.to_string());
        let server = Server::start(Arc::new(move |req: &Req| {
            let account = req.header("Authorization").and_then(|h| {
                let b = h.strip_prefix("Basic ")?;
                let raw = base64::engine::general_purpose::STANDARD.decode(b).ok()?;
                let raw = String::from_utf8(raw).ok()?;
                let (u, p) = raw.split_once(':')?;
                Some((u.to_string(), p.to_string()))
            });
            let subject = match account {
                Some((u, p)) if u == user && p == password => u,
                Some(_) => return Resp::new(401, b"{\"details\":\"wrong credentials\"}"),
                None => String::new(),
            };
            let q = req.query();
            let access: Vec<serde_json::Value> = if subject.is_empty() {
                vec![]
            } else {
                q.iter()
                    .filter(|(k, _)| k == "scope")
                    .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
                    .filter_map(|s| {
                        let mut parts = s.splitn(3, ':');
                        let (t, n, a) = (parts.next()?, parts.next()?, parts.next()?);
                        Some(serde_json::json!({"type": t, "name": n, "actions": a.split(',').collect::<Vec<_>>()}))
                    })
                    .collect()
            };
            let expired = stale2
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            match sign(&key, &x5c, &subject, access, expired) {
                Ok(jwt) => {
                    issued2.fetch_add(1, Ordering::SeqCst);
                    let body =
                        serde_json::json!({"token": jwt, "access_token": jwt, "expires_in": 300});
                    Resp::new(200, body.to_string().as_bytes())
                        .header("Content-Type", "application/json")
                }
                Err(e) => Resp::new(500, e.as_bytes()),
            }
        }));
        Ok(TokenServer {
            server,
            cert,
            issued,
            stale,
        })
    }

    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.server.port)
    }
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn sign(
    key: &Path,
    x5c: &str,
    subject: &str,
    access: Vec<serde_json::Value>,
    expired: bool,
) -> Result<String, String> {
    let mut now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if expired {
        now -= 3600;
    }
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": super::TOKEN_ISSUER,
        "sub": subject,
        "aud": super::TOKEN_SERVICE,
        "exp": now + 300,
        "nbf": now - 60,
        "iat": now,
        "jti": format!("{now}-{}", std::process::id()),
        "access": access,
    });
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(format!("{input}.{}", b64url(&out.stdout)))
}
