//! One registry's HTTP client: the scheme (TLS, or plain http for local and
//! `--insecure` registries), the `/v2/` ping that learns the auth challenge, and
//! requests with auth, retries with backoff (connection errors, 429 and 5xx) and
//! errors that name the registry, repository and HTTP status.

use super::auth::{parse_challenge, Auth, Challenge};
use super::{media, tls, RegistryError};
use crate::credentials::Credential;
use crate::digest::Digest;
use crate::progress::{Counting, Task};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Manifests and other JSON answers are read whole, up to this size.
pub const JSON_LIMIT: u64 = crate::store::JSON_BLOB_LIMIT;
const USER_AGENT: &str = concat!("sangja-image/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Registries (`host[:port]`) reached over plain http when TLS fails.
    pub insecure: Vec<String>,
    pub cert_dir: Option<PathBuf>,
    pub credential: Option<Credential>,
    /// Attempts after the first, for connection errors, 429 and 5xx.
    pub retries: u32,
    pub retry_base: Duration,
    /// The whole token request's limit ([`super::auth::TOKEN_DEADLINE`] unless a test shortens it).
    pub token_deadline: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            insecure: Vec::new(),
            cert_dir: None,
            credential: None,
            retries: 4,
            retry_base: Duration::from_millis(200),
            token_deadline: super::auth::TOKEN_DEADLINE,
        }
    }
}

/// A request body, re-created for every attempt.
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8], &'a str),
    /// A file streamed with its length, its bytes counted on a progress task.
    File(&'a Path, u64, Option<&'a Task<'a>>),
}

pub struct Request<'a> {
    pub method: &'static str,
    pub url: String,
    /// What is asked for, for errors: `manifest v1`, `blob sha256:...`.
    pub what: String,
    pub repository: &'a str,
    pub scopes: &'a [String],
    pub headers: Vec<(&'static str, String)>,
    pub body: Body<'a>,
}

pub struct Client {
    registry: String,
    base: String,
    agent: ureq::Agent,
    auth: Auth,
    retries: u32,
    retry_base: Duration,
}

/// Docker's rule: loopback names are local, reached over http when TLS fails.
pub fn is_local(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => host,
    };
    matches!(
        name.trim_start_matches('[').trim_end_matches(']'),
        "localhost" | "127.0.0.1" | "::1"
    )
}

/// The API host for a registry as a reference names it.
pub fn api_host(registry: &str) -> &str {
    match registry {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        other => other,
    }
}

/// Scopes for a repository: `repository:<name>:<actions>`.
pub fn scope(repository: &str, actions: &str) -> String {
    format!("repository:{repository}:{actions}")
}

