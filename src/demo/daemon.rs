//! The simulated services: a tiny TCP daemon per service instance that answers `ok <name>`,
//! and the start (detached), probe and stop operations the demo runbook's commands call.
//! Every daemon is bounded: it exits on SIGTERM, when its demo folder or pidfile goes away,
//! when the `bringup demo` process it was started under dies (however it dies), or after its
//! lifetime. It listens on 127.0.0.1 only and touches only its demo folder.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{DemoError, Layout, check_name};

/// How long a simulated service lives unless stopped.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);

/// How often a daemon looks for its folder and pidfile.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);
/// How long `start` waits for the daemon to answer.
const START_WAIT: Duration = Duration::from_secs(5);
/// How long `stop` waits after SIGTERM before SIGKILL.
const STOP_WAIT: Duration = Duration::from_secs(3);
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
const POLL: Duration = Duration::from_millis(25);

/// Why a probe found a service down.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("down: {0}")]
pub struct Down(pub String);

/// What `stop` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// The daemon with this pid was running and is gone now.
    Stopped(i32),
    /// Nothing was running under that name (stale files, if any, were removed).
    NotRunning,
}

/// The health line a service answers with.
pub fn health_line(name: &str) -> String {
    format!("ok {name}")
}

/// Run the daemon in the foreground until it is told or bound to stop. Detaches itself from
/// the caller's session first so that a step's process group ending does not take it along.
pub fn serve(layout: &Layout, name: &str, port: u16, lifetime: Duration) -> Result<(), DemoError> {
    check_name(name)?;
    if !layout.marker().is_file() {
        return Err(DemoError::NotDemoFolder {
            path: layout.dir.clone(),
        });
    }
    // Fails only when already a session or group leader, which is as detached as it gets.
    let _ = nix::unistd::setsid();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DemoError::io("start a runtime for", &layout.dir, e))?;
    runtime.block_on(serve_async(layout, name, port, lifetime))
}

async fn serve_async(
    layout: &Layout,
    name: &str,
    port: u16,
    lifetime: Duration,
) -> Result<(), DemoError> {
    use tokio::io::AsyncWriteExt;
    use tokio::signal::unix::{SignalKind, signal};

    let sig = |kind| signal(kind).map_err(|e| DemoError::io("watch signals in", &layout.dir, e));
    let mut term = sig(SignalKind::terminate())?;
    let mut int = sig(SignalKind::interrupt())?;
    // Registering replaces the default action (exit): a closing terminal must not end us.
    let mut hup = sig(SignalKind::hangup())?;

    let run_dir = layout.run_dir();
    fs::create_dir_all(&run_dir).map_err(|e| DemoError::io("create", &run_dir, e))?;
    let pid = own_pid();
    let pid_file = layout.pid_file(name);
    let port_file = layout.port_file(name);
    write_atomic(&pid_file, &format!("{pid}\n"))?;
    let listening = match tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
        Ok(l) => l.local_addr().map(|a| (l, a)),
        Err(e) => Err(e),
    };
    let (listener, bound) = match listening {
        Ok(pair) => pair,
        Err(e) => {
            let _ = fs::remove_file(&pid_file);
            return Err(DemoError::io("listen on 127.0.0.1 for", &pid_file, e));
        }
    };
    write_atomic(&port_file, &format!("{}\n", bound.port()))?;
    say(&format!("{name}: listening on {bound} (pid {pid})"));

    // Started under a `bringup demo` process: stay only while it lives. Its hold already let
    // go means it died while this service was being started.
    let owned = super::owner_alive(layout);
    if owned == Some(false) {
        let _ = fs::remove_file(&port_file);
        let _ = fs::remove_file(&pid_file);
        say(&format!(
            "{name}: exiting (the demo that staged this folder is gone)"
        ));
        return Ok(());
    }
    let answer = format!("{}\n", health_line(name));
    let started = Instant::now();
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    let reason = loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((mut stream, _)) = accepted {
                    let answer = answer.clone();
                    tokio::spawn(async move {
                        let _ = stream.write_all(answer.as_bytes()).await;
                        let _ = stream.shutdown().await;
                    });
                }
            }
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
            _ = hup.recv() => say(&format!("{name}: SIGHUP ignored")),
            _ = tick.tick() => {
                if !layout.marker().is_file() {
                    break "demo folder removed";
                }
                if read_pid(&pid_file) != Some(pid) {
                    break "pidfile removed or taken over";
                }
                if started.elapsed() >= lifetime {
                    break "lifetime over";
                }
                if owned.is_some() && super::owner_alive(layout) == Some(false) {
                    break "the demo that started it is gone";
                }
            }
        }
    };
    // Only our own files: a newer instance may already own the name.
    if read_pid(&pid_file) == Some(pid) {
        let _ = fs::remove_file(&port_file);
        let _ = fs::remove_file(&pid_file);
    }
    say(&format!("{name}: exiting ({reason})"));
    Ok(())
}

