//! `NativeServer` and `NativeConnection`: the server rendezvous (`shmring_channel::Listener`,
//! `Connection`; Unix) for the TypeScript layer's `listen()` and `Channel.connect()`.
//!
//! Nothing here blocks the JavaScript thread: a doorbell thread (`doorbell.rs`) sleeps in
//! `poll` on the listening socket (or the connection) and rings JavaScript when it is
//! readable; JavaScript then accepts every waiting client (`accept`, non-blocking, each
//! handshake one small send) or finishes the connection (`finish`), and re-arms. Closing
//! cancels the poll through a pipe and joins the thread. On Windows every call throws
//! `ERR_SHMRING_UNSUPPORTED` (no server rendezvous there yet; see docs/DECISIONS.md §23).

use napi::bindgen_prelude::{Env, Function};
use napi_derive::napi;

use crate::channel::{NativeChannel, NativeChannelOptions};
use crate::doorbell::Doorbell;
use crate::error::Result;

/// A server on a Unix socket path: every client that connects gets a channel of its own.
#[napi]
pub struct NativeServer {
    // First: dropping it joins the thread that polls the listener below.
    bell: Option<Doorbell>,
    listener: Option<imp::SharedListener>,
    path: String,
}

#[napi]
impl NativeServer {
    /// Listens on `path` (mode 0600). A socket file nobody listens on is replaced; a live
    /// server there is ERR_SHMRING_EXISTS.
    #[napi(factory)]
    pub fn listen(path: String, options: Option<NativeChannelOptions>) -> Result<NativeServer> {
        let listener = imp::listen(&path, options)?;
        Ok(NativeServer { bell: None, listener: Some(listener), path })
    }

    /// The socket path.
    #[napi(getter)]
    pub fn path(&self) -> String {
        self.path.clone()
    }

    /// Starts the doorbell: after each `arm()`, `onReadable` is called once when a client is
    /// probably waiting.
    #[napi]
    pub fn watch(&mut self, env: &Env, on_readable: Function<'_, (), ()>) -> Result<()> {
        if self.bell.is_none() {
            let listener = self.listener.as_ref().ok_or_else(imp::closed)?;
            self.bell = Some(imp::watch_readable(env, on_readable, imp::listener_source(listener))?);
        }
        Ok(())
    }

    /// Re-arms the doorbell (after accepting every waiting client).
    #[napi]
    pub fn arm(&self) {
        arm(&self.bell);
    }

    /// Whether the server keeps the event loop alive (as a listening `net.Server` does).
    #[napi]
    pub fn set_ref(&self, keep_alive: bool) {
        if let Some(bell) = &self.bell {
            bell.set_ref(keep_alive);
        }
    }

    /// The next waiting client's channel (this process is side A), or `null` when none is
    /// waiting. Clients that cannot be served (another user, hung up) are skipped.
    #[napi]
    pub fn accept(&self) -> Result<Option<NativeChannel>> {
        let listener = self.listener.as_ref().ok_or_else(imp::closed)?;
        imp::accept(listener)?.map(NativeChannel::wrap).transpose()
    }

    /// Stops listening and removes the socket file. Channels already handed out stay open.
    #[napi]
    pub fn close(&mut self) {
        self.bell.take();
        self.listener.take();
    }
}

/// A connection to a server whose channel has not arrived yet.
#[napi]
pub struct NativeConnection {
    bell: Option<Doorbell>,
    connection: Option<imp::SharedConnection>,
}

#[napi]
impl NativeConnection {
    /// Connects to the server at `path` (does not wait for its answer).
    #[napi(factory)]
    pub fn start(path: String) -> Result<NativeConnection> {
        Ok(NativeConnection { bell: None, connection: Some(imp::connect(&path)?) })
    }

