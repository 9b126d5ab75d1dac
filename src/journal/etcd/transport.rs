//! How bringup reaches etcd: the members (one in use, the next tried when it does not
//! answer), TLS, and the auth token (taken when a user is set, renewed when etcd says it
//! expired), over etcd's JSON gRPC gateway (`POST /v3/...`, keys and values base64 in JSON).
//! Async on reqwest's client: nothing here blocks a thread. Knows nothing of journals; the
//! requests themselves are in `kv.rs`, `lease.rs` and `watch.rs`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

/// How long to wait for a member to accept a connection before trying the next.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one request may take (a member cut off from its quorum hangs until this).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(8);

/// How long to keep asking while members answer that they have no leader (an election
/// after a member was lost takes a second or two).
const ELECTION_WAIT: Duration = Duration::from_secs(10);
/// Pause between rounds over the members while they elect.
pub(super) const ROUND_PAUSE: Duration = Duration::from_millis(200);

/// gRPC codes after which another member may do better: unavailable, deadline exceeded.
pub(super) const RETRY_CODES: [i64; 2] = [14, 4];
/// gRPC code etcd answers with when a request's token is missing, invalid or expired.
pub(super) const UNAUTHENTICATED: i64 = 16;

#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error(
        "no etcd member answered ({tried}); check the HOST:PORT list and that etcd listens there for clients"
    )]
    Unreachable { tried: String },
    #[error("etcd at '{endpoint}' refused {path}: {message}")]
    Refused {
        endpoint: String,
        path: String,
        message: String,
    },
    #[error(
        "etcd at '{endpoint}' answered {path} with something unreadable ({reason}); is it etcd 3.4 or later?"
    )]
    BadAnswer {
        endpoint: String,
        path: String,
        reason: String,
    },
    #[error("cannot start an HTTP client for etcd: {0}")]
    Client(String),
    #[error(
        "cannot use '{path}' as the etcd {what}: {reason}; give a PEM file (-----BEGIN …-----)"
    )]
    Pem {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error(
        "--etcd-user '{user}' needs its password in the environment variable ETCD_PASSWORD (it is never read from the command line); set ETCD_PASSWORD and run again"
    )]
    NoPassword { user: String },
    #[error(
        "etcd at '{endpoint}' did not accept user '{user}': {message}; check --etcd-user (or ETCD_USER) and ETCD_PASSWORD"
    )]
    Auth {
        endpoint: String,
        user: String,
        message: String,
    },
    #[error(
        "etcd at '{endpoint}' asks who you are ({message}); pass --etcd-user NAME (or set ETCD_USER) with its password in ETCD_PASSWORD"
    )]
    NeedsUser { endpoint: String, message: String },
    #[error(
        "no etcd member answered plain HTTP ({tried}); if the members use TLS, pass --etcd-ca FILE (the CA that signed their certificates, and --etcd-cert/--etcd-key if they ask for a client certificate)"
    )]
    UnreachablePlain { tried: String },
    #[error(
        "etcd at '{endpoint}' cannot watch from revision {revision}: it was compacted (the oldest revision kept is {compacted}); read the current state and watch from there"
    )]
    Compacted {
        endpoint: String,
        revision: i64,
        compacted: i64,
    },
}

pub type Result<T, E = EtcdError> = std::result::Result<T, E>;

/// A connection to an etcd cluster through the first member that answers.
#[derive(Debug)]
pub struct Etcd {
    http: reqwest::Client,
    /// `http://HOST:PORT` (or `https://` with a CA) each.
    pub(super) endpoints: Vec<String>,
    /// The member used until it fails.
    pub(super) current: usize,
    /// How to speak TLS, kept to build the watch's own client.
    pub(super) tls: Tls,
    /// The user to authenticate as, if etcd's authentication is on.
    pub(super) auth: Option<Credentials>,
    /// The token etcd gave for `auth`, sent as `Authorization` with every request; renewed
    /// once when etcd says it expired.
    token: Mutex<Option<String>>,
    /// A watch stream silent this long is opened again
    /// ([`WATCH_SILENCE`](super::watch::WATCH_SILENCE)).
    pub(super) watch_silence: Duration,
}

/// TLS settings from `--etcd-ca`, `--etcd-cert`, `--etcd-key`.
#[derive(Debug, Clone, Default)]
pub(super) struct Tls {
    /// The only roots trusted (none built in) when a CA was given.
    roots: Option<Vec<reqwest::Certificate>>,
    identity: Option<reqwest::Identity>,
}