impl Client {
    /// Connects to `registry` (as a reference names it): picks the scheme and learns
    /// how it wants to be authenticated.
    pub fn connect(registry: &str, opts: &ClientOptions) -> Result<Client, RegistryError> {
        let host = api_host(registry);
        let tls = tls::client_config(registry, opts.cert_dir.as_deref())?;
        let agent = ureq::AgentBuilder::new()
            .tls_config(tls)
            .timeout_connect(Duration::from_secs(30))
            .timeout_read(Duration::from_secs(300))
            .user_agent(USER_AGENT)
            .build();
        let mut client = Client {
            registry: registry.to_string(),
            base: format!("https://{host}"),
            agent,
            auth: Auth::new(registry, opts.credential.clone(), opts.token_deadline),
            retries: opts.retries,
            retry_base: opts.retry_base,
        };
        let insecure = is_local(host) || opts.insecure.iter().any(|i| i == registry || i == host);
        match client.ping() {
            Err(RegistryError::Transport { .. }) if insecure => {
                tracing::debug!(registry, "TLS failed, trying plain http");
                client.base = format!("http://{host}");
                client.ping()?;
            }
            other => other?,
        }
        Ok(client)
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// `GET /v2/`: 200 (open) or 401 with the challenge to answer from now on.
    fn ping(&self) -> Result<(), RegistryError> {
        let url = format!("{}/v2/", self.base);
        let mut attempt = 0;
        loop {
            match self.agent.get(&url).call() {
                Ok(_) => return Ok(()),
                Err(ureq::Error::Status(401, resp)) => {
                    let challenge = resp
                        .header("WWW-Authenticate")
                        .and_then(parse_challenge)
                        .unwrap_or(Challenge::Basic);
                    self.auth.set_challenge(challenge);
                    return Ok(());
                }
                Err(ureq::Error::Status(code, resp))
                    if retryable(code) && attempt < self.retries =>
                {
                    drop(resp);
                    self.backoff(attempt, None);
                }
                Err(ureq::Error::Status(code, resp)) => {
                    return Err(self.status_error("GET", "/v2/", "registry", code, resp))
                }
                Err(ureq::Error::Transport(t)) if attempt < self.retries && !is_tls(&t) => {
                    tracing::debug!(error = %t, "ping failed, retrying");
                    self.backoff(attempt, None);
                }
                Err(ureq::Error::Transport(t)) => {
                    return Err(RegistryError::Transport {
                        registry: self.registry.clone(),
                        what: "connecting".into(),
                        message: t.to_string(),
                    })
                }
            }
            attempt += 1;
        }
    }

    /// Checks the client's credential (for `login`): the ping's challenge answered.
    pub fn verify_login(&self) -> Result<(), RegistryError> {
        match self.auth.challenge() {
            Challenge::None => Ok(()),
            Challenge::Bearer { .. } => self.auth.verify_login(&self.agent),
            Challenge::Basic => {
                let url = format!("{}/v2/", self.base);
                let req = Request {
                    method: "GET",
                    url,
                    what: "/v2/".into(),
                    repository: "registry",
                    scopes: &[],
                    headers: vec![],
                    body: Body::Empty,
                };
                self.send(req).map(|_| ())
            }
        }
    }

    pub fn url(&self, repository: &str, rest: &str) -> String {
        format!("{}/v2/{repository}/{rest}", self.base)
    }

    /// An upload `Location` made absolute.
    pub fn resolve(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            format!("{}/{location}", self.base)
        }
    }

