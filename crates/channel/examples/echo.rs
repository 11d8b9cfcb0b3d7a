//! A Rust peer for Node (or Rust) parents: attaches to the channel passed by the parent
//! (`spawn` in Node, `Channel::pass_to_child` in Rust) and sends every message back
//! unchanged (on the normal lane) until the parent closes.
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
    let mut channel = Channel::from_parent()?;
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