impl Tls {
    fn load(access: &super::Access) -> Result<Tls> {
        let roots = match &access.ca {
            Some(ca) => Some(read_certs("CA certificate", ca)?),
            None => None,
        };
        let identity = match (&access.cert, &access.key) {
            (Some(cert), Some(key)) => {
                read_certs("client certificate", cert)?;
                let pem = read_pem("client certificate", cert)?;
                let key_pem = read_pem("client key", key)?;
                if !String::from_utf8_lossy(&key_pem).contains("PRIVATE KEY-----") {
                    return Err(pem_error("client key", key, "it holds no PEM private key"));
                }
                // TLS takes PKCS#8; `openssl genrsa`, `ecparam` and cfssl write PKCS#1 or
                // SEC1 keys, which are the same key in another wrapping.
                let pkcs8 = openssl::pkey::PKey::private_key_from_pem(&key_pem)
                    .and_then(|k| k.private_key_to_pem_pkcs8())
                    .map_err(|e| {
                        pem_error(
                            "client key",
                            key,
                            &format!("it is not a private key TLS can use ({e})"),
                        )
                    })?;
                Some(
                    reqwest::Identity::from_pkcs8_pem(&pem, &pkcs8).map_err(|e| {
                        pem_error(
                            "client key",
                            key,
                            &format!("it does not go with '{}': {e}", cert.display()),
                        )
                    })?,
                )
            }
            (Some(path), None) | (None, Some(path)) => {
                return Err(pem_error(
                    "client certificate",
                    path,
                    "--etcd-cert and --etcd-key go together",
                ));
            }
            (None, None) => None,
        };
        Ok(Tls { roots, identity })
    }

    /// An HTTP client speaking TLS as set; `timeout` (when given) bounds a whole request,
    /// its answer's body included.
    pub(super) fn client(&self, timeout: Option<Duration>) -> Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("bringup/", env!("CARGO_PKG_VERSION")));
        if let Some(timeout) = timeout {
            builder = builder.timeout(timeout);
        }
        if let Some(roots) = &self.roots {
            builder = builder.tls_certs_only(roots.iter().cloned());
        }
        if let Some(identity) = &self.identity {
            builder = builder.identity(identity.clone());
        }
        builder
            .build()
            .map_err(|e| EtcdError::Client(transport_reason(e)))
    }
}

/// A user and its password (never shown).
#[derive(Clone)]
pub(super) struct Credentials {
    user: String,
    password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials {{ user: {:?}, password: *** }}", self.user)
    }
}

