//! The typed, one-message-per-packet channel between `hoist create` and the container's init.
//! Each side names what it waits for (`wait_for_ready`, `wait_for_id_maps`), and the init's
//! errors travel back as text for the parent to report with context.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    sendmsg, socketpair, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
};
use serde::{Deserialize, Serialize};

use crate::state::OciState;
use crate::{Error, ProgramFailure, Result};

const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Debug, Serialize, Deserialize)]
enum ToParent {
    /// The rootfs is in place and the init waits on the exec fifo.
    Ready,
    /// Setup failed; the init exits after sending this.
    /// What failed, the system error under it (errno), if any, and whether it was the
    /// program that could not be run.
    Failed {
        message: String,
        errno: Option<i32>,
        #[serde(default)]
        program: Option<ProgramFailure>,
    },
    /// `exec`: the process was cloned into the container; this is its host pid.
    Spawned { pid: i32 },
    /// The seccomp filter is loaded and has a user-space notifier: its fd travels with this
    /// message, for the runtime to hand to the config's listener.
    SeccompNotify,
    /// The init has moved itself into its v1 cgroups.
    Attached,
}

#[derive(Debug, Serialize, Deserialize)]
enum ToInit {
    /// The parent has put the init in its cgroup, written its id maps and run the runtime's
    /// hooks: it may go on. The state document, what the init's own hooks get, travels with it
    /// in a memfd: with the config's annotations it may be larger than a packet can be.
    Proceed,
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
    /// message means the init died without a word. A seccomp notifier fd on the way is given
    /// to `notifier` at once: the init may be waiting on its listener.
    pub(crate) fn wait_for_ready(
        &self,
        notifier: &mut dyn FnMut(OwnedFd) -> Result<()>,
    ) -> Result<()> {
        match self.receive_past_notifiers(notifier)? {
            Some(ToParent::Ready) => Ok(()),
            Some(ToParent::Failed {
                message,
                errno,
                program,
            }) => Err(Error::reported(message, errno, program)),
            Some(_) | None => Err(Error::Vanished {
                who: "the container's init",
                when: "during setup",
            }),
        }
    }

    /// The next message that is not a seccomp notifier, which goes to `notifier` as it comes.
    fn receive_past_notifiers(
        &self,
        notifier: &mut dyn FnMut(OwnedFd) -> Result<()>,
    ) -> Result<Option<ToParent>> {
        loop {
            match receive::<ToParent>(&self.0)? {
                Some((ToParent::SeccompNotify, fd)) => notifier(notifier_fd(fd)?)?,
                other => return Ok(other.map(|(message, _)| message)),
            }
        }
    }

    /// Waits until the init has moved itself into its cgroups, or returns why it could not.
    pub(crate) fn wait_for_attached(&self) -> Result<()> {
        match receive::<ToParent>(&self.0)? {
            Some((ToParent::Attached, _)) => Ok(()),
            Some((
                ToParent::Failed {
                    message,
                    errno,
                    program,
                },
                _,
            )) => Err(Error::reported(message, errno, program)),
            Some(_) | None => Err(Error::Vanished {
                who: "the container's init",
                when: "before joining its cgroups",
            }),
        }
    }

    /// `exec`: the host pid of the process the intermediate child cloned.
    pub(crate) fn wait_for_spawned(&self) -> Result<i32> {
        match receive::<ToParent>(&self.0)? {
            Some((ToParent::Spawned { pid }, _)) => Ok(pid),
            Some((
                ToParent::Failed {
                    message,
                    errno,
                    program,
                },
                _,
            )) => Err(Error::reported(message, errno, program)),
            Some(_) | None => Err(Error::Vanished {
                who: "the exec helper",
                when: "before starting the process",
            }),
        }
    }

    /// `exec`: waits until the process has exec'd (its end of the channel closes on exec) or
    /// reports why it could not; a seccomp notifier fd goes to `notifier` as for the init.
    pub(crate) fn wait_for_exec(
        &self,
        notifier: &mut dyn FnMut(OwnedFd) -> Result<()>,
    ) -> Result<()> {
        match self.receive_past_notifiers(notifier)? {
            None => Ok(()),
            Some(ToParent::Failed {
                message,
                errno,
                program,
            }) => Err(Error::reported(message, errno, program)),
            Some(other) => Err(Error::UnexpectedMessage(format!("{other:?}"))),
        }
    }

