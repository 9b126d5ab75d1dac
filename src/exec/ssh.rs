//! The `ssh` transport over ssh2: connecting (TCP or through a jump host), checking the host
//! key, authenticating, and running one command on an open session. Everything here blocks;
//! the pool calls it from `spawn_blocking` and never shares one session between two commands.
//! It must not accept a changed host key, ask for a password, or decide whether a step passed.

use std::io::Read;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use socket2::{Domain, Protocol, Socket, Type};
use ssh2::{BlockDirections, ExtendedData, MethodType, Session};
use tokio::sync::mpsc::Sender;
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::sync::CancellationToken;

use super::ciphers;
use super::known_hosts::{self, OfferedKey, Verdict};
use super::lines::Chunker;
use super::ssh_config::Target;
use super::tunnel::Tunnel;
use super::{ExecError, StepResult};
use crate::journal::mask::Masker;
use crate::sites::fence;

/// How long the host gets between SIGTERM and SIGKILL of a stopped command's process group.
const TERM_GRACE_TENTHS: u32 = 10;
/// Longest wait in one poll, so that timeouts and cancels are seen promptly.
const POLL_SLICE: Duration = Duration::from_millis(100);
/// Marker the wrapper prints first: the PID of the remote shell, which sshd made a session
/// (and process group) leader, so `kill -- -PID` reaches everything the command started.
const PGID_MARKER: &str = "bringup-pgid=";

/// What the pool hands the transport, derived from `ExecOptions`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub connect_timeout: Duration,
    pub keepalive: Duration,
    /// Keepalive intervals of silence after which a host counts as lost.
    pub keepalive_max: u32,
    pub use_agent: bool,
    pub accept_new_host_keys: bool,
    /// Files whose keys are trusted: the user's known_hosts, then bringup's.
    pub known_hosts: Vec<PathBuf>,
    /// Where accepted keys are written.
    pub bringup_known_hosts: Option<PathBuf>,
}

/// Why a connection could not be made; carries the offered key when it was unknown so that
/// an operator can accept exactly that key later.
#[derive(Debug, Clone)]
pub struct Refused {
    pub error: Box<ExecError>,
    pub unknown_key: Option<Box<OfferedKey>>,
}

impl From<ExecError> for Refused {
    fn from(error: ExecError) -> Refused {
        Refused {
            error: Box::new(error),
            unknown_key: None,
        }
    }
}

/// (host label, `SHA256:…`) of host keys recorded under `--accept-new-host-keys`, in the order
/// they were met.
pub(crate) type AcceptedKeys = Vec<(String, String)>;

/// An authenticated session to one host, and what keeps its transport alive.
pub struct Connection {
    pub(crate) session: Session,
    /// A duplicate of the socket under the session, polled while the session is non-blocking.
    pub(crate) socket: OwnedFd,
    _tunnel: Option<Tunnel>,
    target: Target,
    /// (host label, `SHA256:…`) of each unknown host key recorded under
    /// `--accept-new-host-keys` on the way to this host — its jump hosts' first, then its own —
    /// until the pool hands them on to be journaled.
    pub(crate) accepted_keys: AcceptedKeys,
}

impl Connection {
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Say goodbye to the server; errors do not matter any more.
    pub fn disconnect(self) {
        self.session.set_blocking(true);
        self.session.set_timeout(2000);
        let _ = self
            .session
            .disconnect(None, "bringup is done with this host", None);
    }
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
}

/// How long connecting to one host may take, and the token that stops it at once.
struct Budget<'a> {
    deadline: Instant,
    limit: Duration,
    cancel: &'a CancellationToken,
}

impl Budget<'_> {
    /// Whether connecting may go on; the error says why not, naming the `stage`.
    fn check(&self, stage: &str) -> Result<(), String> {
        if self.cancel.is_cancelled() {
            return Err(format!("cancelled during the {stage}; nothing ran"));
        }
        if Instant::now() >= self.deadline {
            return Err(format!(
                "no answer within connect_timeout {} (during the {stage}); check that the host is up and sshd answers there",
                humantime::format_duration(self.limit)
            ));
        }
        Ok(())
    }

    /// The longest one wait may take before the token and the deadline are looked at again.
    fn slice(&self) -> Duration {
        self.deadline
            .saturating_duration_since(Instant::now())
            .min(POLL_SLICE)
    }
}

