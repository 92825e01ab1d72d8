//! Seccomp profiles in the format podman, docker and containers-common keep them
//! (`seccomp.json`: rules with `includes`/`excludes` by capability and architecture, an
//! `archMap`), turned into the runtime spec's `linux.seccomp` for one container: its
//! capabilities and this host's architecture decide which rules apply, as containers/common
//! does. Written here rather than taken from a crate: none reads this format.

use std::collections::HashMap;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompBuilder,
    LinuxSeccompOperator, LinuxSyscallBuilder,
};
use serde::Deserialize;

use crate::{Error, Result};

/// hoist's own default profile, used where the host has none: default deny (EPERM), an
/// allow-list of the syscalls ordinary programs make, and the privileged ones allowed only with
/// the capability that already guards them (kept as data, in the format above).
pub const BUILTIN_PROFILE: &str = include_str!("default_seccomp.json");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: LinuxSeccompAction,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    arch_map: Vec<ArchMap>,
    #[serde(default)]
    syscalls: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: Arch,
    #[serde(default)]
    sub_architectures: Vec<Arch>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    names: Vec<String>,
    action: LinuxSeccompAction,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Arg>>,
    #[serde(default)]
    includes: Filter,
    #[serde(default)]
    excludes: Filter,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: usize,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: LinuxSeccompOperator,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// The container's view of a profile: `capabilities` are its bounding set (`CAP_*` names).
pub fn seccomp_for(profile: &str, capabilities: &[String]) -> Result<LinuxSeccomp> {
    let bad = |what: String| Error::InvalidSpec(format!("seccomp profile: {what}"));
    let profile: Profile = serde_json::from_str(profile).map_err(|e| bad(e.to_string()))?;
    let arch = go_arch();
    let kernel = kernel_version();
    let applies = |rule: &Rule| {
        let has = |cap: &String| capabilities.iter().any(|c| c == cap);
        let on_this_arch = |arches: &Vec<String>| arches.iter().any(|a| a == arch);
        let new_enough = rule
            .includes
            .min_kernel
            .as_deref()
            .and_then(parse_version)
            .is_none_or(|min| kernel >= min);
        rule.includes.caps.iter().all(has)
            && (rule.includes.arches.is_empty() || on_this_arch(&rule.includes.arches))
            && new_enough
            && !rule.excludes.caps.iter().any(has)
            && !on_this_arch(&rule.excludes.arches)
    };
    let mut syscalls = Vec::new();
    for rule in profile.syscalls.iter().filter(|r| applies(r)) {
        let mut builder = LinuxSyscallBuilder::default()
            .names(rule.names.clone())
            .action(rule.action);
        if let Some(errno) = rule.errno_ret {
            builder = builder.errno_ret(errno);
        }
        if let Some(args) = &rule.args {
            let args = args
                .iter()
                .map(|a| {
                    LinuxSeccompArgBuilder::default()
                        .index(a.index)
                        .value(a.value)
                        .value_two(a.value_two)
                        .op(a.op)
                        .build()
                })
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| bad(e.to_string()))?;
            builder = builder.args(args);
        }
        syscalls.push(builder.build().map_err(|e| bad(e.to_string()))?);
    }
    let host = host_arch();
    let architectures: Vec<Arch> = profile
        .arch_map
        .iter()
        .filter(|m| Some(m.architecture) == host)
        .flat_map(|m| std::iter::once(m.architecture).chain(m.sub_architectures.iter().copied()))
        .collect();
    let mut builder = LinuxSeccompBuilder::default()
        .default_action(profile.default_action)
        .architectures(architectures)
        .syscalls(syscalls);
    if let Some(errno) = profile.default_errno_ret {
        builder = builder.default_errno_ret(errno);
    }
    builder.build().map_err(|e| bad(e.to_string()))
}

/// Go's name for this architecture, which profiles' `arches` use.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

fn host_arch() -> Option<Arch> {
    let names: HashMap<&str, &str> = [
        ("x86_64", "SCMP_ARCH_X86_64"),
        ("x86", "SCMP_ARCH_X86"),
        ("aarch64", "SCMP_ARCH_AARCH64"),
        ("arm", "SCMP_ARCH_ARM"),
        ("powerpc64", "SCMP_ARCH_PPC64LE"),
        ("s390x", "SCMP_ARCH_S390X"),
        ("riscv64", "SCMP_ARCH_RISCV64"),
    ]
    .into_iter()
    .collect();
    serde_json::from_value(serde_json::json!(names.get(std::env::consts::ARCH)?)).ok()
}

fn kernel_version() -> (u32, u32) {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    parse_version(&release).unwrap_or((0, 0))
}

/// `MAJOR.MINOR` from the front of a kernel release or a profile's `minKernel`.
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_allowed(seccomp: &LinuxSeccomp) -> Vec<String> {
        seccomp
            .syscalls()
            .iter()
            .flatten()
            .filter(|s| s.action() == LinuxSeccompAction::ScmpActAllow)
            .flat_map(|s| s.names().clone())
            .collect()
    }

    #[test]
    fn rules_apply_by_capability_and_architecture() {
        let profile = r#"{
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
                        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
            "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["kcmp"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "excludes": {"caps": ["CAP_SYS_PTRACE"]}},
                {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
                {"names": ["future"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}}
            ]}"#;
        let plain = seccomp_for(profile, &["CAP_CHOWN".into()]).unwrap();
        let allowed = names_allowed(&plain);
        assert!(allowed.contains(&"read".to_string()));
        assert!(!allowed.contains(&"mount".to_string()));
        assert!(!allowed.contains(&"future".to_string()));
        assert_eq!(
            allowed.contains(&"arch_prctl".to_string()),
            std::env::consts::ARCH == "x86_64"
        );
        assert_eq!(plain.default_errno_ret(), Some(1));
        let admin =
            seccomp_for(profile, &["CAP_SYS_ADMIN".into(), "CAP_SYS_PTRACE".into()]).unwrap();
        assert!(names_allowed(&admin).contains(&"mount".to_string()));
        assert!(!admin
            .syscalls()
            .iter()
            .flatten()
            .any(|s| s.names().contains(&"kcmp".to_string())));
        if std::env::consts::ARCH == "x86_64" {
            assert_eq!(plain.architectures().as_ref().map(Vec::len), Some(2));
        }
    }

    #[test]
    fn the_builtin_profile_parses_denies_by_default_and_gates_privileged_calls() {
        let default_caps: Vec<String> = ["CAP_CHOWN", "CAP_SETUID", "CAP_SETGID"]
            .map(String::from)
            .to_vec();
        let seccomp = seccomp_for(BUILTIN_PROFILE, &default_caps).unwrap();
        assert_eq!(seccomp.default_action(), LinuxSeccompAction::ScmpActErrno);
        let allowed = names_allowed(&seccomp);
        for ordinary in [
            "read",
            "write",
            "openat",
            "execve",
            "clone",
            "futex",
            "exit_group",
        ] {
            assert!(allowed.contains(&ordinary.to_string()), "{ordinary}");
        }
        for privileged in [
            "mount",
            "unshare",
            "setns",
            "kexec_load",
            "init_module",
            "ptrace",
            "keyctl",
        ] {
            assert!(!allowed.contains(&privileged.to_string()), "{privileged}");
        }
        let mut admin = default_caps.clone();
        admin.push("CAP_SYS_ADMIN".into());
        assert!(
            names_allowed(&seccomp_for(BUILTIN_PROFILE, &admin).unwrap())
                .contains(&"mount".to_string())
        );
        crate::seccomp::compile(&seccomp).expect("libseccomp takes the built-in profile");
    }
}