    pub(crate) fn proceed(&self, state: &OciState) -> Result<()> {
        let document = serde_json::to_vec(state).expect("the state always serialises");
        let failed = |e: std::io::Error| Error::sys("passing the state to the init")(e);
        let memfd = rustix::fs::memfd_create("hoist-state", rustix::fs::MemfdFlags::CLOEXEC)
            .map_err(|e| failed(e.into()))?;
        let mut file = std::fs::File::from(memfd);
        std::io::Write::write_all(&mut file, &document).map_err(failed)?;
        transmit_with_fd(&self.0, &ToInit::Proceed, Some(&OwnedFd::from(file)))
    }
}

impl InitEnd {
    pub(crate) fn ready(&self) -> Result<()> {
        transmit(&self.0, &ToParent::Ready)
    }

    pub(crate) fn attached(&self) -> Result<()> {
        transmit(&self.0, &ToParent::Attached)
    }

    pub(crate) fn spawned(&self, pid: i32) -> Result<()> {
        transmit(&self.0, &ToParent::Spawned { pid })
    }

    /// Reports `error` to the runtime: its message, and the errno of the first system error
    /// among its causes, so the runtime's caller can act on it (a full disk, say).
    pub(crate) fn failed(&self, error: &(dyn std::error::Error + 'static)) {
        let (message, errno) = crate::error::split_errno(error);
        let program = error
            .downcast_ref::<Error>()
            .and_then(Error::program_failure);
        let _ = transmit(
            &self.0,
            &ToParent::Failed {
                message,
                errno,
                program,
            },
        );
    }

    /// Hands the seccomp notifier's fd to the runtime.
    pub(crate) fn seccomp_notify(&self, fd: &OwnedFd) -> Result<()> {
        transmit_with_fd(&self.0, &ToParent::SeccompNotify, Some(fd))
    }

    pub(crate) fn wait_to_proceed(&self) -> Result<OciState> {
        match receive::<ToInit>(&self.0)? {
            Some((ToInit::Proceed, Some(document))) => {
                // The memfd shares its offset with the runtime's, which wrote to its end.
                let mut document = std::fs::File::from(document);
                let mut bytes = Vec::new();
                std::io::Seek::rewind(&mut document)
                    .and_then(|()| std::io::Read::read_to_end(&mut document, &mut bytes))
                    .map_err(Error::sys("reading the state the runtime passed"))?;
                serde_json::from_slice(&bytes).map_err(Error::Garbled)
            }
            Some((ToInit::Proceed, None)) => Err(Error::StateMissing),
            None => Err(Error::RuntimeVanished),
        }
    }
}

fn transmit<T: Serialize>(fd: &OwnedFd, message: &T) -> Result<()> {
    transmit_with_fd(fd, message, None)
}

fn transmit_with_fd<T: Serialize>(
    fd: &OwnedFd,
    message: &T,
    passed: Option<&OwnedFd>,
) -> Result<()> {
    let bytes = serde_json::to_vec(message).expect("channel messages always serialise");
    let fds: Vec<i32> = passed.iter().map(|f| f.as_raw_fd()).collect();
    let rights = [ControlMessage::ScmRights(&fds)];
    let control: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &rights };
    sendmsg::<()>(
        fd.as_raw_fd(),
        &[IoSlice::new(&bytes)],
        control,
        MsgFlags::empty(),
        None,
    )
    .map_err(Error::sys("writing to the init's channel"))?;
    Ok(())
}

/// The next message, with the fd that came with it, if any; `None` once the other end closed.
fn receive<T: for<'de> Deserialize<'de>>(fd: &OwnedFd) -> Result<Option<(T, Option<OwnedFd>)>> {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let (n, passed) = loop {
        match crate::sys::receive_with_fd(fd, &mut buf, MsgFlags::empty()) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("reading the init's channel")(e)),
            Ok(received) => break received,
        }
    };
    if n == 0 {
        return Ok(None);
    }
    serde_json::from_slice(&buf[..n])
        .map(|message| Some((message, passed)))
        .map_err(Error::Garbled)
}

fn notifier_fd(fd: Option<OwnedFd>) -> Result<OwnedFd> {
    fd.ok_or(Error::NotifierMissing)
}
