//! Registry authentication: the `WWW-Authenticate` challenge (Basic or Bearer), bearer
//! tokens fetched from the token endpoint for the scopes a request needs (cached until
//! they expire, fetched again when refused), and Basic credentials.

use super::RegistryError;
use crate::credentials::Credential;
use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a token without `expires_in` lives (the distribution spec's default).
const DEFAULT_TOKEN_LIFETIME: u64 = 60;

/// A token answer is a small JSON document; more than this is a hostile or broken server.
const MAX_TOKEN_BODY: u64 = 1 << 20;

/// How long a token request may take in all, body included. The agent's read timeout
/// bounds each read only, so a server dripping a byte at a time would hold a pull forever.
pub const TOKEN_DEADLINE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Challenge {
    /// No challenge seen: requests go out without credentials.
    #[default]
    None,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header: `Bearer realm="...",service="...",scope="..."`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
        }),
        _ => None,
    }
}

fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        out.insert(key, value);
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

struct Token {
    value: String,
    expires: Instant,
}

/// Auth state for one registry, shared by the threads of one command.
pub struct Auth {
    registry: String,
    credential: Option<Credential>,
    token_deadline: Duration,
    challenge: Mutex<Challenge>,
    tokens: Mutex<HashMap<String, Token>>,
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// A token endpoint's JSON answer received at `now`: the token and when to stop using it,
/// or why it is unusable.
pub fn parse_token_answer(body: &[u8], now: Instant) -> Result<(String, Instant), String> {
    let body: TokenResponse =
        serde_json::from_slice(body).map_err(|e| format!("invalid answer: {e}"))?;
    token_of(body, now).ok_or_else(|| "no token in the answer".to_string())
}

/// The token (`token`, else OAuth's `access_token`) and its deadline: renewed a little
/// before the server's.
fn token_of(body: TokenResponse, now: Instant) -> Option<(String, Instant)> {
    let value = body.token.or(body.access_token).filter(|t| !t.is_empty())?;
    // Capped: a server's `expires_in` near u64::MAX overflowed the Instant (a panic;
    // seen by `make fuzz`'s registry_json target). A day is longer than any command runs.
    let life = body
        .expires_in
        .unwrap_or(DEFAULT_TOKEN_LIFETIME)
        .clamp(10, MAX_TOKEN_LIFETIME);
    Some((value, now + Duration::from_secs(life - life / 10)))
}

/// The longest a token is kept, whatever the server says.
const MAX_TOKEN_LIFETIME: u64 = 24 * 60 * 60;

impl Auth {
    pub fn new(registry: &str, credential: Option<Credential>, token_deadline: Duration) -> Auth {
        Auth {
            registry: registry.to_string(),
            credential,
            token_deadline,
            challenge: Mutex::new(Challenge::None),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    pub fn credential(&self) -> Option<&Credential> {
        self.credential.as_ref()
    }

    pub fn challenge(&self) -> Challenge {
        self.challenge.lock().expect("auth lock").clone()
    }

    pub fn set_challenge(&self, c: Challenge) {
        *self.challenge.lock().expect("auth lock") = c;
    }

    /// Drops the cached token for `scopes` (the registry refused it).
    pub fn forget(&self, scopes: &[String]) {
        self.tokens
            .lock()
            .expect("auth lock")
            .remove(&scopes.join(" "));
    }

    fn err(&self, message: String) -> RegistryError {
        RegistryError::Auth {
            registry: self.registry.clone(),
            message,
        }
    }

    /// The `Authorization` header for a request needing `scopes`, if any applies.
    pub fn header(
        &self,
        agent: &ureq::Agent,
        scopes: &[String],
    ) -> Result<Option<String>, RegistryError> {
        match self.challenge() {
            Challenge::None => Ok(None),
            Challenge::Basic => Ok(self.credential.as_ref().map(Credential::basic_header)),
            Challenge::Bearer { realm, service } => {
                let key = scopes.join(" ");
                if let Some(t) = self.tokens.lock().expect("auth lock").get(&key) {
                    if t.expires > Instant::now() {
                        return Ok(Some(format!("Bearer {}", t.value)));
                    }
                }
                let token = self.fetch_token(agent, &realm, service.as_deref(), scopes)?;
                let header = format!("Bearer {}", token.value);
                self.tokens.lock().expect("auth lock").insert(key, token);
                Ok(Some(header))
            }
        }
    }

    /// Asks the token endpoint for a token with `scopes` (none: only checks the login).
    fn fetch_token(
        &self,
        agent: &ureq::Agent,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<Token, RegistryError> {
        let mut req = agent
            .get(realm)
            .timeout(self.token_deadline)
            .query("client_id", "sangja-image");
        if let Some(s) = service {
            req = req.query("service", s);
        }
        for s in scopes {
            req = req.query("scope", s);
        }
        if let Some(c) = &self.credential {
            req = req
                .query("account", &c.username)
                .set("Authorization", &c.basic_header());
        }
        let who = self
            .credential
            .as_ref()
            .map(|c| format!("user {:?}", c.username))
            .unwrap_or_else(|| "anonymous".into());
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                let text = r.into_string().unwrap_or_default();
                return Err(self.err(format!(
                    "token server {realm} refused {who} for scope {:?}: HTTP {code} {}",
                    scopes.join(" "),
                    text.trim().chars().take(200).collect::<String>()
                )));
            }
            Err(ureq::Error::Transport(t)) => {
                return Err(self.err(format!("token server {realm}: {t}")))
            }
        };
        let mut body = Vec::new();
        resp.into_reader()
            .take(MAX_TOKEN_BODY + 1)
            .read_to_end(&mut body)
            .map_err(|e| {
                self.err(format!(
                    "token server {realm}: reading the answer failed within the {}s limit: {e}",
                    self.token_deadline.as_secs_f32()
                ))
            })?;
        if body.len() as u64 > MAX_TOKEN_BODY {
            return Err(self.err(format!(
                "token server {realm}: answer larger than {MAX_TOKEN_BODY} bytes"
            )));
        }
        let (value, expires) = parse_token_answer(&body, Instant::now())
            .map_err(|e| self.err(format!("token server {realm}: {e}")))?;
        Ok(Token { value, expires })
    }

    /// Checks the credential against the registry's challenge (for `login`).
    pub fn verify_login(&self, agent: &ureq::Agent) -> Result<(), RegistryError> {
        match self.challenge() {
            Challenge::Bearer { realm, service } => {
                self.fetch_token(agent, &realm, service.as_deref(), &[])?;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (registry_json fuzz target): a huge `expires_in` panicked on overflow.
    #[test]
    fn token_lifetime_is_capped() {
        let now = Instant::now();
        let (t, until) =
            parse_token_answer(br#"{"token":"abc","expires_in":18446744073709551615}"#, now)
                .unwrap();
        assert_eq!(t, "abc");
        assert!(until <= now + Duration::from_secs(MAX_TOKEN_LIFETIME));
        let (_, until) =
            parse_token_answer(br#"{"access_token":"x","expires_in":0}"#, now).unwrap();
        assert!(until > now);
        assert!(parse_token_answer(br#"{"token":""}"#, now).is_err());
        assert!(parse_token_answer(b"not json", now).is_err());
    }

    #[test]
    fn parses_challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(r#"bearer realm=http://x/t, service="a\"b""#),
            Some(Challenge::Bearer {
                realm: "http://x/t".into(),
                service: Some("a\"b".into())
            })
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }
}
