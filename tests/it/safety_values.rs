//! "Values are data" and "secrets stay off command lines", through the real `bringup` binary
//! on a `transport = "local"` host and over a real OpenSSH sshd on loopback:
//! - hostile values in every placeholder context (bare, inside double quotes, in a
//!   here-document, in the script of `sh -c "…"` or `eval "…"`) arrive byte for byte and run
//!   nothing;
//! - placeholders in single-quote contexts are refused by `bringup validate`;
//! - secrets given by `--var-env` and `--var-file` appear in no process's command line on the
//!   machine while steps run (sshd's children included), and a multi-line secret or one that
//!   straddles the 64 KiB output cut is masked in the journal.

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::procs::unique;
use crate::support::run::stderr;
use crate::support::sshd::current_user;

crate::file_rig!(
    /// The shared ssh rig (one sshd, a HOME that trusts it) with a runbook head holding a local
    /// host `op` and an SSH host `remote`.
    Rig
);

impl Rig {
    fn new() -> Rig {
        Rig(crate::support::rig::Rig::ssh(1))
    }

    fn head(&self, meta: &str) -> String {
        format!(
            "[runbook]\nname = \"safety\"\n{meta}\n\n[defaults]\nuser = \"{}\"\ntimeout = \"30s\"\n\n\
             [hosts.op]\ntransport = \"local\"\n\n{}",
            current_user(),
            self.host_toml("remote", self.sshd().ports[0]),
        )
    }

    /// `name` in the rig, created as a folder.
    fn folder(&self, name: &str) -> PathBuf {
        let dir = self.path(name);
        fs::create_dir_all(&dir).expect("create dir");
        dir
    }
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
}

/// Values a shell would act on if they were spliced into a command; `P` is replaced by a path
/// that must never be created.
const HOSTILE: &[&str] = &[
    "$(touch P)",
    "`touch P`",
    "; touch P",
    "&& touch P #",
    "|| touch P",
    "line one\ntouch P\nline three",
    "it's a 'single' quote",
    "say \"double\" \"; touch P; \"",
    "' ; touch P ; '",
    r"back\slash \\ \n \$HOME \'",
    "100% %s %d %n",
    "$HOME and ${HOME} and $1 $@",
    "${x:-$(touch P)}",
    "ab+c/d==",
    "한국어 ✓ ünïcode — 🔥",
    "",
    "-n",
    "--help -e",
    "*",
    "EOF\ntouch P\nEOF",
    "}\ntouch P\n{",
    "\ttabs\tand trailing spaces  ",
    "!$ !! #not a comment",
];