    /// Starts the doorbell: after each `arm()`, `onReadable` is called once when the server's
    /// answer has probably arrived. Keeps the event loop alive while armed.
    #[napi]
    pub fn watch(&mut self, env: &Env, on_readable: Function<'_, (), ()>) -> Result<()> {
        if self.bell.is_none() {
            let connection = self.connection.as_ref().ok_or_else(imp::closed)?;
            let bell = imp::watch_readable(env, on_readable, imp::connection_source(connection))?;
            bell.set_ref(true);
            self.bell = Some(bell);
        }
        Ok(())
    }

    /// Re-arms the doorbell.
    #[napi]
    pub fn arm(&self) {
        arm(&self.bell);
    }

    /// The channel, once the server's answer arrived; `null` before. After a channel or an
    /// error, the connection is closed.
    #[napi]
    pub fn finish(&mut self) -> Result<Option<NativeChannel>> {
        let connection = self.connection.as_ref().ok_or_else(imp::closed)?;
        let result = imp::finish(connection);
        if !matches!(result, Ok(None)) {
            self.close();
        }
        result?.map(NativeChannel::wrap).transpose()
    }

    /// Gives up (e.g. on a timeout or an abort).
    #[napi]
    pub fn close(&mut self) {
        self.bell.take();
        self.connection.take();
    }
}

/// Lets a started doorbell ring once more (its token is unused: readiness of a socket).
fn arm(bell: &Option<Doorbell>) {
    if let Some(bell) = bell {
        bell.arm([0; 3]);
    }
}

#[cfg(unix)]
mod imp {
    use std::os::fd::{AsFd, OwnedFd};
    use std::sync::Arc;

    use napi::bindgen_prelude::{Env, Function};
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use shmring_channel::{AcceptError, Channel, Connection, Listener, Readiness};

    use crate::channel::{core_options, NativeChannelOptions};
    use crate::doorbell::Doorbell;
    use crate::error::{error, from_create, from_open, Code, Error, Result};

    pub type SharedListener = Arc<Listener>;
    pub type SharedConnection = Arc<Connection>;
    /// Something the doorbell thread polls for readability, kept alive by the thread.
    pub type Source = Arc<dyn AsFd + Send + Sync>;

    pub fn closed() -> Error {
        error(Code::Closed, "this server or connection was closed")
    }

    pub fn listen(path: &str, options: Option<NativeChannelOptions>) -> Result<SharedListener> {
        let listener = Listener::bind(path, &core_options(options)).map_err(|e| {
            let code = match e.kind() {
                std::io::ErrorKind::AddrInUse => Code::Exists,
                std::io::ErrorKind::InvalidInput => Code::InvalidArg,
                std::io::ErrorKind::PermissionDenied => Code::Permission,
                std::io::ErrorKind::NotFound => Code::NotFound,
                _ => Code::Os,
            };
            error(code, format!("cannot listen on {path}: {e}"))
        })?;
        listener.set_nonblocking(true).map_err(|e| error(Code::Os, format!("cannot listen on {path}: {e}")))?;
        Ok(Arc::new(listener))
    }

    pub fn listener_source(listener: &SharedListener) -> Source {
        Arc::clone(listener) as Source
    }

    pub fn connection_source(connection: &SharedConnection) -> Source {
        Arc::clone(connection) as Source
    }

    /// Clients that cannot be served, skipped in one call before it yields (returns `None`;
    /// the doorbell rings again at once while more are waiting): a backlog of clients that gave
    /// up must not hold the JavaScript thread.
    const SKIPS_PER_CALL: usize = 32;