    /// Sleeps before retry number `attempt` (0-based): 1x, 2x, 4x ... the base, or what
    /// the server's `Retry-After` asks (up to 10 s).
    pub fn backoff(&self, attempt: u32, retry_after: Option<&str>) {
        let asked = retry_after
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(10)));
        let wait = asked.unwrap_or(self.retry_base * (1u32 << attempt.min(6)));
        std::thread::sleep(wait);
    }

    pub fn retries(&self) -> u32 {
        self.retries
    }

    fn status_error(
        &self,
        method: &str,
        what: &str,
        repository: &str,
        code: u16,
        resp: ureq::Response,
    ) -> RegistryError {
        let reason = resp.status_text().to_string();
        let mut body = String::new();
        let _ = resp.into_reader().take(64 << 10).read_to_string(&mut body);
        let detail = registry_errors(&body);
        RegistryError::Status {
            registry: self.registry.clone(),
            repository: repository.to_string(),
            method: method.to_string(),
            what: what.to_string(),
            status: code,
            detail: match detail {
                Some(d) => format!(" {reason} ({d})"),
                None => format!(" {reason}"),
            },
        }
    }

    /// Sends a request, answering auth challenges and retrying what may pass.
    pub fn send(&self, req: Request<'_>) -> Result<ureq::Response, RegistryError> {
        let mut attempt = 0;
        let mut reauthed = false;
        loop {
            let mut r = self.agent.request(req.method, &req.url);
            for (k, v) in &req.headers {
                r = r.set(k, v);
            }
            if let Some(h) = self.auth.header(&self.agent, req.scopes)? {
                r = r.set("Authorization", &h);
            }
            let result = match &req.body {
                Body::Empty => r.call(),
                Body::Bytes(b, content_type) => r.set("Content-Type", content_type).send_bytes(b),
                Body::File(path, len, task) => {
                    let f = std::fs::File::open(path).map_err(|e| {
                        RegistryError::Other(format!(
                            "{}: opening {}: {e}",
                            req.what,
                            path.display()
                        ))
                    })?;
                    let r = r
                        .set("Content-Type", "application/octet-stream")
                        .set("Content-Length", &len.to_string());
                    match task {
                        Some(task) => {
                            task.restart();
                            r.send(Counting { inner: f, task })
                        }
                        None => r.send(f),
                    }
                }
            };
            match result {
                Ok(resp) => return Ok(resp),
                Err(ureq::Error::Status(401, resp)) if !reauthed => {
                    reauthed = true;
                    let old = self.auth.challenge();
                    let new = resp.header("WWW-Authenticate").and_then(parse_challenge);
                    match new {
                        Some(c) if !(c == old && c == Challenge::Basic) => {
                            let basic_without =
                                c == Challenge::Basic && self.auth.credential().is_none();
                            self.auth.set_challenge(c);
                            self.auth.forget(req.scopes);
                            if basic_without {
                                return Err(self.unauthorized(&req, resp));
                            }
                        }
                        _ => return Err(self.unauthorized(&req, resp)),
                    }
                }
                Err(ureq::Error::Status(code, resp))
                    if retryable(code) && attempt < self.retries =>
                {
                    let after = resp.header("Retry-After").map(str::to_string);
                    tracing::debug!(code, what = %req.what, attempt, "retrying");
                    drop(resp);
                    self.backoff(attempt, after.as_deref());
                    attempt += 1;
                }
                Err(ureq::Error::Status(401, resp)) => return Err(self.unauthorized(&req, resp)),
                Err(ureq::Error::Status(code, resp)) => {
                    return Err(self.status_error(
                        req.method,
                        &req.what,
                        req.repository,
                        code,
                        resp,
                    ))
                }
                Err(ureq::Error::Transport(t)) if attempt < self.retries && !is_tls(&t) => {
                    tracing::debug!(error = %t, what = %req.what, attempt, "retrying");
                    self.backoff(attempt, None);
                    attempt += 1;
                }
                Err(ureq::Error::Transport(t)) => {
                    return Err(RegistryError::Transport {
                        registry: self.registry.clone(),
                        what: format!("{} {} of {}", req.method, req.what, req.repository),
                        message: t.to_string(),
                    })
                }
            }
        }
    }

    fn unauthorized(&self, req: &Request<'_>, resp: ureq::Response) -> RegistryError {
        let mut e = self.status_error(req.method, &req.what, req.repository, 401, resp);
        if let RegistryError::Status { detail, .. } = &mut e {
            match self.auth.credential() {
                None => detail.push_str(&format!(
                    "; no credentials for {} (sangja-image login {})",
                    self.registry, self.registry
                )),
                Some(c) => {
                    detail.push_str(&format!("; credentials of user {:?} refused", c.username))
                }
            }
        }
        e
    }

    /// `GET` a manifest by tag or digest: its bytes, media type and digest.
    pub fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
        scopes: &[String],
    ) -> Result<(Vec<u8>, String, Digest), RegistryError> {
        let what = format!("manifest {reference}");
        let resp = self.send(Request {
            method: "GET",
            url: self.url(repository, &format!("manifests/{reference}")),
            what: what.clone(),
            repository,
            scopes,
            headers: vec![("Accept", media::accept())],
            body: Body::Empty,
        })?;
        let invalid = |message: String| RegistryError::Invalid {
            registry: self.registry.clone(),
            repository: repository.to_string(),
            what: what.clone(),
            message,
        };
        let content_type = resp
            .header("Content-Type")
            .map(|s| s.split(';').next().unwrap_or("").trim().to_string())
            .unwrap_or_default();
        let header_digest = resp.header("Docker-Content-Digest").map(str::to_string);
        let mut data = Vec::new();
        resp.into_reader()
            .take(JSON_LIMIT + 1)
            .read_to_end(&mut data)
            .map_err(|e| RegistryError::Transport {
                registry: self.registry.clone(),
                what: format!("GET {what} of {repository}"),
                message: e.to_string(),
            })?;
        if data.len() as u64 > JSON_LIMIT {
            return Err(invalid(format!("larger than {JSON_LIMIT} bytes")));
        }
        let digest = Digest::of_bytes(&data);
        if let Ok(want) = reference.parse::<Digest>() {
            if want != digest {
                return Err(invalid(format!("content hashes to {digest}, not {want}")));
            }
        } else if let Some(h) = header_digest
            .as_deref()
            .and_then(|h| h.parse::<Digest>().ok())
        {
            if h != digest {
                return Err(invalid(format!(
                    "content hashes to {digest}, the registry says {h}"
                )));
            }
        }
        Ok((data, content_type, digest))
    }

    /// The repository's tags (`GET /v2/<name>/tags/list`, following `Link` pages).
    pub fn tags(&self, repository: &str, scopes: &[String]) -> Result<Vec<String>, RegistryError> {
        self.pages(
            self.url(repository, "tags/list"),
            "tags list",
            repository,
            scopes,
            "tags",
        )
    }

    /// Every repository the registry lists (`GET /v2/_catalog`, following `Link` pages);
    /// a registry without the catalog API answers 404 (or refuses, 401/403).
    pub fn catalog(&self) -> Result<Vec<String>, RegistryError> {
        let scopes = ["registry:catalog:*".to_string()];
        self.pages(
            format!("{}/v2/_catalog?n=100", self.base),
            "catalog",
            "",
            &scopes,
            "repositories",
        )
    }

    /// A paged list (`{"<key>": [...]}` pages, the next one named by `Link`).
    fn pages(
        &self,
        mut url: String,
        what: &str,
        repository: &str,
        scopes: &[String],
        key: &str,
    ) -> Result<Vec<String>, RegistryError> {
        let mut out = Vec::new();
        loop {
            let resp = self.send(Request {
                method: "GET",
                url: url.clone(),
                what: what.into(),
                repository,
                scopes,
                headers: vec![],
                body: Body::Empty,
            })?;
            let next = resp
                .header("Link")
                .and_then(|l| l.split(';').next())
                .map(|l| {
                    l.trim()
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string()
                });
            let page: serde_json::Value = resp.into_json().map_err(|e| RegistryError::Invalid {
                registry: self.registry.clone(),
                repository: repository.to_string(),
                what: what.into(),
                message: e.to_string(),
            })?;
            // A null list is an empty one (a repository whose tags were all deleted).
            out.extend(
                page[key]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string)),
            );
            match next {
                Some(n) if !n.is_empty() => url = self.resolve(&n),
                _ => break,
            }
        }
        Ok(out)
    }
}

fn retryable(code: u16) -> bool {
    code == 429 || code >= 500
}

/// Certificate and handshake failures do not pass by waiting.
fn is_tls(t: &ureq::Transport) -> bool {
    let s = t.to_string().to_ascii_lowercase();
    s.contains("certificate") || s.contains("tls") || s.contains("handshake")
}

/// `CODE: message` of a registry's `{"errors":[...]}` body.
pub fn registry_errors(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let errs = v.get("errors")?.as_array()?;
    let parts: Vec<String> = errs
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                e.get("code").and_then(|c| c.as_str()).unwrap_or("?"),
                e.get("message").and_then(|c| c.as_str()).unwrap_or("")
            )
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_names() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:443",
            "[::1]:5000",
            "::1",
        ] {
            assert!(is_local(h), "{h}");
        }
        for h in ["127.0.0.2:5000", "example.com", "registry-1.docker.io"] {
            assert!(!is_local(h), "{h}");
        }
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            registry_errors(
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
            )
            .as_deref(),
            Some("MANIFEST_UNKNOWN: manifest unknown")
        );
        assert_eq!(registry_errors("oops"), None);
    }
}