/// Start `name` detached (its output goes to its log file) and wait until it answers.
/// `flaky` makes the first `flaky` attempts fail with `why`, counted in a file of the folder.
pub fn start(
    layout: &Layout,
    bringup: &Path,
    name: &str,
    lifetime: Duration,
    flaky: u32,
    why: Option<&str>,
) -> Result<String, DemoError> {
    check_name(name)?;
    if !layout.marker().is_file() {
        return Err(DemoError::NotDemoFolder {
            path: layout.dir.clone(),
        });
    }
    if flaky > 0 {
        let attempt = count_attempt(layout, name)?;
        if attempt <= flaky {
            return Err(DemoError::StartFailed {
                name: name.to_string(),
                reason: format!(
                    "{} (attempt {attempt})",
                    why.unwrap_or("the service exited during startup")
                ),
            });
        }
    }
    if let Ok(line) = probe(layout, name) {
        return Ok(format!("{name}: already running ({line})"));
    }
    // Whatever is left of an earlier instance (a hung process, stale files) goes first.
    stop(layout, name)?;

    let log_dir = layout.log_dir();
    fs::create_dir_all(&log_dir).map_err(|e| DemoError::io("create", &log_dir, e))?;
    let log_path = layout.log_file(name);
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| DemoError::io("open", &log_path, e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| DemoError::io("open", &log_path, e))?;
    let lifetime_arg = humantime::format_duration(lifetime).to_string();
    // Not the step's pipes: the step ends when this launcher does, not when the daemon does.
    let mut child = Command::new(bringup)
        .arg("__demo-svc")
        .arg("serve")
        .arg(name)
        .arg("--dir")
        .arg(&layout.dir)
        .arg("--lifetime")
        .arg(&lifetime_arg)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| DemoError::io("run", bringup, e))?;

    let deadline = Instant::now() + START_WAIT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(DemoError::StartFailed {
                name: name.to_string(),
                reason: format!("it exited at once ({status}); see '{}'", log_path.display()),
            });
        }
        if let Ok(line) = probe(layout, name) {
            let port = read_port(layout, name).unwrap_or_default();
            return Ok(format!(
                "{name}: started on 127.0.0.1:{port} (pid {}): {line}",
                child.id()
            ));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(DemoError::StartFailed {
                name: name.to_string(),
                reason: format!(
                    "no answer within {}s; see '{}'",
                    START_WAIT.as_secs(),
                    log_path.display()
                ),
            });
        }
        std::thread::sleep(POLL);
    }
}

fn count_attempt(layout: &Layout, name: &str) -> Result<u32, DemoError> {
    let path = layout.attempts_file(name);
    let before = fs::read_to_string(&path)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        .unwrap_or(0);
    let attempt = before.saturating_add(1);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| DemoError::io("create", parent, e))?;
    }
    fs::write(&path, format!("{attempt}\n")).map_err(|e| DemoError::io("write", &path, e))?;
    Ok(attempt)
}

/// Ask the service `name` of this demo folder for its health line.
pub fn probe(layout: &Layout, name: &str) -> Result<String, Down> {
    if check_name(name).is_err() {
        return Err(Down(format!("'{name}' is not a service name")));
    }
    let Some(port) = read_port(layout, name) else {
        return Err(Down(format!("'{name}' is not running")));
    };
    probe_port(port, Some(name))
}

/// Ask whatever listens on 127.0.0.1:`port` for a health line; with `name`, it must be that
/// service's.
pub fn probe_port(port: u16, name: Option<&str>) -> Result<String, Down> {
    let who = name.map_or_else(|| "the service".to_string(), |n| format!("'{n}'"));
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)
        .map_err(|e| Down(format!("{who} does not answer on {addr}: {e}")))?;
    let _ = stream.set_read_timeout(Some(PROBE_TIMEOUT));
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .map_err(|e| Down(format!("{who} on {addr} sent no health line: {e}")))?;
    let line = line.trim_end().to_string();
    let healthy = match name {
        Some(n) => line == health_line(n),
        None => line.starts_with("ok "),
    };
    if healthy {
        Ok(line)
    } else {
        Err(Down(format!("{who} on {addr} answered '{line}'")))
    }
}