/// libssh2's "would block" (`LIBSSH2_ERROR_EAGAIN`) on a non-blocking session.
fn would_block(e: &ssh2::Error) -> bool {
    e.code() == ssh2::ErrorCode::Session(-37)
}

/// Open, verify and authenticate a session to `target` (through its jump hosts, if any).
/// Each hop gets `settings.connect_timeout` for TCP connect, handshake and authentication
/// together; `cancel` stops the TCP connect and the handshake within a poll slice.
pub fn connect(
    target: &Target,
    settings: &Settings,
    cancel: &CancellationToken,
) -> Result<Connection, Refused> {
    let connect_err = |reason: String| connect_error(target, reason);
    let budget = Budget {
        deadline: super::deadline_after(Instant::now(), settings.connect_timeout),
        limit: settings.connect_timeout,
        cancel,
    };
    let mut accepted_keys = Vec::new();
    let (socket, tunnel): (OwnedFd, Option<Tunnel>) = match &target.jump {
        Some(jump) => {
            let (end, tunnel, on_the_way) = Tunnel::open(jump, settings, target, cancel)?;
            accepted_keys = on_the_way;
            (OwnedFd::from(end), Some(tunnel))
        }
        None => (
            OwnedFd::from(tcp_connect(target, &budget).map_err(connect_err)?),
            None,
        ),
    };
    let poll_fd = socket
        .try_clone()
        .map_err(|e| connect_err(format!("cannot duplicate the socket: {e}")))?;
    let mut session = Session::new().map_err(|e| connect_err(e.to_string()))?;
    session.set_tcp_stream(socket);

    let known = known_hosts::lookup(
        &session,
        &settings.known_hosts,
        &target.hostname,
        target.port,
    );
    for ca in &known.authorities {
        tracing::info!(
            host = %target.label,
            entry = %ca.location(),
            "@cert-authority line ignored: host certificates cannot be verified, only the host's own key in known_hosts counts"
        );
    }
    if let Ok(supported) = session.supported_algs(MethodType::HostKey)
        && let Some(order) = known_hosts::preferred_algorithms(&known.known, &supported)
        && let Err(e) = session.method_pref(MethodType::HostKey, &order)
    {
        tracing::warn!(host = %target.label, %order, "cannot prefer the known host key types: {e}");
    }
    for direction in [MethodType::CryptCs, MethodType::CryptSc] {
        offer_ciphers(&session, direction, &target.label);
    }
    // Non-blocking, so that a host that accepts TCP but never speaks SSH, or a Ctrl-C, ends
    // the wait within a poll slice instead of at libssh2's own timeout.
    session.set_blocking(false);
    loop {
        match session.handshake() {
            Ok(()) => break,
            Err(e) if would_block(&e) => {
                budget.check("SSH handshake").map_err(connect_err)?;
                wait_fd(&session, &poll_fd, budget.slice());
            }
            Err(e) => return Err(connect_err(format!("SSH handshake failed: {e}")).into()),
        }
    }
    session.set_blocking(true);
    tracing::debug!(
        host = %target.label,
        cipher = session.methods(MethodType::CryptSc).unwrap_or("?"),
        "SSH session established"
    );

    if let Some(fingerprint) = check_host_key(&session, target, settings, &known)? {
        accepted_keys.push((target.label.clone(), fingerprint));
    }
    authenticate(&session, target, settings, &budget)?;
    session.set_timeout(millis(settings.connect_timeout));
    // With a reply wanted, a live server answers every keepalive, so silence on the socket
    // means a frozen host or a cut link (see `run_command`).
    session.set_keepalive(
        true,
        u32::try_from(settings.keepalive.as_secs())
            .unwrap_or(60)
            .max(1),
    );
    Ok(Connection {
        session,
        socket: poll_fd,
        _tunnel: tunnel,
        target: target.clone(),
        accepted_keys,
    })
}

/// Offer the server bringup's ciphers ([`ciphers::preferred`]) in one direction.
fn offer_ciphers(session: &Session, direction: MethodType, host: &str) {
    let supported = match session.supported_algs(direction) {
        Ok(supported) => supported,
        Err(e) => {
            tracing::warn!(host, "cannot list libssh2's ciphers: {e}");
            return;
        }
    };
    let Some(order) = ciphers::preferred(&supported, ciphers::aes_in_hardware()) else {
        tracing::warn!(
            host,
            "libssh2 supports none of the ciphers bringup prefers; offering its own list"
        );
        return;
    };
    if let Err(e) = session.method_pref(direction, &order) {
        tracing::warn!(host, %order, "cannot set the ciphers to offer: {e}");
    }
}