    pub fn accept(listener: &Listener) -> Result<Option<Channel>> {
        for _ in 0..SKIPS_PER_CALL {
            match listener.accept() {
                Ok(channel) => return Ok(Some(channel)),
                Err(AcceptError::Listener(e)) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
                Err(AcceptError::Listener(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // That client is not served (another user, or it hung up); the next may be.
                Err(AcceptError::Client(_)) => {}
                Err(AcceptError::Create(e)) => return Err(from_create(e)),
                Err(AcceptError::Listener(e)) => {
                    return Err(error(Code::Os, format!("the server's socket failed: {e}")))
                }
            }
        }
        Ok(None)
    }

    pub fn connect(path: &str) -> Result<SharedConnection> {
        let connection = Connection::start(path).map_err(from_open)?;
        connection.set_nonblocking(true).map_err(|e| error(Code::Os, format!("cannot connect to {path}: {e}")))?;
        Ok(Arc::new(connection))
    }

    pub fn finish(connection: &Connection) -> Result<Option<Channel>> {
        connection.finish().map_err(from_open)
    }

    /// A doorbell that rings when `source` is readable; closing it wakes the poll through a pipe.
    pub fn watch_readable(env: &Env, on_readable: Function<'_, (), ()>, source: Source) -> Result<Doorbell> {
        let (cancel_read, cancel_write) = cancel_pipe()?;
        let wait = Box::new(move |_| wait_readable(&*source, &cancel_read));
        let cancel = Box::new(move || {
            // A full pipe already wakes the poll; nothing else can fail here that matters.
            let _ = nix::unistd::write(&cancel_write, &[1]);
        });
        Doorbell::start(env, on_readable, wait, cancel)
    }

    fn wait_readable(source: &(dyn AsFd + Send + Sync), cancel: &OwnedFd) -> Readiness {
        let mut fds = [PollFd::new(source.as_fd(), PollFlags::POLLIN), PollFd::new(cancel.as_fd(), PollFlags::POLLIN)];
        loop {
            match poll(&mut fds, PollTimeout::NONE) {
                Err(nix::errno::Errno::EINTR) => continue,
                // Ring: the call that follows reports what is wrong with the socket.
                Err(_) => return Readiness::Ready,
                Ok(_) if fds[1].revents().is_some_and(|r| !r.is_empty()) => return Readiness::Cancelled,
                Ok(_) => return Readiness::Ready,
            }
        }
    }

    fn cancel_pipe() -> Result<(OwnedFd, OwnedFd)> {
        use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
        let failed = |e: nix::errno::Errno| error(Code::Os, format!("cannot create a pipe: {e}"));
        let (read, write) = nix::unistd::pipe().map_err(failed)?;
        for fd in [&read, &write] {
            fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(failed)?;
        }
        fcntl(&write, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(failed)?;
        Ok((read, write))
    }
}

#[cfg(not(unix))]
mod imp {
    use napi::bindgen_prelude::{Env, Function};
    use shmring_channel::Channel;

    use crate::channel::NativeChannelOptions;
    use crate::doorbell::Doorbell;
    use crate::error::{error, Code, Error, Result};

    /// Never constructed: there is no server rendezvous on this OS yet.
    pub enum Never {}
    pub type SharedListener = Never;
    pub type SharedConnection = Never;
    /// Inhabited, so that callers' code after `listener_source(…)` is not "unreachable".
    pub type Source = ();

    fn unsupported() -> Error {
        error(Code::Unsupported, "the server rendezvous needs Unix sockets; on Windows use spawn() or a named channel")
    }

    pub fn closed() -> Error {
        unsupported()
    }

    pub fn listen(_path: &str, _options: Option<NativeChannelOptions>) -> Result<SharedListener> {
        Err(unsupported())
    }

    pub fn listener_source(never: &Never) -> Source {
        match *never {}
    }

    pub fn connection_source(never: &Never) -> Source {
        match *never {}
    }

    pub fn accept(never: &Never) -> Result<Option<Channel>> {
        match *never {}
    }

    pub fn connect(_path: &str) -> Result<SharedConnection> {
        Err(unsupported())
    }

    pub fn finish(never: &Never) -> Result<Option<Channel>> {
        match *never {}
    }

    pub fn watch_readable(_env: &Env, _on_readable: Function<'_, (), ()>, _source: Source) -> Result<Doorbell> {
        Err(unsupported())
    }
}