/// Stop the service `name` of this demo folder: SIGTERM, then SIGKILL if it lingers.
pub fn stop(layout: &Layout, name: &str) -> Result<Stopped, DemoError> {
    check_name(name)?;
    let pid_file = layout.pid_file(name);
    let port_file = layout.port_file(name);
    let outcome = match read_pid(&pid_file) {
        Some(pid) if is_our_daemon(pid, name) => {
            let target = Pid::from_raw(pid);
            let _ = kill(target, Signal::SIGTERM);
            if !wait_gone(pid, STOP_WAIT) {
                let _ = kill(target, Signal::SIGKILL);
                wait_gone(pid, Duration::from_secs(1));
            }
            Stopped::Stopped(pid)
        }
        _ => Stopped::NotRunning,
    };
    for f in [&port_file, &pid_file] {
        match fs::remove_file(f) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(DemoError::io("remove", f, e)),
        }
    }
    Ok(outcome)
}

/// Stop every service with a pidfile in this demo folder; returns how many were running.
pub fn stop_all(layout: &Layout) -> Result<usize, DemoError> {
    let run_dir = layout.run_dir();
    let entries = match fs::read_dir(&run_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(DemoError::io("read", &run_dir, e)),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|f| f.strip_suffix(".pid"))
                .map(str::to_string)
        })
        .filter(|n| check_name(n).is_ok())
        .collect();
    names.sort();
    let mut stopped = 0;
    for name in names {
        if let Stopped::Stopped(_) = stop(layout, &name)? {
            stopped += 1;
        }
    }
    Ok(stopped)
}

/// The pid a pidfile names, if it holds one.
pub fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path)
        .ok()?
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|p| *p > 1)
}

/// The port a service wrote when it started listening.
pub fn read_port(layout: &Layout, name: &str) -> Option<u16> {
    fs::read_to_string(layout.port_file(name))
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|p| *p > 0)
}

/// Alive and not a zombie. Where `/proc` exists a zombie (exited, not yet reaped) counts as gone.
pub fn is_alive(pid: i32) -> bool {
    if kill(Pid::from_raw(pid), None).is_err() {
        return false;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_none_or(|state| state != 'Z'),
        Err(_) => true,
    }
}

/// A stale pidfile may name a pid that now belongs to another program: where `/proc` lets us,
/// make sure it is this service's daemon before signalling it.
fn is_our_daemon(pid: i32, name: &str) -> bool {
    if !is_alive(pid) {
        return false;
    }
    match fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(raw) => {
            let args: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
            let has = |want: &str| args.contains(&want.as_bytes());
            has("__demo-svc") && has("serve") && has(name)
        }
        Err(_) => !Path::new("/proc/self").exists(),
    }
}

/// A line on stdout (the service's log); a closed stdout must not bring the service down.
fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn own_pid() -> i32 {
    // Linux and the BSDs cap pids far below i32::MAX.
    i32::try_from(std::process::id()).unwrap_or(i32::MAX)
}

fn wait_gone(pid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while is_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
    true
}

fn write_atomic(path: &Path, text: &str) -> Result<(), DemoError> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    fs::write(&tmp, text).map_err(|e| DemoError::io("write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| DemoError::io("write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_of_a_port_nobody_listens_on_is_down() {
        // Bind then drop to get a port that is almost certainly free.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind loopback")
            .port();
        let err = probe_port(port, Some("x")).expect_err("nothing listens");
        assert!(err.0.contains("does not answer"), "{err}");
    }

    #[test]
    fn probe_insists_on_the_named_health_line() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            for _ in 0..2 {
                let (mut s, _) = listener.accept().expect("accept");
                std::io::Write::write_all(&mut s, b"ok other\n").expect("write");
            }
        });
        assert!(probe_port(port, Some("mine")).is_err());
        assert_eq!(probe_port(port, None), Ok("ok other".to_string()));
        server.join().expect("server thread");
    }

    #[test]
    fn a_live_process_is_alive_and_a_reaped_one_is_not() {
        assert!(is_alive(
            i32::try_from(std::process::id()).expect("pid fits")
        ));
        let mut child = Command::new("true").spawn().expect("spawn true");
        let pid = i32::try_from(child.id()).expect("pid fits");
        child.wait().expect("wait");
        assert!(!is_alive(pid));
    }

    #[test]
    fn stop_without_a_pidfile_reports_not_running_and_clears_a_stale_port_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path());
        fs::create_dir_all(layout.run_dir()).expect("mkdir");
        fs::write(layout.port_file("svc"), "1\n").expect("write");
        assert_eq!(stop(&layout, "svc").expect("stop"), Stopped::NotRunning);
        assert!(!layout.port_file("svc").exists());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_pidfile_naming_another_program_is_never_signalled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path());
        fs::create_dir_all(layout.run_dir()).expect("mkdir");
        let mut sleeper = Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        fs::write(layout.pid_file("svc"), format!("{}\n", sleeper.id())).expect("write");
        let outcome = stop(&layout, "svc").expect("stop");
        let still_running = sleeper.try_wait().expect("try_wait").is_none();
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        assert_eq!(outcome, Stopped::NotRunning);
        assert!(
            still_running,
            "stop signalled a process that is not a demo service"
        );
    }
}
