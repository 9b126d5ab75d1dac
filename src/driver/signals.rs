//! The signals that end a run, listened for once for every front end: Ctrl-C (SIGINT),
//! SIGTERM and SIGHUP. A front end asks for the next one and stops the run through the driver;
//! none sets up its own handlers.

use tokio::signal::unix::{Signal as Listener, SignalKind, signal};

/// A signal that ends a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
    Hangup,
}

impl Signal {
    /// What happened, in the words `run` prints.
    pub fn word(self) -> &'static str {
        match self {
            Signal::Interrupt => "interrupted",
            Signal::Terminate => "terminated",
            Signal::Hangup => "hung up",
        }
    }

    /// How the operator sends it again (to stop waiting for stopped steps).
    pub fn again(self) -> &'static str {
        match self {
            Signal::Interrupt => "press Ctrl-C",
            Signal::Terminate => "send SIGTERM",
            Signal::Hangup => "send SIGHUP",
        }
    }
}

/// Where SIGINT, SIGTERM and SIGHUP arrive. A signal that cannot be listened for is logged
/// and never arrives (the process then keeps the default action for it).
pub struct Signals {
    int: Option<Listener>,
    term: Option<Listener>,
    hup: Option<Listener>,
}

impl Signals {
    /// Start listening; from now on these signals no longer kill the process at once.
    pub fn listen() -> Signals {
        Signals {
            int: listen(SignalKind::interrupt(), "SIGINT"),
            term: listen(SignalKind::terminate(), "SIGTERM"),
            hup: listen(SignalKind::hangup(), "SIGHUP"),
        }
    }

    /// The next signal, whichever comes first.
    pub async fn next(&mut self) -> Signal {
        tokio::select! {
            () = recv(&mut self.int) => Signal::Interrupt,
            () = recv(&mut self.term) => Signal::Terminate,
            () = recv(&mut self.hup) => Signal::Hangup,
        }
    }
}

fn listen(kind: SignalKind, name: &str) -> Option<Listener> {
    match signal(kind) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("cannot listen for {name}: {e}");
            None
        }
    }
}

async fn recv(listener: &mut Option<Listener>) {
    match listener {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}
