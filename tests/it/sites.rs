//! Sites (SPEC "Sites and witnesses"): `[sites]` validated with located errors, and
//! `preflight --lost-site` over two loopback addresses as two sites — 127.0.0.1 the site that
//! survives, 127.0.0.2 the lost one, a real sshd on each: a jump host in the lost site is
//! reported, `--simulate` refuses every connection to it inside bringup (its sshd's log shows
//! none arrived), and the runbook rebuilt to avoid it passes; a shared journal's real etcd is
//! refused the same way. The bundled Pangyo runbook is only ever checked statically: nothing
//! connects to its 10.x addresses.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::local;
use crate::support::run::{stderr, stdout};
use crate::support::sshd::{Lab, Sshd, current_user, free_ports};

/// Connections `sshd` accepted so far: it logs each (at VERBOSE); the harness's own check
/// that it listens is one.
fn arrived(sshd: &Sshd) -> usize {
    sshd.log_text().matches("Connection from").count()
}

/// The surviving site's sshd (127.0.0.1) and the lost site's (127.0.0.2), both trusted in
/// the lab's ~/.ssh/known_hosts, both logging every connection.
fn two_sites(lab: &Lab) -> (Sshd, Sshd) {
    let gasan = lab.sshd_at("127.0.0.1", &free_ports(1), None, "LogLevel VERBOSE\n");
    let pangyo = lab.sshd_at("127.0.0.2", &free_ports(1), None, "LogLevel VERBOSE\n");
    // The harness's own check that each listens is logged a moment later: wait for it, so
    // that a count taken from here on moves only with bringup's connections.
    for sshd in [&gasan, &pangyo] {
        for _ in 0..200 {
            if arrived(sshd) > 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        assert_eq!(arrived(sshd), 1, "{}", sshd.log_text());
    }
    lab.ssh_home(&format!(
        "{}{}",
        gasan.known_hosts_lines(),
        pangyo.known_hosts_lines()
    ));
    (gasan, pangyo)
}

/// A runbook over the two sites: `app` in gasan (through `jump` when given), `bastion` in
/// pangyo; service `api` checks `app`.
fn runbook(lab: &Lab, gasan: &Sshd, pangyo: &Sshd, jump: Option<&str>) -> PathBuf {
    let key = lab.client_key.display();
    let jump = jump.map_or_else(String::new, |j| format!("jump = \"{j}\"\n"));
    let text = format!(
        r#"[runbook]
name = "two sites"

[defaults]
user = "{user}"
connect_timeout = "5s"

[sites.pangyo]
addresses = ["127.0.0.2"]

[sites.gasan]
addresses = ["127.0.0.1/32"]

[hosts.bastion]
address = "127.0.0.2"
port = {p2}
identity = "{key}"

[hosts.app]
address = "127.0.0.1"
port = {p1}
identity = "{key}"
{jump}
[[service]]
id = "api"
hosts = ["app"]
  [[service.check]]
  name = "up"
  run = "true"
"#,
        user = current_user(),
        p1 = gasan.ports[0],
        p2 = pangyo.ports[0],
    );
    let path = lab.path("two-sites.toml");
    fs::write(&path, text).expect("write runbook");
    path
}

/// `bringup preflight RUNBOOK ARGS` from the lab, with an empty resolver and mount table
/// (the machine's own are not the test's to judge).
fn preflight(lab: &Lab, runbook: &Path, args: &[&str]) -> Output {
    let empty = lab.path("empty");
    fs::write(&empty, "").expect("write empty file");
    lab.bringup()
        .arg("preflight")
        .arg(runbook)
        .args(args)
        .arg("--resolv-conf")
        .arg(&empty)
        .arg("--mounts")
        .arg(&empty)
        .output()
        .expect("bringup runs")
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("json: {e}\n{}", stdout(out)))
}

fn host<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["hosts"]
        .as_array()
        .and_then(|hs| hs.iter().find(|h| h["host"] == id))
        .unwrap_or_else(|| panic!("no host {id} in {doc}"))
}

