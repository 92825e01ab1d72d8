//! Device rules on cgroup2, which has no `devices.allow`/`devices.deny` files: the rules become
//! an eBPF program of type `BPF_PROG_TYPE_CGROUP_DEVICE` attached to the container's cgroup,
//! which the kernel runs on every open and mknod of a device node.
//!
//! The program is emitted by hand, as runc and crun do: it is a handful of instructions per rule
//! from a fixed pattern, and an eBPF library would bring an ELF loader and an assembler many
//! times the size of this file for it.

use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use oci_spec::runtime::LinuxDeviceCgroup;

use super::{io_error, CgroupError};
use crate::sys::bpf::{
    attach_device_program, detach_device_program, device_programs, insn, load_device_program,
    program_by_id, Insn,
};

/// One rule, in the kernel's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeviceRule {
    pub allow: bool,
    /// `BPF_DEVCG_DEV_BLOCK` (1) or `BPF_DEVCG_DEV_CHAR` (2); `None` for both.
    pub kind: Option<u32>,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// `BPF_DEVCG_ACC_MKNOD` (1) | `_READ` (2) | `_WRITE` (4).
    pub access: u32,
}

const ACCESS_ALL: u32 = 0b111;

impl DeviceRule {
    /// The rule a config entry (or a `devices.allow` line such as `c 1:3 rwm`) describes.
    pub(crate) fn from_spec(rule: &LinuxDeviceCgroup) -> DeviceRule {
        let kind = match rule.typ().map(|t| t.as_str().to_string()).as_deref() {
            Some("b") => Some(1),
            Some("c") => Some(2),
            _ => None,
        };
        let number = |n: Option<i64>| n.filter(|n| *n >= 0).map(|n| n as u32);
        DeviceRule {
            allow: rule.allow(),
            kind,
            major: number(rule.major()),
            minor: number(rule.minor()),
            access: access_bits(rule.access().as_deref().unwrap_or("rwm")),
        }
    }

    /// A `devices.allow` line: `TYPE MAJOR:MINOR ACCESS`.
    pub(crate) fn allow_line(line: &str) -> DeviceRule {
        let mut fields = line.split_whitespace();
        let kind = match fields.next() {
            Some("b") => Some(1),
            Some("c") => Some(2),
            _ => None,
        };
        let (major, minor) = fields
            .next()
            .and_then(|n| n.split_once(':'))
            .unwrap_or(("*", "*"));
        DeviceRule {
            allow: true,
            kind,
            major: major.parse().ok(),
            minor: minor.parse().ok(),
            access: access_bits(fields.next().unwrap_or("rwm")),
        }
    }

    fn matches_everything(&self) -> bool {
        self.kind.is_none()
            && self.major.is_none()
            && self.minor.is_none()
            && self.access == ACCESS_ALL
    }
}

fn access_bits(access: &str) -> u32 {
    access.chars().fold(0, |bits, c| {
        bits | match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => 0,
        }
    })
}

const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JMP_JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// The program for `rules`, whose later entries override earlier ones (as successive writes to
/// `devices.allow`/`devices.deny` do in v1): the rules are tested from the last to the first,
/// and the first that matches decides. A device no rule matches is denied.
///
/// The context is `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`, with
/// the device type in the low 16 bits of `access_type` and the access asked for in the high.
pub(crate) fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut code = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for rule in rules.iter().rev() {
        // Each test jumps past the rest of this rule's block when it does not match.
        let mut tests: Vec<Insn> = Vec::new();
        if let Some(kind) = rule.kind {
            tests.push(insn(JMP_JNE_K, 2, 0, 0, kind as i32));
        }
        if rule.access != ACCESS_ALL {
            // As the v1 controller decides: an allow rule covers a request when it names every
            // access asked for; a deny rule, when it names any of them.
            tests.push(insn(ALU32_MOV_X, 1, 3, 0, 0));
            if rule.allow {
                tests.push(insn(
                    ALU32_AND_K,
                    1,
                    0,
                    0,
                    (!rule.access & ACCESS_ALL) as i32,
                ));
                tests.push(insn(JMP_JNE_K, 1, 0, 0, 0));
            } else {
                tests.push(insn(ALU32_AND_K, 1, 0, 0, rule.access as i32));
                tests.push(insn(JMP_JEQ_K, 1, 0, 0, 0));
            }
        }
        if let Some(major) = rule.major {
            tests.push(insn(JMP_JNE_K, 4, 0, 0, major as i32));
        }
        if let Some(minor) = rule.minor {
            tests.push(insn(JMP_JNE_K, 5, 0, 0, minor as i32));
        }
        let block_len = tests.len() + 2;
        for (index, test) in tests.iter_mut().enumerate() {
            if test.code == JMP_JNE_K || test.code == JMP_JEQ_K {
                test.off = (block_len - index - 1) as i16;
            }
        }
        code.extend(tests);
        code.push(insn(ALU32_MOV_K, 0, 0, 0, i32::from(rule.allow)));
        code.push(insn(JMP_EXIT, 0, 0, 0, 0));
        if rule.matches_everything() {
            // The verifier refuses unreachable instructions: nothing before it can matter.
            return code;
        }
    }
    code.push(insn(ALU32_MOV_K, 0, 0, 0, 0));
    code.push(insn(JMP_EXIT, 0, 0, 0, 0));
    code
}