/// Each context a placeholder can stand in, as a line of the step that writes the value to
/// `{{outdir}}/{{host}}-<i>.<name>`, and what the file must then hold.
/// A context: its name, the step's line, and the file content expected from a value.
type Case = (&'static str, String, fn(&str) -> String);

fn contexts(i: usize) -> Vec<Case> {
    let v = format!("{{{{v{i}}}}}");
    let f = |name: &str| format!("{{{{outdir}}}}/{{{{host}}}}-{i}.{name}");
    vec![
        ("bare", format!("printf '%s' {v} > {}", f("bare")), |x| {
            x.to_string()
        }),
        (
            "double",
            format!("printf '%s' \"<{v}>\" > {}", f("double")),
            |x| format!("<{x}>"),
        ),
        (
            "heredoc",
            format!("cat > {} <<EOF\n[{v}]\nEOF", f("heredoc")),
            |x| format!("[{x}]\n"),
        ),
        (
            "shc",
            format!("sh -c \"printf '%s' {v} > {}\"", f("shc")),
            |x| x.to_string(),
        ),
        (
            "eval",
            format!("eval \"printf '%s' {v} > {}\"", f("eval")),
            |x| x.to_string(),
        ),
        (
            "shcdouble",
            format!("sh -c \"printf '%s' \\\"<{v}>\\\" > {}\"", f("shcdouble")),
            |x| format!("<{x}>"),
        ),
    ]
}

#[test]
fn hostile_values_arrive_exactly_and_run_nothing_in_every_context_locally_and_over_ssh() {
    crate::require!(Sshd);
    let rig = Rig::new();
    let pwned = rig.path("pwned");
    let values: Vec<String> = HOSTILE
        .iter()
        .map(|v| v.replace('P', &pwned.display().to_string()))
        .collect();
    let out_dir = rig.folder("out");
    let value_dir = rig.folder("values");

    let mut text = rig.head("");
    text.push_str("[[service]]\nid = \"inject\"\nhosts = [\"op\", \"remote\"]\n\n");
    for i in 0..values.len() {
        let lines: Vec<String> = contexts(i).into_iter().map(|(_, line, _)| line).collect();
        let _ = write!(
            text,
            "  [[service.check]]\n  name = \"value {i}\"\n  run = '''\n{}\n'''\n\n",
            lines.join("\n")
        );
    }
    let runbook = rig.path("inject.toml");
    fs::write(&runbook, &text).expect("write runbook");

    let mut cmd = rig.bringup();
    cmd.args(["run", "--yes", "--journal"])
        .arg(rig.path("inject.jsonl"))
        .arg("--var")
        .arg(format!("outdir={}", out_dir.display()));
    for (i, value) in values.iter().enumerate() {
        // A var file loses one trailing newline: the value is exactly what precedes it.
        let file = value_dir.join(format!("v{i}"));
        fs::write(&file, format!("{value}\n")).expect("write value");
        cmd.arg("--var-file")
            .arg(format!("v{i}={}", file.display()));
    }
    cmd.arg(&runbook);
    let out = cmd.output().expect("bringup runs");
    assert_exit(&out, 0);

    let mut wrong = Vec::new();
    for host in ["op", "remote"] {
        for (i, value) in values.iter().enumerate() {
            for (name, _, expected) in contexts(i) {
                let path = out_dir.join(format!("{host}-{i}.{name}"));
                let got = fs::read(&path).unwrap_or_else(|e| {
                    panic!("{}: not written ({e})", path.display());
                });
                if got != expected(value).as_bytes() {
                    wrong.push(format!(
                        "{host} {name} {value:?}: got {:?}",
                        String::from_utf8_lossy(&got)
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "values changed on the way:\n{}",
        wrong.join("\n")
    );
    assert!(!pwned.exists(), "a value was run as a command");
}

#[test]
fn placeholders_in_single_quote_contexts_are_refused_with_their_location() {
    crate::require!(Sshd);
    let rig = Rig::new();
    let runbook = rig.path("quoted.toml");
    let text = format!(
        "{}[vars]\nx = \"1\"\n\n[[service]]\nid = \"q\"\nhosts = [\"op\"]\n  [[service.check]]\n  name = \"a\"\n  run = \"printf '%s' '{{{{x}}}}'\"\n  [[service.check]]\n  name = \"b\"\n  run = \"sh -c 'printf %s {{{{x}}}}'\"\n  [[service.check]]\n  name = \"c\"\n  run = \"printf %s $'{{{{x}}}}'\"\n  [[service.check]]\n  name = \"d\"\n  run = \"sh -c \\\"printf '%s' '{{{{x}}}}'\\\"\"\n",
        rig.head("")
    );
    fs::write(&runbook, text).expect("write runbook");
    let out = rig
        .bringup()
        .arg("validate")
        .arg(&runbook)
        .output()
        .expect("validate runs");
    assert_exit(&out, 2);
    let err = stderr(&out);
    for location in [":25:23:", ":28:27:", ":31:22:", ":34:31:"] {
        assert!(
            err.contains(&format!(
                "quoted.toml{location} error: placeholder inside single quotes"
            )),
            "{location} missing in:\n{err}"
        );
    }
    assert!(err.contains("'{{x}}'"), "{err}");
    assert!(err.contains("help: "), "{err}");
    assert!(err.contains("4 problems"), "{err}");
}

/// Every process's command line on this machine, read from `/proc` until `stop`, checked for
/// each needle. Returns the hits and how many `sh -s` step shells were seen (proof that the
/// scan ran while steps did).
fn watch_command_lines(
    needles: Vec<Vec<u8>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(Vec<String>, usize)> {
    std::thread::spawn(move || {
        let mut hits = Vec::new();
        let mut step_shells = std::collections::BTreeSet::new();
        while !stop.load(Ordering::Relaxed) {
            let Ok(entries) = fs::read_dir("/proc") else {
                break;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(pid) = name
                    .to_str()
                    .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                else {
                    continue;
                };
                let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
                    continue;
                };
                if cmdline == b"sh\0-s\0" {
                    step_shells.insert(pid.to_string());
                }
                for needle in &needles {
                    if cmdline
                        .windows(needle.len())
                        .any(|w| w == needle.as_slice())
                    {
                        hits.push(format!(
                            "pid {pid}: {}",
                            String::from_utf8_lossy(&cmdline).replace('\0', " ")
                        ));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (hits, step_shells.len())
    })
}

#[test]
fn secrets_from_env_and_file_stay_off_every_command_line_and_out_of_the_journal() {
    crate::require!(Sshd);
    let rig = Rig::new();
    let env_secret = unique("envS3cret");
    let key_line = unique("AAAAkeyline");
    let pem = format!("-----BEGIN TEST KEY-----\n{key_line}\nBBBBsecond\n-----END TEST KEY-----");
    let key_file = rig.path("key.pem");
    fs::write(&key_file, format!("{pem}\n")).expect("write key");
    let out_dir = rig.folder("out");

    let mut text = rig.head("secret_vars = [\"token\", \"key\"]");
    text.push_str(
        "[[service]]\nid = \"secret\"\nhosts = [\"op\", \"remote\"]\n\n\
         [[service.check]]\nname = \"use the secrets for a while\"\n\
         run = '''\n\
         i=0\n\
         while [ $i -lt 12 ]; do\n  printf '%s' \"{{token}}\" > /dev/null; sleep 0.25; i=$((i+1))\ndone\n\
         printf '%s' \"{{token}}\" > {{outdir}}/{{host}}.token\n\
         printf '%s' {{key}} > {{outdir}}/{{host}}.key\n\
         echo \"token is {{token}}\"\n\
         printf 'key:\\n%s\\nend\\n' \"{{key}}\"\n\
         head -c 65530 /dev/zero | tr '\\0' x; printf '%s\\n' {{token}}\n\
         '''\n",
    );
    let runbook = rig.path("secret.toml");
    fs::write(&runbook, &text).expect("write runbook");
    let journal = rig.path("secret.jsonl");

    let needles: Vec<Vec<u8>> = vec![
        env_secret.clone().into_bytes(),
        key_line.clone().into_bytes(),
        b"BBBBsecond".to_vec(),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_command_lines(needles, Arc::clone(&stop));
    let out = rig
        .bringup()
        .env("BRINGUP_TEST_TOKEN", &env_secret)
        .args(["run", "--yes", "--journal"])
        .arg(&journal)
        .args(["--var-env", "token=BRINGUP_TEST_TOKEN", "--var-file"])
        .arg(format!("key={}", key_file.display()))
        .arg("--var")
        .arg(format!("outdir={}", out_dir.display()))
        .arg(&runbook)
        .output()
        .expect("bringup runs");
    stop.store(true, Ordering::Relaxed);
    let (hits, step_shells) = watcher.join().expect("watcher");
    assert_exit(&out, 0);
    assert!(
        hits.is_empty(),
        "a secret in a command line:\n{}",
        hits.join("\n")
    );
    assert!(
        step_shells >= 2,
        "the scan saw {step_shells} step shells; it must see the local and the remote one"
    );

    for host in ["op", "remote"] {
        let got =
            |ext: &str| fs::read_to_string(out_dir.join(format!("{host}.{ext}"))).expect("written");
        assert_eq!(
            got("token"),
            env_secret,
            "{host}: the env secret arrives exactly"
        );
        assert_eq!(got("key"), pem, "{host}: the file secret arrives exactly");
    }

    let mut recorded = fs::read_to_string(&journal).expect("journal");
    if let Ok(side) = fs::read_dir(format!("{}.d", journal.display())) {
        for f in side.flatten() {
            recorded.push_str(&String::from_utf8_lossy(
                &fs::read(f.path()).expect("side file"),
            ));
        }
    }
    let printed = String::from_utf8_lossy(&out.stdout);
    for needle in [env_secret.as_str(), key_line.as_str(), "BBBBsecond"] {
        assert!(!recorded.contains(needle), "'{needle}' is in the journal");
        assert!(!printed.contains(needle), "'{needle}' was printed");
    }
    assert!(recorded.contains("token is ***"), "output is kept, masked");
    assert!(
        recorded.contains("key:\\n***\\nend") || recorded.contains("\"***\""),
        "the PEM is one mask"
    );
    assert!(
        recorded.contains("x***"),
        "the secret after the 64 KiB cut is masked"
    );
}

#[test]
fn an_unset_env_var_or_unreadable_var_file_is_bad_input_naming_it() {
    crate::require!(Sshd);
    let rig = Rig::new();
    let runbook = rig.path("plain.toml");
    let text = format!(
        "{}[[service]]\nid = \"s\"\nhosts = [\"op\"]\n  [[service.check]]\n  name = \"c\"\n  run = \"true {{{{tok}}}}\"\n",
        rig.head("secret_vars = [\"tok\"]")
    );
    fs::write(&runbook, text).expect("write runbook");
    let unset = unique("BRINGUP_UNSET_");
    let out = rig
        .bringup()
        .env_remove(&unset)
        .args(["run", "--var-env"])
        .arg(format!("tok={unset}"))
        .arg(&runbook)
        .output()
        .expect("bringup runs");
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains(&format!("environment variable '{unset}' is not set")),
        "{}",
        stderr(&out)
    );
    let missing = rig.path("no-such-secret");
    for command in ["run", "validate"] {
        let out = rig
            .bringup()
            .args([command, "--var-file"])
            .arg(format!("tok={}", missing.display()))
            .arg(&runbook)
            .output()
            .expect("bringup runs");
        assert_exit(&out, 2);
        assert!(
            stderr(&out).contains(&format!("cannot use '{}'", missing.display())),
            "{command}: {}",
            stderr(&out)
        );
    }
}