#[test]
fn a_jump_host_in_the_lost_site_is_reported_simulated_away_and_avoided() {
    crate::require!(Sshd);
    let lab = Lab::new();
    let (gasan, pangyo) = two_sites(&lab);
    let through = runbook(&lab, &gasan, &pangyo, Some("bastion"));
    let (before_gasan, before_pangyo) = (arrived(&gasan), arrived(&pangyo));

    // The static pass names the jump host, and connects nowhere.
    let out = preflight(&lab, &through, &["--lost-site", "pangyo"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    assert!(
        text.contains(
            "DEPENDS ON LOST SITE: host 'app' (127.0.0.1, service 'api') is reached through jump host 'bastion' (127.0.0.2), in the lost site 'pangyo' (127.0.0.2/32)"
        ),
        "{text}"
    );
    assert!(
        text.contains("NOT READY: the run depends on the lost site 'pangyo' (1 finding)"),
        "{text}"
    );
    assert_eq!(arrived(&pangyo), before_pangyo, "{}", pangyo.log_text());
    assert_eq!(arrived(&gasan), before_gasan, "{}", gasan.log_text());

    // --simulate probes, refusing the lost site inside bringup: app cannot be reached, and
    // not one connection arrived at the lost site's sshd.
    let out = preflight(
        &lab,
        &through,
        &["--lost-site", "pangyo", "--simulate", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = json(&out);
    let app = host(&doc, "app");
    assert_eq!(app["reachable"], "no", "{doc}");
    let problems = app["problems"].to_string();
    assert!(
        problems.contains("refused by --simulate: '127.0.0.2' is in the lost site 'pangyo'"),
        "{doc}"
    );
    assert_eq!(doc["lost_site"]["mode"], "simulated", "{doc}");
    assert_eq!(
        doc["lost_site"]["dependencies"][0]["kind"], "jump_host",
        "{doc}"
    );
    assert_eq!(arrived(&pangyo), before_pangyo, "{}", pangyo.log_text());

    // Without the guard the same probe does reach it: the log would have shown a connection.
    let out = preflight(&lab, &through, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(arrived(&pangyo) > before_pangyo, "{}", pangyo.log_text());

    // Rebuilt to reach app directly: nothing depends on the lost site, and it still works.
    let direct = runbook(&lab, &gasan, &pangyo, None);
    let out = preflight(&lab, &direct, &["--lost-site", "pangyo", "--simulate"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(!text.contains("DEPENDS ON LOST SITE"), "{text}");
    assert!(text.contains("\nREADY: 1 host ready"), "{text}");
}

#[test]
fn a_host_of_the_lost_site_is_shown_lost_and_a_step_on_it_is_a_dependency() {
    crate::require!(Sshd);
    let lab = Lab::new();
    let (gasan, pangyo) = two_sites(&lab);
    let direct = runbook(&lab, &gasan, &pangyo, None);
    // A restore of api that runs on the bastion, in the lost site.
    let text = fs::read_to_string(&direct).expect("runbook")
        + "  [[service.restore]]\n  name = \"flip\"\n  run = \"true\"\n  hosts = [\"bastion\"]\n"
        // And a service that lives only in the lost site.
        + "[[service]]\nid = \"edge\"\nhosts = [\"bastion\"]\n  [[service.check]]\n  name = \"up\"\n  run = \"true\"\n";
    fs::write(&direct, text).expect("write runbook");
    let before = arrived(&pangyo);
    let out = preflight(
        &lab,
        &direct,
        &[
            "--lost-site",
            "pangyo",
            "--simulate",
            "--checks",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(host(&doc, "bastion")["reachable"], "lost site", "{doc}");
    let state = |id: &str| {
        doc["services"]
            .as_array()
            .and_then(|ss| ss.iter().find(|s| s["service"] == id))
            .map(|s| s["state"].clone())
    };
    assert_eq!(state("api"), Some("healthy".into()), "{doc}");
    assert_eq!(state("edge"), Some("lost site".into()), "{doc}");
    assert_eq!(doc["lost_site"]["lost_with_site"][0], "edge", "{doc}");
    assert_eq!(host(&doc, "app")["reachable"], "yes", "{doc}");
    assert_eq!(doc["lost_site"]["dependencies"][0]["kind"], "step_host");
    assert!(
        doc["lost_site"]["dependencies"][0]["text"]
            .as_str()
            .is_some_and(
                |t| t.starts_with("restore 'flip' of service 'api' runs on host 'bastion'")
            ),
        "{doc}"
    );
    assert_eq!(arrived(&pangyo), before, "{}", pangyo.log_text());
}

/// A local runbook in a folder whose files (the runbook, its operators file) sit on a
/// network mount served from the lost site, named by DNS suffix.
#[test]
fn files_on_a_mount_served_from_the_lost_site_and_its_resolver_are_dependencies() {
    let (dir, rb, _) = local::folder(
        r#"[runbook]
name = "mounted"
operators = "ops.allowed_signers"
lost_site = "pangyo"

[sites.pangyo]
addresses = ["10.10.0.0/16", "pangyo.example"]

[hosts.op]
transport = "local"

[[notify]]
url = "https://hooks.pangyo.example/T0/{{token}}"

[vars]
token = "s3cret-hook"

[[service]]
id = "api"
hosts = ["op"]
  [[service.check]]
  name = "up"
  run = "true"
"#,
    );
    fs::write(dir.path().join("ops.allowed_signers"), "").expect("write signers");
    let out = lost_site_preflight(
        dir.path(),
        &rb,
        ("/export/ops", dir.path()),
        "nameserver 10.10.0.53\nnameserver 10.30.0.53\n",
    );
    let doc = json(&out);
    let found: Vec<(&str, &str)> = doc["lost_site"]["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap_or_default(),
                d["text"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let kinds: Vec<&str> = found.iter().map(|f| f.0).collect();
    assert_eq!(kinds, ["webhook", "file", "file", "resolver"], "{doc}");
    assert_eq!(
        found[0].1,
        "[[notify]] #1 posts to 'hooks.pangyo.example', in the lost site 'pangyo' (pangyo.example)"
    );
    assert!(
        found[1].1.starts_with("the runbook '")
            && found[1].1.contains(
                "served from 'files.pangyo.example' in the lost site 'pangyo' (pangyo.example)"
            ),
        "{doc}"
    );
    assert!(found[2].1.starts_with("[runbook] operators '"), "{doc}");
    assert_eq!(
        found[3].1,
        format!(
            "nameserver 10.10.0.53 ({}) is in the lost site 'pangyo' (10.10.0.0/16); the run resolves 'hooks.pangyo.example' through it",
            dir.path().join("resolv.conf").display()
        )
    );
    assert!(!stdout(&out).contains("s3cret-hook"), "a secret was shown");
}

#[test]
fn site_errors_are_located_and_say_what_to_do() {
    let (dir, rb, _) = local::folder(
        r#"[runbook]
name = "bad sites"
lost_site = "pangyp"

[sites.pangyo]
addresses = ["10.20.0.0/16", "pangyo.example"]

[sites.gasan]
addresses = ["10.20.5.0/24", "10.30.0.7/16", "example"]

[hosts.a]
address = "10.20.5.9"

[hosts.b]
address = "10.20.1.1"
site = "gasan"

[hosts.c]
address = "10.40.0.1"
site = "nowhere"

[[service]]
id = "api"
hosts = ["a", "b", "c"]
  [[service.check]]
  name = "up"
  run = "true"
"#,
    );
    let out = local::output(local::bringup(dir.path()).arg("validate").arg(&rb));
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let e = stderr(&out);
    for needle in [
        "rb.toml:3:13: error: unknown site 'pangyp' (lost_site)",
        "help: did you mean 'pangyo'?",
        "rb.toml:9:14: error: address '10.20.5.0/24' of site 'gasan' overlaps '10.20.0.0/16' of site 'pangyo'",
        "rb.toml:9:30: error: '10.30.0.7/16' has host bits set; the network is '10.30.0.0/16'",
        "rb.toml:9:46: error: address 'example' of site 'gasan' overlaps 'pangyo.example' of site 'pangyo'",
        "rb.toml:12:11: error: address '10.20.5.9' of host 'a' falls in 2 sites: 'pangyo' (10.20.0.0/16), 'gasan' (10.20.5.0/24)",
        "rb.toml:16:8: error: host 'b' is declared in site 'gasan', but its address '10.20.1.1' is in site 'pangyo' ('10.20.0.0/16')",
        "rb.toml:20:8: error: unknown site 'nowhere' (site of host 'c')",
    ] {
        assert!(e.contains(needle), "missing {needle:?} in\n{e}");
    }
}

/// The bundled runbook declares its sites; its structure needs nothing from Pangyo, and what
/// an operator's machine and journal would need is named. Static only: its addresses are
/// real-looking 10.x ones and nothing here may connect to them.
#[test]
fn the_pangyo_runbook_is_checked_against_the_loss_of_pangyo_without_connecting() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rb = root.join("runbooks/pangyo-dc-fire.toml");
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty");
    fs::write(&empty, "").expect("write empty");
    let run = |extra: &[&str], resolv: &Path| {
        local::output(
            local::bringup(dir.path())
                .env("HOME", dir.path())
                .arg("preflight")
                .arg(&rb)
                .args(["--var", "ops_token=t", "--lost-site", "pangyo"])
                .args(extra)
                .arg("--resolv-conf")
                .arg(resolv)
                .arg("--mounts")
                .arg(&empty),
        )
    };
    let out = run(&[], &empty);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("Lost site 'pangyo' (10.10.0.0/16, pangyo.talk.example): static pass, nothing contacted\n  Nothing the run needs was found in it."),
        "{text}"
    );
    assert!(
        text.contains("\nREADY: nothing the run needs is in the lost site 'pangyo'"),
        "{text}"
    );

    let resolv = dir.path().join("resolv.conf");
    fs::write(&resolv, "nameserver 10.10.0.53\n").expect("write resolv");
    let out = run(
        &[
            "--journal",
            "etcd://10.10.0.21:2379,10.10.0.22:2379,10.20.0.21:2379/fire",
        ],
        &resolv,
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    let found: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("DEPENDS ON LOST SITE: "))
        .collect();
    assert_eq!(
        found,
        [
            "the shared journal's etcd member '10.10.0.21:2379' (--journal) is in the lost site 'pangyo' (10.10.0.0/16)",
            "the shared journal's etcd member '10.10.0.22:2379' (--journal) is in the lost site 'pangyo' (10.10.0.0/16)",
            "the shared journal loses its quorum: 2 of the 3 etcd members --journal names are in the lost site 'pangyo', so no event can be committed",
            &format!(
                "nameserver 10.10.0.53 ({}) is in the lost site 'pangyo' (10.10.0.0/16); the run resolves 'bastion.gasan.talk.example' through it",
                resolv.display()
            ),
        ],
        "{text}"
    );
}

#[test]
fn an_unknown_lost_site_and_simulate_without_one_are_refused() {
    let (dir, rb, _) = local::folder(
        "[sites.pangyo]\naddresses = [\"10.10.0.0/16\"]\n[hosts.op]\ntransport = \"local\"\n[[service]]\nid = \"a\"\nhosts = [\"op\"]\n  [[service.check]]\n  name = \"up\"\n  run = \"true\"\n",
    );
    let out = local::output(
        local::bringup(dir.path())
            .arg("preflight")
            .arg(&rb)
            .args(["--lost-site", "pangy"]),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown site 'pangy' (--lost-site); did you mean 'pangyo'?"),
        "{}",
        stderr(&out)
    );
    let out = local::output(
        local::bringup(dir.path())
            .arg("preflight")
            .arg(&rb)
            .arg("--simulate"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--simulate needs a lost site"),
        "{}",
        stderr(&out)
    );
}

/// A shared journal on a real loopback etcd: with its members' address in the lost site,
/// `--simulate` finds its etcd unreachable (every request refused inside bringup) and says
/// the quorum goes with the site; with another site lost, the same etcd answers.
#[test]
fn simulate_refuses_a_shared_journals_etcd_in_the_lost_site_and_reaches_it_otherwise() {
    crate::require!(Etcd);
    let cluster = crate::support::etcd::Cluster::start();
    let url = cluster.url("sites-run");
    let (dir, rb, _) = local::folder(
        "[sites.pangyo]\naddresses = [\"127.0.0.1\"]\n[sites.gasan]\naddresses = [\"127.0.0.2\"]\n[hosts.op]\ntransport = \"local\"\n[[service]]\nid = \"a\"\nhosts = [\"op\"]\n  [[service.check]]\n  name = \"up\"\n  run = \"true\"\n",
    );
    let empty = dir.path().join("empty");
    fs::write(&empty, "").expect("write empty");
    let preflight = |lost: &str| {
        local::output(
            local::bringup(dir.path())
                .arg("preflight")
                .arg(&rb)
                .args(["--lost-site", lost, "--simulate", "--format", "json"])
                .args(["--journal", &url, "--resolv-conf"])
                .arg(&empty)
                .arg("--mounts")
                .arg(&empty),
        )
    };
    let out = preflight("pangyo");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = json(&out);
    let site = &doc["lost_site"];
    assert_eq!(site["journal_probe"]["reachable"], false, "{doc}");
    assert!(
        site["journal_probe"]["detail"].as_str().is_some_and(
            |d| d.contains("refused by --simulate: '127.0.0.1' is in the lost site 'pangyo'")
        ),
        "{doc}"
    );
    let kinds: Vec<&str> = site["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .filter_map(|d| d["kind"].as_str())
        .collect();
    assert_eq!(kinds.last(), Some(&"journal_quorum"), "{doc}");

    let out = preflight("gasan");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let doc = json(&out);
    assert_eq!(
        doc["lost_site"]["journal_probe"]["reachable"], true,
        "{doc}"
    );
}

#[test]
fn a_witness_kept_in_the_lost_site_is_a_dependency() {
    let (dir, rb, _) = local::folder(
        r#"[runbook]
name = "witnessed"
lost_site = "pangyo"

[sites.pangyo]
addresses = ["10.10.0.0/16", "pangyo.example"]

[sites.gasan]
addresses = ["10.30.0.0/16"]

[hosts.op]
transport = "local"

[[witness]]
url = "etcd://10.10.0.11:2379,10.30.0.12:2379/audit"

[[witness]]
path = "heads"

[[witness]]
url = "etcd://10.30.0.13:2379/elsewhere"

[[service]]
id = "api"
hosts = ["op"]
  [[service.check]]
  name = "up"
  run = "true"
"#,
    );
    let heads = dir.path().join("heads");
    fs::create_dir(&heads).expect("heads dir");
    let out = lost_site_preflight(
        dir.path(),
        &rb,
        ("/export/heads", &heads),
        "nameserver 10.30.0.53\n",
    );
    let doc = json(&out);
    let texts: Vec<&str> = doc["lost_site"]["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .filter_map(|d| d["text"].as_str())
        .collect();
    assert!(
        texts.iter().any(|t| t.starts_with(
            "[[witness]] #1's etcd member '10.10.0.11:2379' is in the lost site 'pangyo' (10.10.0.0/16)"
        )),
        "{doc}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("[[witness]] #2's directory '")
                && t.contains("served from 'files.pangyo.example'")),
        "{doc}"
    );
    assert!(
        !texts.iter().any(|t| t.contains("10.30.0.1")),
        "members outside the lost site are no dependency: {doc}"
    );
}

/// `preflight RB --lost-site pangyo --format json`, with a mount table in which the Pangyo
/// filer's `export` is mounted on `point`, and `DIR/resolv.conf` of `nameservers`; not ready
/// (exit 1).
fn lost_site_preflight(
    dir: &Path,
    rb: &Path,
    (export, point): (&str, &Path),
    nameservers: &str,
) -> std::process::Output {
    let mounts = dir.join("mounts");
    let point = fs::canonicalize(point).expect("canonical dir");
    fs::write(
        &mounts,
        format!(
            "/dev/sda1 / ext4 rw 0 0\nfiles.pangyo.example:{export} {} nfs4 rw,addr=10.10.0.9 0 0\n",
            point.display()
        ),
    )
    .expect("write mounts");
    let resolv = dir.join("resolv.conf");
    fs::write(&resolv, nameservers).expect("write resolv");
    let out = local::output(
        local::bringup(dir)
            .arg("preflight")
            .arg(rb)
            .args(["--lost-site", "pangyo", "--format", "json", "--mounts"])
            .arg(&mounts)
            .arg("--resolv-conf")
            .arg(&resolv),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    out
}