fn connect_error(target: &Target, reason: String) -> ExecError {
    ExecError::Connect {
        host: target.label.clone(),
        address: target.address(),
        reason,
    }
}

/// A non-blocking connect to each address in turn, polled in slices so that the deadline and
/// the cancel token are seen at once; the stream handed back is blocking again.
fn tcp_connect(target: &Target, budget: &Budget<'_>) -> Result<TcpStream, String> {
    fence::check(&target.hostname).map_err(|e| e.to_string())?;
    let addrs = (target.hostname.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve '{}': {e}", target.hostname))?;
    let mut last = format!("'{}' resolved to no address", target.hostname);
    for addr in addrs {
        budget.check("TCP connect")?;
        fence::check_ip(addr.ip()).map_err(|e| e.to_string())?;
        match tcp_connect_one(addr, budget) {
            Ok(stream) => return Ok(stream),
            Err(Attempt::Stop(why)) => return Err(why),
            Err(Attempt::Failed(e)) => last = format!("{addr}: {e}"),
        }
    }
    Err(format!(
        "{last}; check that the host is up and sshd listens there"
    ))
}

enum Attempt {
    /// This address failed; the next may work.
    Failed(std::io::Error),
    /// The deadline passed or the token fired: stop connecting.
    Stop(String),
}

fn tcp_connect_one(addr: SocketAddr, budget: &Budget<'_>) -> Result<TcpStream, Attempt> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(Attempt::Failed)?;
    socket.set_nonblocking(true).map_err(Attempt::Failed)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EINPROGRESS as i32) => loop {
            budget.check("TCP connect").map_err(Attempt::Stop)?;
            let timeout = PollTimeout::try_from(budget.slice()).unwrap_or(PollTimeout::ZERO);
            let ready = poll(
                &mut [PollFd::new(socket.as_fd(), PollFlags::POLLOUT)],
                timeout,
            )
            .unwrap_or(0);
            if ready > 0 {
                match socket.take_error() {
                    Ok(None) => break,
                    Ok(Some(e)) | Err(e) => return Err(Attempt::Failed(e)),
                }
            }
        },
        Err(e) => return Err(Attempt::Failed(e)),
    }
    socket.set_nonblocking(false).map_err(Attempt::Failed)?;
    let stream = TcpStream::from(socket);
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

fn check_host_key(
    session: &Session,
    target: &Target,
    settings: &Settings,
    known: &known_hosts::HostKeys,
) -> Result<Option<String>, Refused> {
    let Some((blob, kind)) = session.host_key() else {
        return Err(ExecError::Other {
            host: target.label.clone(),
            reason: format!("'{}' offered no host key", target.address()),
        }
        .into());
    };
    let offered = OfferedKey {
        hostname: target.hostname.clone(),
        port: target.port,
        key_type: known_hosts::key_type_name(kind).to_string(),
        blob: blob.to_vec(),
    };
    match known_hosts::verdict(known, &offered) {
        Verdict::Known => Ok(None),
        Verdict::Revoked { entry } => {
            tracing::warn!(host = %target.label, fingerprint = %offered.fingerprint(), entry = %entry.location(), "revoked host key offered");
            Err(ExecError::RevokedHostKey {
                host: target.label.clone(),
                address: target.address(),
                fingerprint: offered.fingerprint(),
                entry: entry.location(),
            }
            .into())
        }
        Verdict::Changed { known } => Err(ExecError::ChangedHostKey {
            host: target.label.clone(),
            address: target.address(),
            known: format!(
                "{} {}",
                known.key_type,
                known_hosts::fingerprint(&known.blob)
            ),
            offered: format!("{} {}", offered.key_type, offered.fingerprint()),
            file: known.location(),
        }
        .into()),
        Verdict::Unknown if settings.accept_new_host_keys => {
            let Some(file) = &settings.bringup_known_hosts else {
                return Err(ExecError::Other {
                    host: target.label.clone(),
                    reason: "no known_hosts file to record the new host key in; set HOME or XDG_DATA_HOME".into(),
                }
                .into());
            };
            known_hosts::append(file, &offered).map_err(|e| ExecError::Other {
                host: target.label.clone(),
                reason: format!("cannot record the host key in '{}': {e}", file.display()),
            })?;
            tracing::info!(host = %target.label, fingerprint = %offered.fingerprint(), "accepted new host key");
            Ok(Some(offered.fingerprint()))
        }
        Verdict::Unknown => Err(Refused {
            error: Box::new(ExecError::UnknownHostKey {
                host: target.label.clone(),
                address: target.address(),
                fingerprint: offered.fingerprint(),
            }),
            unknown_key: Some(Box::new(offered)),
        }),
    }
}

