//! The config's seccomp profile applies to the container's process and to exec'd ones.

use hoist_e2e::busybox_bundle;
use hoist_e2e::{edit_config, hoist, run, set_args, stderr, stdout, unique_id, ContainerGuard};
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
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("SCMP_ACT_NOTIFY"),
        "{}",
        stderr(&output)
    );
}