fn pem_error(what: &'static str, path: &Path, reason: &str) -> EtcdError {
    EtcdError::Pem {
        what,
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn read_pem(what: &'static str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| pem_error(what, path, &format!("cannot read it: {e}")))
}

/// The certificates of a PEM file: at least one, each well formed.
fn read_certs(what: &'static str, path: &Path) -> Result<Vec<reqwest::Certificate>> {
    let pem = read_pem(what, path)?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| pem_error(what, path, &format!("it is not PEM certificates ({e})")))?;
    if certs.is_empty() {
        return Err(pem_error(what, path, "it holds no PEM certificate"));
    }
    Ok(certs)
}

impl Etcd {
    /// Connect to the first of `endpoints` (`HOST:PORT` or `http://HOST:PORT`) that answers a
    /// status request.
    pub async fn connect(endpoints: &[String]) -> Result<Etcd> {
        Self::connect_with(endpoints, &super::Access::default()).await
    }

    /// As [`Etcd::connect`], reaching etcd as `access` says (TLS, authentication).
    /// With a CA, endpoints given as `HOST:PORT` are reached over `https://`, trusting that
    /// CA only; with a user, every request carries the token etcd gives for it.
    pub async fn connect_with(endpoints: &[String], access: &super::Access) -> Result<Etcd> {
        Self::connect_bounded(endpoints, access, REQUEST_TIMEOUT).await
    }

    /// As [`Etcd::connect_with`], each request given up on a member after `timeout` (and
    /// sent to the next): short for small requests that must get through in time, like a
    /// lease's renewal past a member that hangs.
    pub async fn connect_bounded(
        endpoints: &[String],
        access: &super::Access,
        timeout: Duration,
    ) -> Result<Etcd> {
        let auth = match (&access.user, &access.password) {
            (Some(user), Some(password)) => Some(Credentials {
                user: user.clone(),
                password: password.clone(),
            }),
            (Some(user), None) => return Err(EtcdError::NoPassword { user: user.clone() }),
            (None, _) => None,
        };
        let tls = Tls::load(access)?;
        let http = tls.client(Some(timeout))?;
        let scheme = if tls.roots.is_some() { "https" } else { "http" };
        let mut etcd = Etcd {
            http,
            endpoints: endpoints
                .iter()
                .map(|e| {
                    if e.starts_with("http://") || e.starts_with("https://") {
                        e.clone()
                    } else {
                        format!("{scheme}://{e}")
                    }
                })
                .collect(),
            current: 0,
            tls,
            auth,
            token: Mutex::new(None),
            watch_silence: super::watch::WATCH_SILENCE,
        };
        if etcd.endpoints.is_empty() {
            return Err(EtcdError::Unreachable {
                tried: "no endpoint given".to_string(),
            });
        }
        let plain = etcd.endpoints.iter().all(|e| e.starts_with("http://"));
        match etcd.call("/v3/maintenance/status", &json!({})).await {
            // A TLS member drops a plain HTTP request without a word: say what may be missing.
            Err(EtcdError::Unreachable { tried }) if plain => {
                Err(EtcdError::UnreachablePlain { tried })
            }
            Err(e) => Err(e),
            Ok(_) => Ok(etcd),
        }
    }

    /// The member in use, as `http://HOST:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoints[self.current]
    }

    pub(super) fn decode<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        answer: Value,
    ) -> Result<T> {
        serde_json::from_value(answer).map_err(|e| self.bad(path, e.to_string()))
    }

    pub(super) fn bad(&self, path: &str, reason: String) -> EtcdError {
        EtcdError::BadAnswer {
            endpoint: self.endpoint().to_string(),
            path: path.to_string(),
            reason,
        }
    }

    /// POST `body` to `path` on the current member; on no answer (or one saying it cannot
    /// serve), on each other member in turn, staying with the first that answers.
    pub(super) async fn call(&mut self, path: &str, body: &Value) -> Result<Value> {
        let body = serde_json::to_vec(body).map_err(|e| EtcdError::Client(e.to_string()))?;
        let deadline = Instant::now() + ELECTION_WAIT;
        loop {
            let mut tried = Vec::new();
            let mut electing = false;
            for i in 0..self.endpoints.len() {
                let at = (self.current + i) % self.endpoints.len();
                let endpoint = &self.endpoints[at];
                match self.post(endpoint, path, &body).await {
                    Ok(value) => {
                        self.current = at;
                        return Ok(value);
                    }
                    Err(Attempt::Retry { why, answered }) => {
                        tracing::debug!("etcd at '{endpoint}': {why}; trying the next member");
                        electing |= answered;
                        tried.push(format!("'{endpoint}': {why}"));
                    }
                    Err(Attempt::Fail(e)) => {
                        self.current = at;
                        return Err(e);
                    }
                }
            }
            // A member that answers "unavailable" is in a cluster choosing a leader: worth
            // waiting for. Members that do not answer at all are not.
            if !electing || Instant::now() >= deadline {
                return Err(EtcdError::Unreachable {
                    tried: tried.join("; "),
                });
            }
            tokio::time::sleep(ROUND_PAUSE).await;
        }
    }

    /// POST to one member, authenticating first when a user is set and no token is held,
    /// and once more when etcd says the token expired.
    async fn post(&self, endpoint: &str, path: &str, body: &[u8]) -> Result<Value, Attempt> {
        if self.auth.is_some() && self.current_token().is_none() {
            self.authenticate(endpoint).await?;
        }
        match self.post_once(endpoint, path, body, true).await {
            Err(Attempt::Fail(EtcdError::NeedsUser { .. })) if self.auth.is_some() => {
                tracing::debug!("etcd at '{endpoint}': the auth token expired; renewing it");
                self.authenticate(endpoint).await?;
                self.post_once(endpoint, path, body, true)
                    .await
                    .map_err(|a| match (a, &self.auth) {
                        (Attempt::Fail(EtcdError::NeedsUser { message, .. }), Some(auth)) => {
                            Attempt::Fail(EtcdError::Auth {
                                endpoint: endpoint.to_string(),
                                user: auth.user.clone(),
                                message,
                            })
                        }
                        (other, _) => other,
                    })
            }
            other => other,
        }
    }

    async fn post_once(
        &self,
        endpoint: &str,
        path: &str,
        body: &[u8],
        with_token: bool,
    ) -> Result<Value, Attempt> {
        crate::sites::fence::check_url(endpoint).map_err(|e| Attempt::Retry {
            why: e.to_string(),
            answered: false,
        })?;
        let mut request = self
            .http
            .post(format!("{endpoint}{path}"))
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if with_token && let Some(token) = self.current_token() {
            request = request.header(reqwest::header::AUTHORIZATION, token);
        }
        let resp = request
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| Attempt::Retry {
                why: transport_reason(e),
                answered: false,
            })?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| Attempt::Retry {
            why: transport_reason(e),
            answered: false,
        })?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            if status.is_server_error() {
                Attempt::Retry {
                    why: format!("HTTP {status}"),
                    answered: true,
                }
            } else {
                Attempt::Fail(EtcdError::BadAnswer {
                    endpoint: endpoint.to_string(),
                    path: path.to_string(),
                    reason: format!("HTTP {status}, not JSON: {e}"),
                })
            }
        })?;
        if let Some(code) = value.get("code").and_then(Value::as_i64) {
            let message = value
                .get("message")
                .or_else(|| value.get("error"))
                .and_then(Value::as_str)
                .unwrap_or("no message")
                .to_string();
            if RETRY_CODES.contains(&code) {
                return Err(Attempt::Retry {
                    why: message,
                    answered: true,
                });
            }
            if code == UNAUTHENTICATED || message.contains("user name is empty") {
                return Err(Attempt::Fail(EtcdError::NeedsUser {
                    endpoint: endpoint.to_string(),
                    message,
                }));
            }
            return Err(Attempt::Fail(EtcdError::Refused {
                endpoint: endpoint.to_string(),
                path: path.to_string(),
                message,
            }));
        }
        if !status.is_success() {
            return Err(if status.is_server_error() {
                Attempt::Retry {
                    why: format!("HTTP {status}"),
                    answered: true,
                }
            } else {
                Attempt::Fail(EtcdError::Refused {
                    endpoint: endpoint.to_string(),
                    path: path.to_string(),
                    message: format!("HTTP {status}"),
                })
            });
        }
        Ok(value)
    }

    /// Open a watch stream again once it has been silent for `silence` (default
    pub(super) fn current_token(&self) -> Option<String> {
        self.token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Ask `endpoint` for a token for the configured user, and keep it.
    pub(super) async fn authenticate(&self, endpoint: &str) -> Result<(), Attempt> {
        let Some(auth) = &self.auth else {
            return Ok(());
        };
        let path = "/v3/auth/authenticate";
        let body = serde_json::to_vec(&json!({ "name": auth.user, "password": auth.password }))
            .map_err(|e| Attempt::Fail(EtcdError::Client(e.to_string())))?;
        let refused = |message: String| {
            Attempt::Fail(EtcdError::Auth {
                endpoint: endpoint.to_string(),
                user: auth.user.clone(),
                message,
            })
        };
        let answer = self
            .post_once(endpoint, path, &body, false)
            .await
            .map_err(|a| match a {
                Attempt::Fail(
                    EtcdError::Refused { message, .. } | EtcdError::NeedsUser { message, .. },
                ) => refused(message),
                other => other,
            })?;
        let token = answer
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                Attempt::Fail(EtcdError::BadAnswer {
                    endpoint: endpoint.to_string(),
                    path: path.to_string(),
                    reason: "no token in the answer".to_string(),
                })
            })?;
        *self.token.lock().unwrap_or_else(PoisonError::into_inner) = Some(token.to_string());
        Ok(())
    }
}

pub(super) enum Attempt {
    /// This member did not serve the request (`answered`: it said so); another may.
    Retry { why: String, answered: bool },
    /// The cluster answered and said no: another member would say the same.
    Fail(EtcdError),
}

pub(super) fn transport_reason(e: reqwest::Error) -> String {
    let mut causes = String::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        causes.push_str(": ");
        causes.push_str(&s.to_string());
        source = s.source();
    }
    format!("{}{causes}", e.without_url())
}

#[derive(Deserialize)]
pub(super) struct Header {
    #[serde(default)]
    pub(super) revision: String,
}