/// ssh-agent first, then the configured identities, then the usual default key files. Each
/// attempt blocks for at most what is left of the budget, and none starts once it is spent.
fn authenticate(
    session: &Session,
    target: &Target,
    settings: &Settings,
    budget: &Budget<'_>,
) -> Result<(), ExecError> {
    let user = target.user.as_str();
    let mut tried = Vec::new();
    let next_attempt = || {
        budget
            .check("authentication")
            .map_err(|reason| connect_error(target, reason))?;
        session.set_timeout(millis(
            budget.deadline.saturating_duration_since(Instant::now()),
        ));
        Ok::<(), ExecError>(())
    };
    if settings.use_agent && std::env::var_os("SSH_AUTH_SOCK").is_some() {
        next_attempt()?;
        if session.userauth_agent(user).is_ok() && session.authenticated() {
            return Ok(());
        }
        tried.push("ssh-agent".to_string());
    }
    let mut files = target.identities.clone();
    if let Some(home) = super::ssh_config::home() {
        for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
            files.push(home.join(".ssh").join(name));
        }
    }
    let mut seen = std::collections::HashSet::new();
    let mut locked = None;
    for (index, file) in files.iter().enumerate() {
        if !seen.insert(file.clone()) {
            continue;
        }
        let explicit = index < target.identities.len();
        if !file.exists() {
            if explicit {
                tried.push(format!("'{}' (missing)", file.display()));
            }
            continue;
        }
        if needs_passphrase(file) {
            tried.push(format!("'{}' (needs a passphrase)", file.display()));
            locked.get_or_insert_with(|| file.display().to_string());
            continue;
        }
        next_attempt()?;
        match session.userauth_pubkey_file(user, None, file, None) {
            Ok(()) if session.authenticated() => return Ok(()),
            Ok(()) => tried.push(format!("'{}'", file.display())),
            Err(e) => tried.push(format!("'{}' ({})", file.display(), e.message())),
        }
    }
    if let Some(key) = locked {
        return Err(ExecError::KeyNeedsPassphrase {
            host: target.label.clone(),
            user: user.to_string(),
            address: target.address(),
            key,
            tried: tried.join(", "),
        });
    }
    Err(ExecError::Auth {
        host: target.label.clone(),
        user: user.to_string(),
        address: target.address(),
        tried: if tried.is_empty() {
            "no key: no ssh-agent and no identity file".to_string()
        } else {
            tried.join(", ")
        },
    })
}

/// Whether the private key in `file` is encrypted: an OpenSSH-format key whose cipher is not
/// `none`, or a PEM key marked encrypted. libssh2 reports such a key only as an unsupported
/// format when given no passphrase; an unreadable or unknown file counts as not encrypted.
fn needs_passphrase(file: &Path) -> bool {
    const OPENSSH_BEGIN: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";
    const OPENSSH_END: &str = "-----END OPENSSH PRIVATE KEY-----";
    const MAGIC: &[u8] = b"openssh-key-v1\0";
    let Ok(text) = std::fs::read_to_string(file) else {
        return false;
    };
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || text.contains("4,ENCRYPTED") {
        return true;
    }
    let Some(body) = text
        .split_once(OPENSSH_BEGIN)
        .and_then(|(_, rest)| rest.split_once(OPENSSH_END))
        .map(|(body, _)| body.split_whitespace().collect::<String>())
    else {
        return false;
    };
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(body) else {
        return false;
    };
    let Some(rest) = bytes.strip_prefix(MAGIC) else {
        return false;
    };
    let Some((len, rest)) = rest.split_first_chunk::<4>() else {
        return false;
    };
    let len = usize::try_from(u32::from_be_bytes(*len)).unwrap_or(usize::MAX);
    rest.get(..len).is_some_and(|cipher| cipher != b"none")
}

