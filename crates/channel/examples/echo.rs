//! A Rust peer for Node (or Rust): attaches to the channel passed by the parent (`spawn` in
//! Node, `Channel::pass_to_child` in Rust) — or, given `--connect PATH`, connects to the
//! server listening there (`listen` in Node, `Listener` in Rust), or, given `--listen PATH`,
//! serves one client that connects there (Unix) — and sends every message back unchanged (on
//! the normal lane) until the other side closes.
//!
//! ```sh
//! cargo build --release -p shmring-channel --example echo
//! ```

#[cfg(any(unix, windows))]
use shmring_channel::{Channel, ChannelError};

// The channel arrives as an inherited fd (Unix) or a handle to duplicate (Windows).
#[cfg(not(any(unix, windows)))]
fn main() {
    eprintln!("echo needs a channel passed by its parent (Unix or Windows)");
    std::process::exit(1);
}

#[cfg(any(unix, windows))]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut channel = match args.as_slice() {
        [] => Channel::from_parent()?,
        #[cfg(unix)]
        [flag, path] if flag == "--connect" => Channel::connect(path, std::time::Duration::from_secs(10))?,
        #[cfg(unix)]
        [flag, path] if flag == "--listen" => {
            let listener = shmring_channel::Listener::bind(path, &shmring_channel::ChannelOptions::default())?;
            println!("listening on {path}");
            listener.accept()?
        }
        _ => return Err("usage: echo [--connect SOCKET_PATH | --listen SOCKET_PATH]".into()),
    };
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let len = loop {
            match channel.try_recv_into(&mut buf) {
                Ok(Some(len)) => break len,
                Ok(None) => {
                    channel.wait_readable(None)?;
                }
                Err(ChannelError::PeerClosed) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        };
        channel.send(&buf[..len], None)?;
    }
}
