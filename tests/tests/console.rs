//! `create --console-socket`: the engine's side of the handshake (what conmon and
//! containerd-shim do) against a real container.

use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

use hoist_e2e::busybox_bundle;
use hoist_e2e::{edit_config, expect_ok, hoist, run_detached, set_args, unique_id, ContainerGuard};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::json;

/// Accepts one connection and receives one fd with its message, as conmon does.
fn receive_terminal(listener: UnixListener) -> (OwnedFd, String) {
    let (stream, _) = listener.accept().unwrap();
    let mut name = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let (fd, length) = {
        let message = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )
        .unwrap();
        let fd = message
            .cmsgs()
            .unwrap()
            .find_map(|c| match c {
                ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                _ => None,
            })
            .expect("one fd passed with SCM_RIGHTS");
        (fd, message.bytes)
    };
    // SAFETY: the fd was just received and belongs to nobody else.
    let master = unsafe { OwnedFd::from_raw_fd(fd) };
    (
        master,
        String::from_utf8_lossy(&name[..length]).into_owned(),
    )
}

#[test]
fn a_console_socket_gets_the_terminal_the_process_runs_on() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    edit_config(&bundle, |c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({ "height": 24, "width": 81 });
    });
    set_args(&bundle, &["sh", "-c", "tty; stty size; test -t 0 && test -t 1 && echo interactive; test -c /dev/console && echo console"]);

    let socket = dir.path().join("console.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let receiver = std::thread::spawn(move || receive_terminal(listener));
    let id = unique_id("tty");
    let _cleanup = ContainerGuard::new(dir.path(), &id);
    let (status, err) = run_detached(
        hoist(dir.path())
            .arg("create")
            .arg("--console-socket")
            .arg(&socket)
            .arg("--bundle")
            .arg(&bundle)
            .arg(&id),
        dir.path(),
    );
    assert!(status.success(), "{err}");
    let (master, name) = receiver.join().unwrap();
    assert!(
        name.starts_with("/dev/pts/"),
        "the message names the terminal: {name:?}"
    );

    expect_ok(hoist(dir.path()).args(["start", &id]));
    let mut terminal = std::fs::File::from(master);
    let mut output = Vec::new();
    let mut buf = [0u8; 4096];
    // The master reads EIO once the last slave fd is closed.
    while let Ok(n) = terminal.read(&mut buf) {
        if n == 0 {
            break;
        }
        output.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&output).replace("\r\n", "\n");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [name.as_str(), "24 81", "interactive", "console"],
        "{text:?}"
    );
}

#[test]
fn a_console_socket_without_a_terminal_is_refused() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let socket = dir.path().join("console.sock");
    let _listener = UnixListener::bind(&socket).unwrap();
    let id = unique_id("notty");
    let _cleanup = ContainerGuard::new(dir.path(), &id);
    let (status, err) = run_detached(
        hoist(dir.path())
            .arg("create")
            .arg("--console-socket")
            .arg(&socket)
            .arg("--bundle")
            .arg(&bundle)
            .arg(&id),
        dir.path(),
    );
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("terminal"), "{err}");
}