/// How a command on an open session went, for the pool.
pub enum Ran {
    /// The command ran (or was stopped); the session stays usable.
    Done(StepResult),
    /// The session failed under the command; drop it and report this result.
    Broken(StepResult),
    /// No channel could be opened, nothing ran: reconnect and try once more.
    Stale(String),
}

/// The command line sent to the host, the same for every step: print the process group
/// first, then replace the login shell with `sh -s`, which reads the step's script from the
/// channel (see [`super::stdin_script`]) so the group leader's PID stays the one printed. No
/// value of the runbook is ever part of it, so none shows in `ps` on the host.
pub const WRAPPER: &str = "printf 'bringup-pgid=%s\\n' \"$$\"; exec sh -s";

enum Stop {
    Timeout,
    Cancelled,
}

/// Run `command` on the open session until it exits, `deadline` passes or `cancel` fires.
#[allow(clippy::too_many_lines, clippy::too_many_arguments)]
pub fn run_command(
    conn: &Connection,
    command: &str,
    deadline: Instant,
    output: &Sender<Vec<u8>>,
    cancel: &CancellationToken,
    timeout: Duration,
    settings: &Settings,
    masker: &Masker,
) -> Ran {
    let started = Instant::now();
    let session = &conn.session;
    let host = &conn.target.label;
    session.set_blocking(true);
    session.set_timeout(millis(settings.connect_timeout));
    let mut channel = match session.channel_session() {
        Ok(channel) => channel,
        Err(e) => return Ran::Stale(e.to_string()),
    };
    if let Err(e) = channel.handle_extended_data(ExtendedData::Merge) {
        return Ran::Stale(e.to_string());
    }
    if let Err(e) = channel.exec(WRAPPER) {
        return Ran::Broken(StepResult::error(
            format!("host '{host}': could not start the command: {e}"),
            started.elapsed(),
        ));
    }
    session.set_blocking(false);

    let mut chunker = Chunker::masking(masker.clone());
    let mut chunks = Vec::new();
    // The script goes out while output comes in: neither side can fill up and wait forever.
    let script = super::stdin_script(command);
    let mut unsent: &[u8] = &script;
    let mut eof_sent = false;
    let mut pgid: Option<u32> = None;
    let mut pgid_line = Marker::default();
    let mut buf = vec![0_u8; 32 * 1024];
    let mut stop = None;
    // A live host answers every keepalive (sent with a reply wanted), so this much silence
    // means it froze or the link is cut: the step's own timeout may be far off.
    let silence_limit = settings
        .keepalive
        .saturating_mul(settings.keepalive_max.max(1));
    let mut heard = Instant::now();
    'read: loop {
        if cancel.is_cancelled() {
            stop = Some(Stop::Cancelled);
            break;
        }
        if Instant::now() >= deadline {
            stop = Some(Stop::Timeout);
            break;
        }
        if heard.elapsed() > silence_limit {
            return connection_lost(
                session,
                host,
                &format!(
                    "no answer to keepalives for {}",
                    humantime::format_duration(silence_limit)
                ),
                started,
            );
        }
        send_script(&mut channel, &mut unsent, &mut eof_sent);
        match channel.read(&mut buf) {
            Ok(0) if channel.eof() => break,
            Ok(0) => {
                if wait_socket(conn, wake_at(&chunker, deadline)) {
                    heard = Instant::now();
                }
            }
            Ok(n) => {
                let data = pgid_line.take(&buf[..n], &mut pgid);
                chunker.push(&data, Instant::now(), |c| chunks.push(c));
                // Waiting on a full output channel is not the host's silence.
                heard = Instant::now();
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let _ = session.keepalive_send();
                if wait_socket(conn, wake_at(&chunker, deadline)) {
                    heard = Instant::now();
                }
            }
            Err(e) => return connection_lost(session, host, &e.to_string(), started),
        }
        chunker.flush_due(Instant::now(), |c| chunks.push(c));
        for chunk in chunks.drain(..) {
            if let Err(why) = deliver(output, chunk, deadline, cancel) {
                stop = Some(why);
                break 'read;
            }
        }
    }
    session.set_blocking(true);
    session.set_timeout(millis(settings.connect_timeout));

    if let Some(stop) = stop {
        let killed = match pgid {
            Some(pgid) => kill_group(session, pgid),
            None => Err("the command's process group was not known yet".to_string()),
        };
        session.set_timeout(2000);
        let _ = channel.close();
        let _ = channel.wait_close();
        let what = match &killed {
            Ok(()) => format!(
                "its process group {} on the host was killed",
                pgid.unwrap_or_default()
            ),
            Err(e) => {
                format!("stopping it on the host failed ({e}); it may still be running there")
            }
        };
        return match stop {
            Stop::Timeout => Ran::Done(StepResult::timed_out(
                format!(
                    "host '{host}': timed out after {}; {what}",
                    humantime::format_duration(timeout)
                ),
                started.elapsed(),
            )),
            Stop::Cancelled => Ran::Done(StepResult::error(
                format!("host '{host}': cancelled; {what}"),
                started.elapsed(),
            )),
        };
    }
    chunker.push(&pgid_line.finish(&mut pgid), Instant::now(), |c| {
        chunks.push(c);
    });
    chunker.finish(|c| chunks.push(c));
    for chunk in chunks {
        let _ = deliver(output, chunk, deadline, cancel);
    }
    // Exit status 0 is what libssh2 reports when none arrived, so it only counts from a
    // channel that closed cleanly.
    if let Err(e) = channel.wait_close() {
        return Ran::Broken(StepResult::error(
            format!(
                "host '{host}': the channel did not close cleanly ({e}); the command's outcome is unknown"
            ),
            started.elapsed(),
        ));
    }
    let signal = channel.exit_signal().ok().and_then(|s| s.exit_signal);
    let code = match signal {
        Some(name) => 128 + signal_number(&name),
        None => match channel.exit_status() {
            Ok(code) => code,
            Err(e) => {
                return Ran::Done(StepResult::error(
                    format!("host '{host}': no exit status came back ({e})"),
                    started.elapsed(),
                ));
            }
        },
    };
    Ran::Done(StepResult::exited(code, started.elapsed()))
}

