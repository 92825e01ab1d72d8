//! The config's seccomp profile applies to the container's process and to exec'd ones.

use hoist_e2e::busybox_bundle;
use hoist_e2e::{
    assert_refused, edit_config, hoist, run, set_args, stderr, stdout, unique_id, ContainerGuard,
};
use serde_json::json;

fn profile() -> serde_json::Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
        "syscalls": [
            { "names": ["mkdir", "mkdirat", "a_syscall_no_kernel_has"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1 },
            // Only chmod to mode 0600 is refused: argument comparisons (the mode is argument 1
            // of chmod and argument 2 of fchmodat).
            { "names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
              "args": [{ "index": 1, "value": 384, "op": "SCMP_CMP_EQ" }] },
            { "names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
              "args": [{ "index": 2, "value": 384, "op": "SCMP_CMP_EQ" }] }
        ]
    })
}

const SCRIPT: &str = "grep Seccomp: /proc/self/status | tr -d '\\t'; \
    mkdir /tmp/d 2>/dev/null && echo mkdir-allowed || echo mkdir-denied; \
    touch /tmp/f; chmod 600 /tmp/f 2>/dev/null && echo chmod600-allowed || echo chmod600-denied; \
    chmod 644 /tmp/f && echo chmod644-allowed";

#[test]
fn a_seccomp_profile_filters_syscalls_and_arguments() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    for no_new_privileges in [true, false] {
        edit_config(&bundle, |c| {
            c["linux"]["seccomp"] = profile();
            c["process"]["noNewPrivileges"] = json!(no_new_privileges);
        });
        set_args(&bundle, &["sh", "-c", SCRIPT]);
        let output = run(hoist(dir.path())
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(unique_id("seccomp")));
        assert!(output.status.success(), "{}", stderr(&output));
        let lines: Vec<String> = stdout(&output).lines().map(str::to_string).collect();
        assert_eq!(
            lines,
            [
                "Seccomp:2",
                "mkdir-denied",
                "chmod600-denied",
                "chmod644-allowed"
            ],
            "no_new_privileges {no_new_privileges}"
        );
    }

    // A process exec'd into the container gets the same filter.
    set_args(&bundle, &["sleep", "600"]);
    let id = unique_id("seccomp-exec");
    let _cleanup = ContainerGuard::new(dir.path(), &id);
    hoist_e2e::start_detached(dir.path(), &bundle, &id);
    let output = run(hoist(dir.path()).args(["exec", &id, "sh", "-c", SCRIPT]));
    let lines: Vec<String> = stdout(&output).lines().map(str::to_string).collect();
    assert_eq!(
        lines,
        [
            "Seccomp:2",
            "mkdir-denied",
            "chmod600-denied",
            "chmod644-allowed"
        ],
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_unsupported_seccomp_action_fails_create() {
    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    edit_config(&bundle, |c| {
        c["linux"]["seccomp"] = json!({ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_NOTIFY" }] });
    });
    set_args(&bundle, &["true"]);
    let output = run(hoist(dir.path())
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(unique_id("notify")));
    assert_refused(&output, "SCMP_ACT_NOTIFY");
}

/// SCMP_ACT_NOTIFY: the notifier's fd reaches the config's listener (runc's message: the
/// container process state and the fd), and the listener's answers are what the container's
/// syscalls return — here a mkdir that "succeeds" without making anything.
#[test]
fn notified_syscalls_are_answered_by_the_configured_listener() {
    use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    let Some((_env, dir, bundle)) = busybox_bundle() else {
        return;
    };
    let socket = dir.path().join("listener.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let serve = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut control = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let message = nix::sys::socket::recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut control),
            nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .unwrap();
        let mut notifier = None;
        for cmsg in message.cmsgs().unwrap() {
            if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = cmsg {
                // SAFETY: a new fd from SCM_RIGHTS.
                notifier = Some(unsafe { OwnedFd::from_raw_fd(fds[0]) });
            }
        }
        let length = message.bytes;
        let state: serde_json::Value = serde_json::from_slice(&buf[..length]).unwrap();
        let notifier = notifier.expect("the notifier's fd came with the message");
        let mut answered = 0;
        // Answers until the container is gone (then receive fails).
        while let Ok(request) = ScmpNotifReq::receive(notifier.as_raw_fd()) {
            ScmpNotifResp::new_val(request.id, 0, ScmpNotifRespFlags::empty())
                .respond(notifier.as_raw_fd())
                .unwrap();
            answered += 1;
        }
        (state, answered)
    });

    edit_config(&bundle, |c| {
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": socket,
            "listenerMetadata": "from-the-test",
            "syscalls": [{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY" }]
        });
        c["process"]["noNewPrivileges"] = json!(true);
    });
    set_args(
        &bundle,
        &[
            "sh",
            "-c",
            "mkdir /tmp/ghost && echo mkdir-ok; test -d /tmp/ghost && echo exists || echo absent",
        ],
    );
    let id = unique_id("notify");
    let output = run(hoist(dir.path())
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "mkdir-ok\nabsent\n",
        "the listener answered mkdir, and nothing was made"
    );
    let (state, answered) = serve.join().unwrap();
    assert!(answered >= 1);
    assert_eq!(state["fds"], json!(["seccompFd"]));
    assert_eq!(state["metadata"], "from-the-test");
    assert_eq!(state["state"]["id"], id.as_str());
    assert!(state["pid"].as_i64().unwrap() > 0);

    // A notify action with nowhere to send the notifier is a config error.
    edit_config(&bundle, |c| {
        c["linux"]["seccomp"]
            .as_object_mut()
            .unwrap()
            .remove("listenerPath");
    });
    let output = run(hoist(dir.path())
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(unique_id("notify-nowhere")));
    assert_refused(&output, "listenerPath");
}
