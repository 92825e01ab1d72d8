//! The container's terminal, for `create --console-socket`: a pty allocated from the
//! container's own devpts, its slave made the process's stdio and controlling terminal, its
//! master sent to the engine over the console socket (one fd, SCM_RIGHTS), as runc does.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use hoist_fs::Root;
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use oci_spec::runtime::Process;

use super::procfs::fd_path;
use crate::{Error, Result};

/// Sets up the terminal. Runs in the init after `pivot_root`, so `/dev/ptmx` is the
/// container's (a new devpts instance), and before the switch to the process's user.
pub(crate) fn attach(socket: &OwnedFd, process: &Process) -> Result<()> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).map_err(
        Error::sys("opening /dev/ptmx in the container (is /dev/pts mounted?)"),
    )?;
    grantpt(&master).map_err(Error::sys("grantpt"))?;
    unlockpt(&master).map_err(Error::sys("unlockpt"))?;
    let slave_path = ptsname_r(&master).map_err(Error::sys("ptsname"))?;
    let slave = nix::fcntl::open(
        Path::new(&slave_path),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(Error::sys(format!("opening the terminal {slave_path}")))?;

    let user = process.user();
    nix::unistd::fchown(&slave, Some(nix::unistd::Uid::from_raw(user.uid())), None)
        .map_err(Error::sys("giving the terminal to the process's user"))?;
    if let Some(size) = process.console_size() {
        let winsize = rustix::termios::Winsize {
            ws_row: size.height() as u16,
            ws_col: size.width() as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let _ = rustix::termios::tcsetwinsize(&master, winsize);
    }
    bind_console(&slave_path);

    // The engine receives the master with the terminal's name as the message.
    let fds = [master.as_raw_fd()];
    let message = [IoSlice::new(slave_path.as_bytes())];
    sendmsg::<()>(
        socket.as_raw_fd(),
        &message,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(Error::sys("sending the terminal to the console socket"))?;
    drop(master);

    nix::unistd::dup2_stdin(&slave)
        .and_then(|()| nix::unistd::dup2_stdout(&slave))
        .and_then(|()| nix::unistd::dup2_stderr(&slave))
        .map_err(Error::sys("making the terminal the process's stdio"))?;
    // This process leads its own session: the terminal becomes its controlling one.
    rustix::process::ioctl_tiocsctty(rustix::stdio::stdin()).map_err(|e| {
        Error::sys("making the terminal the controlling terminal")(std::io::Error::from(e))
    })
}

/// /dev/console in the container is the terminal, bind-mounted, where the container has a
/// /dev/console to mount over (a missing one is created in a fresh /dev tmpfs).
fn bind_console(slave_path: &str) {
    let Ok(root) = Root::open(Path::new("/")) else {
        return;
    };
    let Ok(dev) = root.open_dir(Path::new("/dev")) else {
        return;
    };
    let _ = rustix::fs::openat(
        &dev,
        "console",
        rustix::fs::OFlags::CREATE
            | rustix::fs::OFlags::WRONLY
            | rustix::fs::OFlags::NOFOLLOW
            | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::from_raw_mode(0o600),
    );
    if let Ok(target) = root.open_path_no_symlinks(Path::new("/dev/console")) {
        let _ = mount(
            Some(slave_path),
            &fd_path(&target),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        );
    }
}