/// The session died under a running command: what happened to the command is unknown. The
/// short timeout keeps dropping the channel (which waits for the host's close) from hanging.
fn connection_lost(session: &Session, host: &str, why: &str, started: Instant) -> Ran {
    session.set_blocking(true);
    session.set_timeout(100);
    tracing::warn!(host, "connection lost while a command ran: {why}");
    Ran::Broken(StepResult::error(
        format!("host '{host}': connection lost; outcome unknown ({why})"),
        started.elapsed(),
    ))
}

/// Write what the channel takes of the rest of the script, then end its standard input. On a
/// non-blocking session a full window is no error: the rest goes out on a later turn. Any
/// other failure stops the sending and nothing else: a shell that stopped reading (a syntax
/// error, a kill) or a dead connection shows in the reads that follow, which judge the step.
fn send_script(channel: &mut ssh2::Channel, unsent: &mut &[u8], eof_sent: &mut bool) {
    use std::io::Write as _;
    if *eof_sent {
        return;
    }
    while !unsent.is_empty() {
        match channel.write(unsent) {
            Ok(0) => return,
            Ok(n) => *unsent = &unsent[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(_) => {
                *unsent = &[];
                *eof_sent = true;
                return;
            }
        }
    }
    // Only "try again" leaves the end still to send.
    let again = channel
        .send_eof()
        .is_err_and(|e| std::io::Error::from(e).kind() == std::io::ErrorKind::WouldBlock);
    *eof_sent = !again;
}

/// The first line the wrapper prints, the command's process group, read off the raw stream
/// before the output proper: bounded, and given back as output if it is not the marker.
#[derive(Default)]
struct Marker {
    head: Vec<u8>,
    done: bool,
}

/// A marker line is short; anything longer is output.
const MARKER_MAX: usize = 256;

impl Marker {
    /// The output in `data` past the marker line (all of it once the marker is read).
    fn take<'a>(&mut self, data: &'a [u8], pgid: &mut Option<u32>) -> std::borrow::Cow<'a, [u8]> {
        if self.done {
            return std::borrow::Cow::Borrowed(data);
        }
        self.head.extend_from_slice(data);
        match self.head.iter().position(|&b| b == b'\n') {
            Some(nl) => {
                self.done = true;
                let head = std::mem::take(&mut self.head);
                match head[..nl].strip_prefix(PGID_MARKER.as_bytes()) {
                    Some(id) => {
                        *pgid = std::str::from_utf8(id)
                            .ok()
                            .and_then(|id| id.trim().parse().ok());
                        std::borrow::Cow::Owned(head[nl + 1..].to_vec())
                    }
                    None => std::borrow::Cow::Owned(head),
                }
            }
            None if self.head.len() > MARKER_MAX => {
                self.done = true;
                std::borrow::Cow::Owned(std::mem::take(&mut self.head))
            }
            None => std::borrow::Cow::Borrowed(&[]),
        }
    }

    /// The end of the stream: what was held while looking for the marker is output.
    fn finish(&mut self, pgid: &mut Option<u32>) -> Vec<u8> {
        let mut held = std::mem::take(&mut self.head);
        if !self.done && held.starts_with(PGID_MARKER.as_bytes()) {
            *pgid = std::str::from_utf8(&held[PGID_MARKER.len()..])
                .ok()
                .and_then(|id| id.trim().parse().ok());
            held.clear();
        }
        self.done = true;
        held
    }
}

