//! ProxyJump for ssh2: a `direct-tcpip` channel on a session to the jump host, bridged to one
//! end of a Unix socket pair by a pump thread; the inner session runs over the other end.
//! Each tunnel owns its own session to the jump host (never the one that runs commands there).

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use ssh2::{BlockDirections, Channel};
use tokio_util::sync::CancellationToken;

use super::ExecError;
use super::ssh::{self, Connection, Refused, Settings};
use super::ssh_config::Target;

const SLICE_MS: u16 = 50;

/// Keeps the pump thread running; dropping it stops the thread and closes the jump session.
pub struct Tunnel {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Tunnel {
    /// Connect to `jump` and open a channel from it to `target`; returns the local end the
    /// inner session should use, and the host keys accepted on the way to the jump host
    /// (host label, `SHA256:…`), to be journaled like the target's own.
    pub fn open(
        jump: &Target,
        settings: &Settings,
        target: &Target,
        cancel: &CancellationToken,
    ) -> Result<(UnixStream, Tunnel, ssh::AcceptedKeys), Refused> {
        let mut bastion = ssh::connect(jump, settings, cancel)?;
        let accepted_keys = std::mem::take(&mut bastion.accepted_keys);
        let connect_err = |reason: String| ExecError::Connect {
            host: target.label.clone(),
            address: format!("{} via jump host '{}'", target.address(), jump.label),
            reason,
        };
        // The jump host would connect for us: a target in the lost site is refused here too.
        crate::sites::fence::check(&target.hostname).map_err(|e| connect_err(e.to_string()))?;
        let channel = bastion
            .session
            .channel_direct_tcpip(&target.hostname, target.port, None)
            .map_err(|e| connect_err(format!("the jump host could not open a connection: {e}")))?;
        let (inner, outer) = UnixStream::pair()
            .map_err(|e| connect_err(format!("cannot make a socket pair: {e}")))?;
        outer
            .set_nonblocking(true)
            .map_err(|e| connect_err(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(format!("jump-{}", target.label))
            .spawn(move || pump(&bastion, channel, &outer, &flag))
            .map_err(|e| connect_err(format!("cannot start the tunnel thread: {e}")))?;
        Ok((
            inner,
            Tunnel {
                stop,
                thread: Some(thread),
            },
            accepted_keys,
        ))
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Copy bytes both ways until either side ends or the tunnel is dropped.
fn pump(bastion: &Connection, mut channel: Channel, local: &UnixStream, stop: &AtomicBool) {
    bastion.session.set_blocking(false);
    let mut to_local: Vec<u8> = Vec::new();
    let mut to_remote: Vec<u8> = Vec::new();
    let mut buf = vec![0_u8; 32 * 1024];
    let mut remote_open = true;
    let mut local_ref = local;
    while !stop.load(Ordering::Relaxed) && (remote_open || !to_local.is_empty()) {
        let mut progressed = false;
        if remote_open && to_local.is_empty() {
            match channel.read(&mut buf) {
                Ok(0) if channel.eof() => remote_open = false,
                Ok(n) if n > 0 => {
                    to_local.extend_from_slice(&buf[..n]);
                    progressed = true;
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => remote_open = false,
            }
        }
        if !to_local.is_empty() {
            match local_ref.write(&to_local) {
                Ok(n) => {
                    to_local.drain(..n);
                    progressed = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if to_remote.is_empty() {
            match local_ref.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    to_remote.extend_from_slice(&buf[..n]);
                    progressed = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if !to_remote.is_empty() {
            match channel.write(&to_remote) {
                Ok(n) => {
                    to_remote.drain(..n);
                    progressed = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        if progressed {
            continue;
        }
        let mut local_flags = PollFlags::empty();
        if to_remote.is_empty() {
            local_flags |= PollFlags::POLLIN;
        }
        if !to_local.is_empty() {
            local_flags |= PollFlags::POLLOUT;
        }
        let remote_flags = match bastion.session.block_directions() {
            BlockDirections::Outbound => PollFlags::POLLOUT,
            BlockDirections::Both => PollFlags::POLLIN | PollFlags::POLLOUT,
            BlockDirections::Inbound | BlockDirections::None => PollFlags::POLLIN,
        };
        let _ = bastion.session.keepalive_send();
        let _ = poll(
            &mut [
                PollFd::new(local.as_fd(), local_flags),
                PollFd::new(bastion.socket.as_fd(), remote_flags),
            ],
            PollTimeout::from(SLICE_MS),
        );
    }
    bastion.session.set_blocking(true);
    bastion.session.set_timeout(2000);
    let _ = channel.close();
    let _ = local.shutdown(std::net::Shutdown::Both);
}
