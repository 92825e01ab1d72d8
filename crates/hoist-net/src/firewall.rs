//! The firewall rules containers need: masquerading for what leaves a network's subnet, DNAT
//! for published ports (so the server sees its real client), and drops for internal networks.
//!
//! They live in an nftables table of hoist's own, `ip hoist`, written whole from the leases
//! when a container joining or leaving changes them (one `nft -f` transaction: the table
//! flushed and filled together, never half of it), and deleted with the last container. So a
//! crash leaves no rule the next `attach` or `detach` does not put right, and the host's other
//! tables are never touched. The `nft` command is used rather than a netlink crate for the
//! reason `ip` is: its syntax is the documentation, every distribution ships it, and a whole
//! table is one call; the netlink crates for nftables are young or bind libnftnl.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

use std::fs::File;
use std::path::Path;

use crate::{Error, Leases, Network, Result};

const TABLE: &str = "hoist";
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
/// The table as hoist last wrote it, in the state directory.
const APPLIED: &str = "firewall.nft";

/// Makes hoist's table say what the leases need, or removes it when no container is left.
/// Nothing is written when the table would stay as it is and nobody has touched the ruleset
/// since hoist wrote it (a container without published ports joining a network in use): every
/// change that removes a rule costs the kernel an RCU grace period. Returns the other tables'
/// forward chains that drop by default, when it made or changed the table for a network that
/// routes.
///
/// The removal is not waited for (see [`delete_behind`]): `lock`, the networks' lock the
/// caller holds, stays held by the `nft` that removes the table until it is gone.
pub fn apply(
    state_dir: &Path,
    networks: &[Network],
    leases: &Leases,
    lock: &File,
) -> Result<Vec<String>> {
    let in_use: Vec<&Network> = networks
        .iter()
        .filter(|n| leases.on(&n.name).next().is_some())
        .collect();
    let routes = in_use.iter().any(|n| !n.internal);
    if routes {
        enable_forwarding()?;
    }
    let wanted = match in_use.is_empty() {
        true => format!("{}none\n", where_written()),
        false => format!("{}{}", where_written(), table(&in_use, leases)),
    };
    let record = state_dir.join(APPLIED);
    if recorded(&record).is_some_and(|(generation, applied)| {
        applied == wanted && ruleset_generation() == Some(generation)
    }) {
        return Ok(Vec::new());
    }
    // Unknown until written again: should nft fail halfway or this process die, the next
    // apply writes the table whole.
    let _ = std::fs::remove_file(&record);
    if in_use.is_empty() {
        delete_behind(lock)?;
        return Ok(Vec::new());
    }
    // `add` and `flush` make both a first table and a rewrite of an existing one one
    // transaction; flushing a table that was just made costs nothing.
    let script = format!(
        "add table ip {TABLE}\nflush table ip {TABLE}\n{}list chains\n",
        table(&in_use, leases)
    );
    let listed = nft(&["-f", "-"], Some(&script))?;
    if let Some(generation) = ruleset_generation() {
        let text = format!("{generation}\n{wanted}");
        std::fs::write(&record, text).map_err(Error::io(&record))?;
    }
    Ok(if routes {
        dropping_forward_chains(&listed)
    } else {
        Vec::new()
    })
}

/// Removes hoist's table without waiting for it: a transaction that deletes a table waits for
/// the kernel's RCU grace period (15–25 ms here, most of what a container's network costs),
/// and nothing the last container's `rm` or `run --rm` reports depends on it. The `nft` that
/// deletes it inherits `lock` (the same open file, so the same `flock`), which stays held
/// until `nft` exits: whoever changes the networks next waits for the table to be gone, and
/// then, finding no record of what was applied, writes its own table whole. Should this `nft`
/// fail (said in a warning while this process lives), the table stays, with the last
/// container's rules, until the next change rewrites it; those rules name addresses nobody
/// holds.
fn delete_behind(lock: &File) -> Result<()> {
    // The lock's file as `nft`'s standard input (which it does not read, given its commands
    // as arguments): a descriptor of `nft`'s own, without handing any to other children.
    let held = lock.try_clone().map_err(Error::io("the networks' lock"))?;
    let child = Command::new("nft")
        .arg(format!("add table ip {TABLE}; delete table ip {TABLE}"))
        .stdin(held)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::NoNft)?;
    // Reaped by a thread of its own, so that a process that lives on (a monitor restarting
    // its container) keeps no zombie; one that exits first leaves `nft` to init.
    std::thread::spawn(move || match child.wait_with_output() {
        Ok(output) if !output.status.success() => tracing::warn!(
            "removing hoist's firewall table failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        _ => {}
    });
    Ok(())
}

/// The ruleset generation and the text recorded with it.
fn recorded(record: &Path) -> Option<(u32, String)> {
    let text = std::fs::read_to_string(record).ok()?;
    let (generation, applied) = text.split_once('\n')?;
    Some((generation.parse().ok()?, applied.to_string()))
}

