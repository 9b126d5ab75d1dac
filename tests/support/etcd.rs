//! A real etcd cluster on 127.0.0.1 with free ports, for the shared-run tests: 3 members by
//! default, or as [`Options`] say (one member, TLS with certificates made by the `openssl`
//! CLI and client certificates required, a short auth token TTL); started and waited for
//! (bounded), authentication switched on through the JSON gateway, a member stoppable,
//! every member killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use bringup::journal::etcd::{Access, Etcd};

use super::sshd::free_ports;
use super::tools::Tool;

/// The runtime the tests' etcd requests run on: one for all (a connection lives on the
/// runtime that made it), with threads of its own so that any test thread may wait on it.
static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime for the etcd tests")
});

/// Wait for async etcd work from a test's (sync) thread.
pub fn block<F: std::future::Future>(fut: F) -> F::Output {
    RT.block_on(fut)
}

/// `.wait()` on an etcd future: [`block`] on it.
pub trait Wait: std::future::Future + Sized {
    fn wait(self) -> Self::Output {
        block(self)
    }
}

impl<F: std::future::Future> Wait for F {}

/// How long a fresh cluster may take to elect a leader and take writes.
const START_LIMIT: Duration = Duration::from_secs(30);

pub struct Cluster {
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:PORT` of each member's client URL, member 1 first.
    pub endpoints: Vec<String>,
    /// The test CA and a client certificate it signed, when the cluster speaks TLS.
    pub certs: Option<Certs>,
    /// How to reach the cluster (TLS; the root user once [`Cluster::enable_auth`] ran).
    pub access: Access,
    members: Vec<Option<Child>>,
    /// Command lines of members stopped to be restarted.
    stopped: std::collections::HashMap<usize, Vec<String>>,
}

/// How to start a cluster.
#[derive(Debug, Clone)]
pub struct Options {
    pub members: usize,
    /// Clients speak TLS to the members, and must show a certificate the test CA signed.
    pub tls: bool,
    /// `--auth-token-ttl` in seconds (etcd's default is 300).
    pub auth_token_ttl: Option<u64>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            members: 3,
            tls: false,
            auth_token_ttl: None,
        }
    }
}

/// PEM files made for one cluster.
#[derive(Debug, Clone)]
pub struct Certs {
    pub ca: PathBuf,
    /// A client certificate (and its key) the CA signed.
    pub cert: PathBuf,
    pub key: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(Tool::Openssl.path())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all P-256.
pub fn make_certs(dir: &Path) -> Certs {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=bringup test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca);
    for (name, ext) in [
        // The member's gateway talks to its own gRPC with this certificate: client use too.
        (
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
        ),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ] {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        let extfile = format!("{name}.ext");
        std::fs::write(dir.join(&extfile), ext).expect("write ext file");
        let mut req = vec!["req"];
        req.extend(ec);
        req.extend(["-keyout", &key, "-out", &csr, "-subj"]);
        let subj = format!("/CN={name}");
        req.push(&subj);
        openssl(dir, &req);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &extfile,
            ],
        );
    }
    Certs {
        ca: dir.join("ca.pem"),
        cert: dir.join("client.pem"),
        key: dir.join("client.key"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
    }
}

fn etcd_binary() -> PathBuf {
    Tool::Etcd.path()
}

impl Cluster {
    pub fn start() -> Cluster {
        Self::start_with(&Options::default())
    }

    pub fn start_with(options: &Options) -> Cluster {
        let etcd = etcd_binary();
        let dir = tempfile::tempdir().expect("temp dir");
        let n = options.members;
        let ports = free_ports(2 * n);
        let (clients, peers) = ports.split_at(n);
        let certs = options.tls.then(|| make_certs(dir.path()));
        let scheme = if certs.is_some() { "https" } else { "http" };
        let initial = (0..n)
            .map(|i| format!("m{}=http://127.0.0.1:{}", i + 1, peers[i]))
            .collect::<Vec<_>>()
            .join(",");
        let token = format!("bringup-test-{}", std::process::id());
        let members = (0..n)
            .map(|i| {
                let name = format!("m{}", i + 1);
                let client = format!("{scheme}://127.0.0.1:{}", clients[i]);
                let peer = format!("http://127.0.0.1:{}", peers[i]);
                let log = std::fs::File::create(dir.path().join(format!("{name}.log")))
                    .expect("member log");
                let mut cmd = Command::new(&etcd);
                cmd.args(["--name", &name])
                    .arg("--data-dir")
                    .arg(dir.path().join(&name))
                    .args(["--listen-client-urls", &client])
                    .args(["--advertise-client-urls", &client])
                    .args(["--listen-peer-urls", &peer])
                    .args(["--initial-advertise-peer-urls", &peer])
                    .args(["--initial-cluster", &initial])
                    .args(["--initial-cluster-state", "new"])
                    .args(["--initial-cluster-token", &token]);
                if let Some(c) = &certs {
                    cmd.arg("--cert-file")
                        .arg(&c.server_cert)
                        .arg("--key-file")
                        .arg(&c.server_key)
                        .arg("--trusted-ca-file")
                        .arg(&c.ca)
                        .arg("--client-cert-auth");
                }
                if let Some(ttl) = options.auth_token_ttl {
                    cmd.arg(format!("--auth-token-ttl={ttl}"));
                }
                let child = cmd
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .expect("start etcd");
                Some(child)
            })
            .collect();
        let access = Access {
            ca: certs.as_ref().map(|c| c.ca.clone()),
            cert: certs.as_ref().map(|c| c.cert.clone()),
            key: certs.as_ref().map(|c| c.key.clone()),
            ..Access::default()
        };
        let cluster = Cluster {
            dir,
            endpoints: clients.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
            certs,
            access,
            members,
            stopped: std::collections::HashMap::new(),
        };
        cluster.wait_writable();
        cluster
    }

    /// Add user `root` with `password` and the root role, and switch authentication on;
    /// from then on [`Cluster::access`] authenticates as root.
    pub fn enable_auth(&mut self, password: &str) {
        let ep = format!(
            "{}://{}",
            if self.certs.is_some() {
                "https"
            } else {
                "http"
            },
            self.endpoints[0]
        );
        let mut http = reqwest::Client::builder();
        if let Some(c) = &self.certs {
            let ca = std::fs::read(&c.ca).expect("CA");
            let cert = std::fs::read(&c.cert).expect("client cert");
            let key = std::fs::read(&c.key).expect("client key (PKCS#8, as openssl req writes it)");
            http = http
                .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca).expect("CA PEM"))
                .identity(reqwest::Identity::from_pkcs8_pem(&cert, &key).expect("identity"));
        }
        let http = http.build().expect("HTTP client");
        for (path, body) in [
            (
                "/v3/auth/user/add",
                serde_json::json!({ "name": "root", "password": password }),
            ),
            (
                "/v3/auth/user/grant",
                serde_json::json!({ "user": "root", "role": "root" }),
            ),
            ("/v3/auth/enable", serde_json::json!({})),
        ] {
            let request = http.post(format!("{ep}{path}")).body(body.to_string());
            let answer = block(async { request.send().await?.bytes().await })
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            let answer: serde_json::Value = serde_json::from_slice(&answer).expect("JSON answer");
            assert!(answer.get("code").is_none(), "{path}: {answer}");
        }
        self.access.user = Some("root".to_string());
        self.access.password = Some(password.to_string());
    }

    /// Until every member takes a write (so the cluster has a leader and each has joined).
    fn wait_writable(&self) {
        let start = Instant::now();
        for ep in &self.endpoints {
            loop {
                let ok = block(async {
                    let mut e = Etcd::connect_with(std::slice::from_ref(ep), &self.access).await?;
                    e.put(b"bringup-test/ready", ep.as_bytes()).await
                })
                .is_ok();
                if ok {
                    break;
                }
                assert!(
                    start.elapsed() < START_LIMIT,
                    "etcd cluster did not come up within {START_LIMIT:?}; logs in {}",
                    self.dir.path().display()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// `etcd://M1,M2,M3/NAME`.
    pub fn url(&self, name: &str) -> String {
        format!("etcd://{}/{name}", self.endpoints.join(","))
    }

