//! A real 3-member etcd cluster on 127.0.0.1 with free ports, for the shared-run tests:
//! started and waited for (bounded), a member stoppable, every member killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bringup::journal::etcd::Etcd;

use super::sshd::free_ports;

/// How long a fresh cluster may take to elect a leader and take writes.
const START_LIMIT: Duration = Duration::from_secs(30);

pub struct Cluster {
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:PORT` of each member's client URL, member 1 first.
    pub endpoints: Vec<String>,
    members: Vec<Option<Child>>,
    /// Command lines of members stopped to be restarted.
    stopped: std::collections::HashMap<usize, Vec<String>>,
}

fn etcd_binary() -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join("etcd");
        if p.is_file() {
            return p;
        }
    }
    let p = PathBuf::from("/usr/bin/etcd");
    assert!(
        p.is_file(),
        "etcd is not installed: run scripts/test, which installs Debian's etcd-server"
    );
    p
}

impl Cluster {
    pub fn start() -> Cluster {
        let etcd = etcd_binary();
        let dir = tempfile::tempdir().expect("temp dir");
        let ports = free_ports(6);
        let (clients, peers) = ports.split_at(3);
        let initial = (0..3)
            .map(|i| format!("m{}=http://127.0.0.1:{}", i + 1, peers[i]))
            .collect::<Vec<_>>()
            .join(",");
        let token = format!("bringup-test-{}", std::process::id());
        let members = (0..3)
            .map(|i| {
                let name = format!("m{}", i + 1);
                let client = format!("http://127.0.0.1:{}", clients[i]);
                let peer = format!("http://127.0.0.1:{}", peers[i]);
                let log = std::fs::File::create(dir.path().join(format!("{name}.log")))
                    .expect("member log");
                let child = Command::new(&etcd)
                    .args(["--name", &name])
                    .arg("--data-dir")
                    .arg(dir.path().join(&name))
                    .args(["--listen-client-urls", &client])
                    .args(["--advertise-client-urls", &client])
                    .args(["--listen-peer-urls", &peer])
                    .args(["--initial-advertise-peer-urls", &peer])
                    .args(["--initial-cluster", &initial])
                    .args(["--initial-cluster-state", "new"])
                    .args(["--initial-cluster-token", &token])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .expect("start etcd");
                Some(child)
            })
            .collect();
        let cluster = Cluster {
            dir,
            endpoints: clients.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
            members,
            stopped: std::collections::HashMap::new(),
        };
        cluster.wait_writable();
        cluster
    }

    /// Until every member takes a write (so the cluster has a leader and each has joined).
    fn wait_writable(&self) {
        let start = Instant::now();
        for ep in &self.endpoints {
            loop {
                let ok = Etcd::connect(std::slice::from_ref(ep))
                    .and_then(|mut e| e.put(b"bringup-test/ready", ep.as_bytes()))
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