/// The nftables ruleset's generation in this network namespace: the kernel counts every
/// change to any table, so an unchanged number means nobody (a firewall reload, `nft flush
/// ruleset`) has touched hoist's table since it was written. Asked over nfnetlink from this
/// process (NFT_MSG_GETGEN, answered with NFTA_GEN_ID): by hand, as it is one message of a
/// fixed layout; `None` if it cannot be asked.
fn ruleset_generation() -> Option<u32> {
    const NFNL_SUBSYS_NFTABLES: u16 = 10;
    const NFT_MSG_GETGEN: u16 = 16;
    const NFT_MSG_NEWGEN: u16 = 15;
    const NFTA_GEN_ID: u16 = 1;
    const HEADERS: usize = 16 + 4; // nlmsghdr, nfgenmsg
    let mut socket = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_NETFILTER).ok()?;
    socket.bind_auto().ok()?;
    socket.connect(&netlink_sys::SocketAddr::new(0, 0)).ok()?;
    let mut request = Vec::with_capacity(HEADERS);
    request.extend_from_slice(&(HEADERS as u32).to_ne_bytes());
    request.extend_from_slice(&(NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETGEN).to_ne_bytes());
    request.extend_from_slice(&1u16.to_ne_bytes()); // NLM_F_REQUEST
    request.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    request.extend_from_slice(&0u32.to_ne_bytes()); // port: the kernel fills it in
    request.extend_from_slice(&[0, 0, 0, 0]); // AF_UNSPEC, NFNETLINK_V0, resource id 0
    socket.send(&request, 0).ok()?;
    let mut answer = vec![0u8; 4096];
    let length = socket.recv(&mut &mut answer[..], 0).ok()?;
    let kind = u16::from_ne_bytes([*answer.get(4)?, *answer.get(5)?]);
    if kind != NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWGEN {
        return None;
    }
    let mut attributes = answer.get(HEADERS..length)?;
    while attributes.len() >= 4 {
        let size = usize::from(u16::from_ne_bytes([attributes[0], attributes[1]]));
        let kind = u16::from_ne_bytes([attributes[2], attributes[3]]) & 0x3fff;
        if size < 4 {
            return None;
        }
        if kind == NFTA_GEN_ID && size == 8 {
            return Some(u32::from_be_bytes(attributes.get(4..8)?.try_into().ok()?));
        }
        attributes = attributes.get(size.div_ceil(4) * 4..)?;
    }
    None
}

/// A comment naming the boot and the network namespace the table is written in: the record
/// of what was applied holds only for that table (after a reboot, or from another namespace,
/// it is written anew).
fn where_written() -> String {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let netns = std::fs::metadata("/proc/thread-self/ns/net").map_or(0, |m| {
        use std::os::unix::fs::MetadataExt;
        m.ino()
    });
    format!("# boot {} netns {netns}\n", boot.trim())
}

/// The table's text.
fn table(in_use: &[&Network], leases: &Leases) -> String {
    let mut published = String::new();
    for member in &leases.members {
        for port in &member.ports {
            if port.loopback_only() {
                continue; // the proxy's
            }
            let destination = match port.host_ip() {
                ip if ip.is_unspecified() => String::new(),
                ip => format!("ip daddr {ip} "),
            };
            let _ = writeln!(
                published,
                "\t\t{destination}{} dport {} dnat to {}:{}",
                port.protocol.name(),
                port.host.port(),
                member.address,
                port.container_port
            );
        }
    }
    let mut postrouting = String::new();
    let mut forward = String::new();
    for network in in_use {
        let subnet = network.subnet;
        if network.internal {
            let _ = writeln!(forward, "\t\tip saddr {subnet} ip daddr != {subnet} drop");
            let _ = writeln!(forward, "\t\tip daddr {subnet} ip saddr != {subnet} drop");
        } else {
            let _ = writeln!(
                postrouting,
                "\t\tip saddr {subnet} ip daddr != {subnet} masquerade"
            );
        }
        // A container reaching a port published to its own network through the host's
        // address: the answer must come back through the host too.
        let _ = writeln!(
            postrouting,
            "\t\tct status dnat ip saddr {subnet} ip daddr {subnet} masquerade"
        );
    }
    format!(
        "table ip {TABLE} {{
\tchain prerouting {{
\t\ttype nat hook prerouting priority -100; policy accept;
\t\tfib daddr type local jump published
\t}}
\tchain output {{
\t\ttype nat hook output priority -100; policy accept;
\t\tip daddr != 127.0.0.0/8 fib daddr type local jump published
\t}}
\tchain published {{
{published}\t}}
\tchain postrouting {{
\t\ttype nat hook postrouting priority 100; policy accept;
{postrouting}\t}}
\tchain forward {{
\t\ttype filter hook forward priority 0; policy accept;
{forward}\t}}
}}
"
    )
}

/// Routing between the bridges and the world: the kernel's switch for this network namespace.
fn enable_forwarding() -> Result<()> {
    if std::fs::read_to_string(IP_FORWARD).is_ok_and(|v| v.trim() == "1") {
        return Ok(());
    }
    std::fs::write(IP_FORWARD, "1").map_err(Error::io(IP_FORWARD))
}

/// The forward chains of other tables that drop what they do not accept, in `nft list
/// chains` text: a container's traffic may die there, whatever hoist's table says. As
/// `family table chain`.
fn dropping_forward_chains(listing: &str) -> Vec<String> {
    let (mut table, mut chain) = (String::new(), String::new());
    let mut dropping = Vec::new();
    for line in listing.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["table", family, name, "{"] => table = format!("{family} {name}"),
            ["chain", name, "{"] => chain = name.to_string(),
            _ if line.contains("hook forward")
                && line.contains("policy drop;")
                && table != format!("ip {TABLE}") =>
            {
                dropping.push(format!("{table} {chain}"));
            }
            _ => {}
        }
    }
    dropping
}

/// `nft ARGS` with `input` on its stdin; its stdout, or what it said on failure.
fn nft(args: &[&str], input: Option<&str>) -> Result<String> {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::NoNft)?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| Error::io("nft's input")(e))?;
    }
    let output = child.wait_with_output().map_err(|e| Error::io("nft")(e))?;
    if !output.status.success() {
        return Err(Error::Nft {
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