/// The next moment the read loop must look up: the step's deadline, or sooner when held
/// output is due to be passed on.
fn wake_at(chunker: &Chunker, deadline: Instant) -> Instant {
    chunker.due().map_or(deadline, |due| due.min(deadline))
}

/// Hand one chunk to the output channel; when it is full, wait (bounded memory) on the
/// runtime that called us, watching the deadline and the cancel token. A closed receiver
/// drops the chunk.
fn deliver(
    output: &Sender<Vec<u8>>,
    line: Vec<u8>,
    deadline: Instant,
    cancel: &CancellationToken,
) -> Result<(), Stop> {
    let line = match output.try_send(line) {
        Ok(()) | Err(TrySendError::Closed(_)) => return Ok(()),
        Err(TrySendError::Full(line)) => line,
    };
    let wait = async {
        tokio::select! {
            _ = output.send(line) => Ok(()),
            () = tokio::time::sleep_until(deadline.into()) => Err(Stop::Timeout),
            () = cancel.cancelled() => Err(Stop::Cancelled),
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime.block_on(wait),
        // Outside a runtime (not how the pool calls it): a private one for the wait.
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_or(Ok(()), |rt| rt.block_on(wait)),
    }
}

/// Wait until the session's socket is ready in the direction libssh2 is blocked on, at most
/// a poll slice; true when something came in from the host.
pub(crate) fn wait_socket(conn: &Connection, deadline: Instant) -> bool {
    let slice = deadline
        .saturating_duration_since(Instant::now())
        .min(POLL_SLICE);
    wait_fd(&conn.session, &conn.socket, slice)
}

/// Wait up to `slice` for `socket` in the direction `session` is blocked on; true when it is
/// readable (bytes, an end of file or an error from the host's side).
fn wait_fd(session: &Session, socket: &OwnedFd, slice: Duration) -> bool {
    let flags = match session.block_directions() {
        BlockDirections::Outbound => PollFlags::POLLOUT,
        BlockDirections::Both => PollFlags::POLLIN | PollFlags::POLLOUT,
        BlockDirections::Inbound | BlockDirections::None => PollFlags::POLLIN,
    };
    let timeout = PollTimeout::try_from(slice).unwrap_or(PollTimeout::ZERO);
    let mut fds = [PollFd::new(socket.as_fd(), flags)];
    if poll(&mut fds, timeout).unwrap_or(0) <= 0 {
        return false;
    }
    fds[0]
        .revents()
        .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR))
}

/// The host's login shell runs this: `kill -SIG -PGID` without `--`, which dash (Debian's
/// `/bin/sh`, many service accounts' shell) refuses as "Illegal number".
fn kill_group_script(pgid: u32) -> String {
    format!(
        "kill -TERM -{pgid} 2>/dev/null || exit 0; i=0; \
         while [ $i -lt {TERM_GRACE_TENTHS} ] && kill -0 -{pgid} 2>/dev/null; do sleep 0.1; i=$((i+1)); done; \
         kill -KILL -{pgid} 2>/dev/null; exit 0"
    )
}