    /// Kill member `i` and start it again later with [`Cluster::restart`], on its data.
    pub fn stop_for_restart(&mut self, i: usize) {
        if let Some(child) = &self.members[i] {
            let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id()))
                .expect("member's command line");
            let args = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            self.stopped.insert(i, args);
        }
        self.stop(i);
    }

    /// Start member `i` again as it was before [`Cluster::stop_for_restart`].
    pub fn restart(&mut self, i: usize) {
        let args = self.stopped.remove(&i).expect("member stopped for restart");
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.dir.path().join(format!("m{}.log", i + 1)))
            .expect("member log");
        let child = Command::new(&args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("restart etcd");
        self.members[i] = Some(child);
    }

    /// Stop member `i` with SIGSTOP: its connections stay open and its kernel still takes
    /// new ones, but it answers nothing (a hung member, or a path that drops packets).
    pub fn freeze(&mut self, i: usize) {
        self.signal(i, nix::sys::signal::Signal::SIGSTOP);
    }

    /// Let a member stopped by [`Cluster::freeze`] go on.
    pub fn thaw(&mut self, i: usize) {
        self.signal(i, nix::sys::signal::Signal::SIGCONT);
    }

    /// Let every frozen member go on (a killed one is left alone).
    pub fn thaw_all(&mut self) {
        for i in 0..self.members.len() {
            if self.members[i].is_some() {
                self.thaw(i);
            }
        }
    }

    fn signal(&self, i: usize, signal: nix::sys::signal::Signal) {
        let child = self.members[i].as_ref().expect("member running");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("a pid"));
        nix::sys::signal::kill(pid, signal).expect("signal the member");
    }

    /// Kill member `i` (0-based) and wait for it to be gone.
    pub fn stop(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.stop(i);
        }
    }
}

/// Every event of the shared run at `url`, parsed, through whichever member answers; none
/// while no member does (a test polling for an event just polls again).
pub fn events(url: &str) -> Vec<serde_json::Value> {
    use bringup::journal::etcd::{EtcdStore, RunUrl};
    let Ok(mut store) = block(EtcdStore::open(&RunUrl::parse(url).expect("url"))) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let _ = block(store.read_lines(|_, line| {
        out.push(serde_json::from_slice(line).expect("event is JSON"));
    }));
    out
}