/// Replaces the device program of the cgroup at `dir` by one for `rules`. The new program is
/// attached before the old ones are detached, so the container is never without rules.
pub(crate) fn install(dir: &Path, rules: &[DeviceRule]) -> Result<(), CgroupError> {
    let code = program(rules);
    let program = load_device_program(&code, None).map_err(|e| {
        // Ask again with the verifier's log, for an error worth reading.
        let mut log = vec![0u8; 64 * 1024];
        let _ = load_device_program(&code, Some(&mut log));
        let log = String::from_utf8_lossy(&log);
        let last = log
            .trim_end_matches('\0')
            .trim()
            .lines()
            .last()
            .unwrap_or("");
        io_error("loading the device rules (eBPF) for", dir)(io::Error::new(
            e.kind(),
            format!("{e} {last}").trim().to_string(),
        ))
    })?;
    let cgroup: OwnedFd = std::fs::File::open(dir)
        .map_err(io_error("opening", dir))?
        .into();
    let previous =
        device_programs(&cgroup).map_err(io_error("listing the device programs of", dir))?;
    attach_device_program(&cgroup, &program)
        .map_err(io_error("attaching the device rules (eBPF) to", dir))?;
    for id in previous {
        let old =
            program_by_id(id).map_err(io_error("finding the previous device rules of", dir))?;
        detach_device_program(&cgroup, &old)
            .map_err(io_error("detaching the previous device rules of", dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program on one access, the way the kernel would (an interpreter for exactly
    /// the instructions `program` emits), to check the rules' meaning without a kernel.
    fn run(code: &[Insn], kind: u32, access: u32, major: u32, minor: u32) -> u32 {
        let ctx = [kind | (access << 16), major, minor];
        let mut reg = [0u32; 11];
        let mut pc = 0usize;
        loop {
            let i = code[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => reg[dst] = ctx[i.off as usize / 4],
                ALU32_AND_K => reg[dst] &= i.imm as u32,
                ALU32_RSH_K => reg[dst] >>= i.imm,
                ALU32_MOV_K => reg[dst] = i.imm as u32,
                ALU32_MOV_X => reg[dst] = reg[src],
                JMP_JNE_K => {
                    if reg[dst] != i.imm as u32 {
                        pc += i.off as usize;
                    }
                }
                JMP_JEQ_K => {
                    if reg[dst] == i.imm as u32 {
                        pc += i.off as usize;
                    }
                }
                JMP_EXIT => return reg[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    const CHAR: u32 = 2;
    const BLOCK: u32 = 1;
    const MKNOD: u32 = 1;
    const READ: u32 = 2;
    const WRITE: u32 = 4;

    #[test]
    fn later_rules_override_earlier_ones_and_the_default_is_deny() {
        let deny_all = DeviceRule {
            allow: false,
            kind: None,
            major: None,
            minor: None,
            access: ACCESS_ALL,
        };
        let rules = [
            deny_all,
            DeviceRule::allow_line("c 1:3 rwm"),
            DeviceRule::allow_line("c 136:* rw"),
            DeviceRule::allow_line("b 8:0 r"),
        ];
        let code = program(&rules);
        assert_eq!(run(&code, CHAR, READ | WRITE, 1, 3), 1, "/dev/null");
        assert_eq!(run(&code, CHAR, MKNOD, 1, 3), 1);
        assert_eq!(run(&code, CHAR, READ, 1, 5), 0, "not listed");
        assert_eq!(run(&code, CHAR, WRITE, 136, 7), 1, "any pts");
        assert_eq!(run(&code, CHAR, MKNOD, 136, 7), 0, "pts without m");
        assert_eq!(run(&code, BLOCK, READ, 8, 0), 1);
        assert_eq!(run(&code, BLOCK, READ | WRITE, 8, 0), 0, "read only");
        assert_eq!(run(&code, CHAR, READ, 8, 0), 0, "the type matters");

        // Without the leading deny-all the default is still deny.
        let code = program(&rules[1..]);
        assert_eq!(run(&code, CHAR, READ, 1, 5), 0);

        // An allow-all after a deny wins; a deny after it carves an exception.
        let allow_all = DeviceRule {
            allow: true,
            ..deny_all
        };
        let deny_null = DeviceRule {
            allow: false,
            ..DeviceRule::allow_line("c 1:3 rwm")
        };
        let code = program(&[deny_all, allow_all, deny_null]);
        assert_eq!(run(&code, CHAR, READ, 1, 5), 1);
        assert_eq!(run(&code, CHAR, READ, 1, 3), 0);
        assert_eq!(run(&code, BLOCK, WRITE, 8, 0), 1);

        // A deny rule bites on any access it names, as in v1: denying w refuses rw too.
        let deny_write = DeviceRule {
            allow: false,
            access: WRITE,
            ..DeviceRule::allow_line("c 10:200 rwm")
        };
        let code = program(&[allow_all, deny_write]);
        assert_eq!(run(&code, CHAR, READ, 10, 200), 1);
        assert_eq!(run(&code, CHAR, READ | WRITE, 10, 200), 0);
        assert_eq!(run(&code, CHAR, WRITE, 10, 200), 0);
    }

    #[test]
    fn nothing_follows_a_rule_that_matches_everything() {
        let allow_all = DeviceRule {
            allow: true,
            kind: None,
            major: None,
            minor: None,
            access: ACCESS_ALL,
        };
        let code = program(&[DeviceRule::allow_line("c 1:3 r"), allow_all]);
        assert_eq!(code.len(), 6 + 2, "the loads, then allow and exit");
        assert_eq!(run(&code, BLOCK, WRITE, 8, 0), 1);
    }
}
