//! A stand-in for "the internet" the networking tests reach, in a network namespace the test
//! makes: a router at 198.51.100.2 joined to the test's own namespace (which gets
//! 198.51.100.1 and its default route through it), and servers on 203.0.113.0/24 behind it,
//! run from the `netpeer` helper. Made inside [`crate::in_private_network`]; everything goes
//! with it when dropped.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::{expect_ok, unique_id};

/// The test namespace's address towards the world (what masquerading shows).
pub const HOST_ADDRESS: &str = "198.51.100.1";
/// The world's side of the link (what the test namespace sees callers from the world as).
pub const ROUTER_ADDRESS: &str = "198.51.100.2";

pub struct World {
    pub netns: String,
    netpeer: PathBuf,
    servers: Vec<Child>,
}

impl World {
    /// Must run in a network namespace of the test's own: it adds a link and a default route.
    pub fn new(netpeer: &Path) -> World {
        let netns = unique_id("hoist-test-world");
        expect_ok(Command::new("ip").args(["netns", "add", &netns]));
        let world = World {
            netns: netns.clone(),
            netpeer: netpeer.to_path_buf(),
            servers: Vec::new(),
        };
        let host = format!("{HOST_ADDRESS}/24");
        let router = format!("{ROUTER_ADDRESS}/24");
        for args in [
            vec![
                "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", &netns,
            ],
            vec!["addr", "add", &host, "dev", "up0"],
            vec!["link", "set", "up0", "up"],
            vec!["-n", &netns, "addr", "add", &router, "dev", "eth0"],
            vec!["-n", &netns, "link", "set", "eth0", "up"],
            vec!["-n", &netns, "link", "set", "lo", "up"],
            vec!["-n", &netns, "addr", "add", "203.0.113.10/32", "dev", "lo"],
            vec!["-n", &netns, "addr", "add", "203.0.113.53/32", "dev", "lo"],
            vec!["route", "add", "default", "via", ROUTER_ADDRESS],
        ] {
            expect_ok(Command::new("ip").args(args));
        }
        world
    }

    /// Starts `netpeer ARGS` in the world, once it says it is ready.
    pub fn serve(&mut self, args: &[&str]) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.netns])
            .arg(&self.netpeer)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting netpeer");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "netpeer {args:?}");
        self.servers.push(child);
    }

    /// `netpeer ARGS` run in the world, to its end.
    pub fn ask(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.netns])
            .arg(&self.netpeer)
            .args(args)
            .output()
            .expect("running netpeer")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for server in &mut self.servers {
            let _ = server.kill();
            let _ = server.wait();
        }
        let _ = Command::new("ip").args(["link", "delete", "up0"]).status();
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.netns])
            .status();
    }
}