/// On a second channel: SIGTERM the group, give it a grace period, then SIGKILL what is left.
fn kill_group(session: &Session, pgid: u32) -> Result<(), String> {
    let script = kill_group_script(pgid);
    let mut channel = session.channel_session().map_err(|e| e.to_string())?;
    channel.exec(&script).map_err(|e| e.to_string())?;
    let mut sink = String::new();
    let _ = channel.read_to_string(&mut sink);
    channel.wait_close().map_err(|e| e.to_string())?;
    match channel.exit_status() {
        Ok(0) => Ok(()),
        Ok(code) => Err(format!("kill exited {code}")),
        Err(e) => Err(e.to_string()),
    }
}

/// Signal names as SSH sends them (no `SIG` prefix) to numbers, for `128 + n` exit codes.
fn signal_number(name: &str) -> i32 {
    format!("SIG{name}")
        .parse::<nix::sys::signal::Signal>()
        .map_or(0, |s| s as i32)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_group_kill_script_stops_a_process_group_under_dash_and_bash() {
        use std::os::unix::process::CommandExt as _;
        for shell in ["dash", "bash", "sh"] {
            if std::process::Command::new(shell)
                .arg("-c")
                .arg("true")
                .status()
                .is_err()
            {
                continue;
            }
            // A group leader with a child: `sleep` in the background of its own group.
            let mut leader = std::process::Command::new("sh");
            leader.args(["-c", "sleep 60 & wait"]).process_group(0);
            let mut child = leader.spawn().expect("spawn the group");
            let pgid = child.id();
            std::thread::sleep(std::time::Duration::from_millis(100));
            let status = std::process::Command::new(shell)
                .arg("-c")
                .arg(super::kill_group_script(pgid))
                .status()
                .expect("run the script");
            assert!(status.success(), "{shell}: {status}");
            let ended = (0..50).any(|_| {
                std::thread::sleep(std::time::Duration::from_millis(50));
                child.try_wait().expect("poll").is_some()
            });
            assert!(ended, "{shell}: the group still runs");
            // Members still running (a zombie waiting for its reaper has stopped).
            let running = std::fs::read_dir("/proc")
                .expect("/proc")
                .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
                .filter(|stat| {
                    let fields: Vec<&str> = stat
                        .rsplit_once(") ")
                        .map_or(Vec::new(), |(_, rest)| rest.split(' ').collect());
                    fields.get(2) == Some(&pgid.to_string().as_str()) && fields[0] != "Z"
                })
                .count();
            assert_eq!(running, 0, "{shell}: a member of the group survived");
        }
    }

    use super::*;

    #[test]
    fn wrapper_prints_the_group_then_runs_the_script_from_stdin() {
        use std::io::Write as _;
        assert!(WRAPPER.contains(PGID_MARKER));
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(WRAPPER)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh runs");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(&crate::exec::stdin_script("echo 'hi' && cat && false"))
            .expect("script written");
        drop(stdin);
        let out = child.wait_with_output().expect("sh ends");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        assert!(lines.next().expect("marker").starts_with(PGID_MARKER));
        assert_eq!(lines.next(), Some("hi"));
        assert_eq!(out.status.code(), Some(1));
    }

    /// `ssh-keygen` a key of `kind` in `format` with `passphrase` into `dir`.
    fn keygen(dir: &Path, name: &str, kind: &str, format: &str, passphrase: &str) -> PathBuf {
        let path = dir.join(name);
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-m", format, "-N", passphrase, "-f"])
            .arg(&path)
            .stdin(std::process::Stdio::null())
            .status()
            .expect("ssh-keygen runs");
        assert!(status.success(), "ssh-keygen failed");
        path
    }

    #[test]
    fn encrypted_keys_are_told_apart_from_plain_ones_in_both_formats() {
        let dir = tempfile::tempdir().expect("temp dir");
        let dir = dir.path();
        assert!(needs_passphrase(&keygen(
            dir, "a", "ed25519", "RFC4716", "secretpw"
        )));
        assert!(!needs_passphrase(&keygen(
            dir, "b", "ed25519", "RFC4716", ""
        )));
        assert!(needs_passphrase(&keygen(
            dir, "c", "ecdsa", "PEM", "secretpw"
        )));
        assert!(!needs_passphrase(&keygen(dir, "d", "ecdsa", "PEM", "")));
        assert!(!needs_passphrase(&dir.join("missing")));
        assert!(!needs_passphrase(&dir.join("a.pub")));
    }

    #[test]
    fn signal_names_map_to_shell_exit_codes() {
        assert_eq!(128 + signal_number("KILL"), 137);
        assert_eq!(128 + signal_number("TERM"), 143);
    }
}
