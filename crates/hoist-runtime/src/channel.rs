//! The typed, one-message-per-packet channel between `hoist create` and the container's init.
//! Each side names what it waits for (`wait_for_ready`, `wait_for_id_maps`), and the init's
//! errors travel back as text for the parent to report with context.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Debug, Serialize, Deserialize)]
enum ToParent {
    /// The rootfs is in place and the init waits on the exec fifo.
    Ready,
    /// Setup failed; the init exits after sending this.
    Failed { message: String },
    /// `exec`: the process was cloned into the container; this is its host pid.
    Spawned { pid: i32 },
}

#[derive(Debug, Serialize, Deserialize)]
enum ToInit {
    /// The parent has put the init in its cgroup, written its id maps and run the runtime's
    /// hooks: it may go on. The state document is what the init's own hooks get.
    Proceed { state: String },
}

pub(crate) fn pair() -> Result<(ParentEnd, InitEnd)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(Error::sys("creating the init's socket pair"))?;
    Ok((ParentEnd(a), InitEnd(b)))
}

pub(crate) struct ParentEnd(OwnedFd);
pub(crate) struct InitEnd(OwnedFd);

impl ParentEnd {
    /// Waits until the init is ready, or returns the error it reported. A closed channel with no
    /// message means the init died without a word.
    pub(crate) fn wait_for_ready(&self) -> Result<()> {
        match receive::<ToParent>(&self.0)? {
            Some(ToParent::Ready) => Ok(()),
            Some(ToParent::Failed { message }) => Err(Error::Init(message)),
            Some(ToParent::Spawned { .. }) | None => Err(Error::Init(
                "the container's init exited during setup without reporting why".into(),
            )),
        }
    }

    /// `exec`: the host pid of the process the intermediate child cloned.
    pub(crate) fn wait_for_spawned(&self) -> Result<i32> {
        match receive::<ToParent>(&self.0)? {
            Some(ToParent::Spawned { pid }) => Ok(pid),
            Some(ToParent::Failed { message }) => Err(Error::Init(message)),
            Some(ToParent::Ready) | None => Err(Error::Init(
                "the exec helper exited without starting the process".into(),
            )),
        }
    }

    /// `exec`: waits until the process has exec'd (its end of the channel closes on exec) or
    /// reports why it could not.
    pub(crate) fn wait_for_exec(&self) -> Result<()> {
        match receive::<ToParent>(&self.0)? {
            None => Ok(()),
            Some(ToParent::Failed { message }) => Err(Error::Init(message)),
            Some(other) => Err(Error::Init(format!(
                "unexpected message from the exec'd process: {other:?}"
            ))),
        }
    }

    pub(crate) fn proceed(&self, state: &serde_json::Value) -> Result<()> {
        transmit(
            &self.0,
            &ToInit::Proceed {
                state: state.to_string(),
            },
        )
    }
}

impl InitEnd {
    pub(crate) fn ready(&self) -> Result<()> {
        transmit(&self.0, &ToParent::Ready)
    }

    pub(crate) fn spawned(&self, pid: i32) -> Result<()> {
        transmit(&self.0, &ToParent::Spawned { pid })
    }

    pub(crate) fn failed(&self, message: String) {
        let _ = transmit(&self.0, &ToParent::Failed { message });
    }

    pub(crate) fn wait_to_proceed(&self) -> Result<serde_json::Value> {
        match receive::<ToInit>(&self.0)? {
            Some(ToInit::Proceed { state }) => serde_json::from_str(&state)
                .map_err(|e| Error::Init(format!("garbled state from the runtime: {e}"))),
            None => Err(Error::Init("the runtime went away during setup".into())),
        }
    }
}

fn transmit<T: Serialize>(fd: &OwnedFd, message: &T) -> Result<()> {
    let bytes = serde_json::to_vec(message).expect("channel messages always serialise");
    send(fd.as_raw_fd(), &bytes, MsgFlags::empty())
        .map_err(Error::sys("writing to the init's channel"))?;
    Ok(())
}

fn receive<T: for<'de> Deserialize<'de>>(fd: &OwnedFd) -> Result<Option<T>> {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let n = loop {
        match recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other.map_err(Error::sys("reading the init's channel"))?,
        }
    };
    if n == 0 {
        return Ok(None);
    }
    serde_json::from_slice(&buf[..n])
        .map(Some)
        .map_err(|e| Error::Init(format!("garbled message from the init: {e}")))
}
