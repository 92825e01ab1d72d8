//! hoist's networks end to end, each test in a network namespace of its own with a stand-in
//! for "the internet" behind a router ([`hoist_e2e::world`]): containers reach the world by
//! name through masquerading, published TCP and UDP ports answer from outside with the
//! caller's real address, containers find each other by name and alias, networks are objects,
//! and nothing (rule, veth, namespace, lease) is left after `rm` or after everything was
//! killed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hoist_e2e::rootless::{Home, RootlessUser};
use hoist_e2e::world::{World, HOST_ADDRESS, ROUTER_ADDRESS};
use hoist_e2e::{
    expect_ok, hoist, in_private_network, is_root, monitor_of, run, scratch, stderr, stdout,
    unique_id, wait_for, RunContainersGuard,
};

fn netpeer() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_netpeer"))
}

/// The busybox fixture image, used where it is.
fn busybox() -> Option<String> {
    let env = hoist_e2e::env()?;
    is_root().then(|| format!("oci:{}:busybox-latest", env.fixtures.display()))
}

/// `test` in a network namespace of its own, with a store of its own (`dir`, whose containers
/// are removed after) and the busybox image; nothing where the environment is incomplete.
fn in_a_network_of_its_own(test: impl FnOnce(&Path, String) + Send + 'static) {
    let Some(image) = busybox() else { return };
    let dir = scratch();
    let _guard = RunContainersGuard(dir.path());
    let scratch_path = dir.path().to_path_buf();
    in_private_network(move || test(&scratch_path, image));
}

/// `hoist run ARGS` in the store of `dir`.
fn hoist_run(dir: &Path, args: &[&str]) -> Output {
    run(hoist(dir).arg("run").args(args))
}

/// The mounts that let a busybox container run the (dynamically linked) netpeer helper.
fn netpeer_mounts() -> Vec<String> {
    vec![
        "-v".into(),
        format!("{}:/netpeer:ro", netpeer().display()),
        "-v".into(),
        "/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu:ro".into(),
        "-v".into(),
        "/usr/lib64:/lib64:ro".into(),
    ]
}

/// What hoist made in this namespace and store for containers: its table, links other than
/// `lo`, the world's and the networks' bridges (which stay with their networks), leases,
/// network namespaces of `names`.
fn leftovers(dir: &Path, names: &[&str]) -> Vec<String> {
    let mut left = Vec::new();
    if run(Command::new("nft").args(["list", "table", "ip", "hoist"]))
        .status
        .success()
    {
        left.push("the nft table ip hoist".to_string());
    }
    let names_of = |args: &[&str]| -> Vec<String> {
        let links = stdout(&expect_ok(
            Command::new("ip").args(["-br", "link", "show"]).args(args),
        ));
        links
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(|l| l.split('@').next().unwrap().to_string())
            .collect()
    };
    let bridges = names_of(&["type", "bridge"]);
    for name in names_of(&[]) {
        if name != "lo" && name != "up0" && !bridges.contains(&name) {
            left.push(format!("link {name}"));
        }
    }
    let leases = dir.join("hoist-root/network/leases");
    for network in std::fs::read_dir(leases).into_iter().flatten().flatten() {
        for lease in std::fs::read_dir(network.path()).unwrap().flatten() {
            left.push(format!("lease {}", lease.path().display()));
        }
    }
    for name in names {
        if Path::new("/run/netns")
            .join(format!("hoist-{name}"))
            .exists()
        {
            left.push(format!("network namespace of {name}"));
        }
    }
    left
}

#[test]
fn a_container_reaches_the_world_by_name_and_an_internal_network_does_not() {
    in_a_network_of_its_own(move |dir, image| {
        let mut world = World::new(&netpeer());
        world.serve(&["tcp-hello", "203.0.113.10:80"]);
        world.serve(&["dns", "203.0.113.53:53", "www.example.test=203.0.113.10"]);

        let fetched = hoist_run(
            dir,
            &[
                "--rm",
                "--dns",
                "203.0.113.53",
                &image,
                "nc",
                "www.example.test",
                "80",
            ],
        );
        assert!(fetched.status.success(), "{}", stderr(&fetched));
        // The world sees the host's address: the container's was masqueraded on the way out.
        let answer = stdout(&fetched);
        assert!(
            answer.starts_with(&format!("you are {HOST_ADDRESS}:")),
            "{answer}"
        );
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
            "1\n"
        );
        assert_eq!(
            hoist_e2e::left_after_settling(|| leftovers(dir, &[])),
            Vec::<String>::new()
        );

        // A firewall reload (the host's `nft flush ruleset`) while a container runs: the next
        // container's coming writes hoist's table again, though it would say the same.
        let sleeper = unique_id("sleeper");
        expect_ok(hoist(dir).args(["run", "-d", "--name", &sleeper, &image, "sleep", "600"]));
        expect_ok(Command::new("nft").args(["flush", "ruleset"]));
        let fetched = hoist_run(
            dir,
            &[
                "--rm",
                "--dns",
                "203.0.113.53",
                &image,
                "nc",
                "-w",
                "5",
                "www.example.test",
                "80",
            ],
        );
        assert!(
            stdout(&fetched).starts_with("you are "),
            "{}{}",
            stdout(&fetched),
            stderr(&fetched)
        );
        expect_ok(hoist(dir).args(["rm", "-f", &sleeper]));
        assert_eq!(
            hoist_e2e::left_after_settling(|| leftovers(dir, &[&sleeper])),
            Vec::<String>::new()
        );

        expect_ok(hoist(dir).args(["network", "create", "--internal", "inside"]));
        let walled = hoist_run(
            dir,
            &[
                "--rm",
                "--network",
                "inside",
                &image,
                "nc",
                "-w",
                "2",
                "203.0.113.10",
                "80",
            ],
        );
        assert!(!walled.status.success(), "{}", stdout(&walled));
        assert_eq!(
            hoist_e2e::left_after_settling(|| leftovers(dir, &[])),
            Vec::<String>::new()
        );
    });
}

/// The last container's `rm` does not wait for hoist's table to go, but the next container's
/// table must not be lost to that removal. Tried with an `nft` whose deletes are slow (a
/// wrapper first in PATH), so that the next container comes while one is pending.
#[test]
fn a_container_coming_while_the_table_goes_keeps_its_table() {
    in_a_network_of_its_own(move |dir, image| {
        let mut world = World::new(&netpeer());
        world.serve(&["tcp-hello", "203.0.113.10:80"]);
        let wrappers = dir.join("slow-nft");
        std::fs::create_dir_all(&wrappers).unwrap();
        let real = expect_ok(Command::new("sh").args(["-c", "command -v nft"]));
        let script = format!(
            "#!/bin/sh\ncase \"$*\" in *delete*) sleep 1.5 ;; esac\nexec {} \"$@\"\n",
            stdout(&real).trim()
        );
        let wrapper = wrappers.join("nft");
        std::fs::write(&wrapper, script).unwrap();
        std::fs::set_permissions(
            &wrapper,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let path = format!("{}:{}", wrappers.display(), std::env::var("PATH").unwrap());
        for _ in 0..2 {
            let fetched = run(hoist(dir).env("PATH", &path).args([
                "run",
                "--rm",
                &image,
                "sh",
                "-c",
                // Still reaching out when an earlier removal would strike.
                "sleep 2; nc -w 5 203.0.113.10 80",
            ]));
            assert!(
                stdout(&fetched).starts_with(&format!("you are {HOST_ADDRESS}:")),
                "{}{}",
                stdout(&fetched),
                stderr(&fetched)
            );
        }
        assert_eq!(
            hoist_e2e::left_after_settling(|| leftovers(dir, &[])),
            Vec::<String>::new()
        );
    });
}

#[test]
fn published_tcp_and_udp_ports_answer_from_outside_with_the_callers_address() {
    let (server, rival) = (unique_id("published"), unique_id("rival"));
    in_a_network_of_its_own(move |dir, image| {
        let world = World::new(&netpeer());
        let mut args: Vec<String> = ["-d", "--name", &server, "-p", "8080:80", "-p"]
            .map(String::from)
            .into();
        args.extend(["5353:53/udp", "-p", "127.0.0.1::80"].map(String::from));
        args.extend(netpeer_mounts());
        args.extend([image.clone(), "sh".into(), "-c".into()]);
        args.push("/netpeer tcp-hello 0.0.0.0:80 & exec /netpeer udp-hello 0.0.0.0:53".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = hoist_run(dir, &args);
        assert!(started.status.success(), "{}", stderr(&started));

        // From the world, through the DNAT rules: the server sees the real caller.
        let tcp = format!("{HOST_ADDRESS}:8080");
        let mut answer = String::new();
        wait_for("the published TCP port to answer", || {
            let asked = world.ask(&["tcp-ask", &tcp]);
            answer = stdout(&asked);
            asked.status.success()
        });
        assert!(
            answer.starts_with(&format!("you are {ROUTER_ADDRESS}:")),
            "{answer}"
        );
        let udp = world.ask(&["udp-ask", &format!("{HOST_ADDRESS}:5353")]);
        assert!(
            stdout(&udp).starts_with(&format!("you are {ROUTER_ADDRESS}:")),
            "{}{}",
            stdout(&udp),
            stderr(&udp)
        );

        // Over loopback, through the proxy, on the port chosen for `127.0.0.1::80`.
        let ports = stdout(&expect_ok(hoist(dir).args(["port", &server, "80/tcp"])));
        let chosen = ports
            .lines()
            .find_map(|l| l.strip_prefix("80/tcp -> 127.0.0.1:"))
            .unwrap_or_else(|| panic!("a chosen loopback port: {ports}"));
        for (verb, port) in [("tcp-ask", chosen), ("udp-ask", "5353")] {
            let asked = run(Command::new(netpeer()).args([verb, &format!("127.0.0.1:{port}")]));
            assert!(
                stdout(&asked).starts_with("you are 10.89.0.1:"),
                "{verb}: {}{}",
                stdout(&asked),
                stderr(&asked)
            );
        }

        // A port another container publishes is refused before anything is made.
        let refused = hoist_run(
            dir,
            &["--rm", "--name", &rival, "-p", "8080:8080", &image, "true"],
        );
        assert!(!refused.status.success());
        assert!(
            stderr(&refused).contains(&format!("published by container {server:?} already")),
            "{}",
            stderr(&refused)
        );

        expect_ok(hoist(dir).args(["rm", "-f", &server]));
        assert_eq!(
            hoist_e2e::left_after_settling(|| leftovers(dir, &[&server, &rival])),
            Vec::<String>::new()
        );
        assert!(world.ask(&["tcp-ask", &tcp]).status.code() != Some(0));
    });
}

#[test]
fn containers_find_each_other_by_name_and_alias_on_networks_made_by_the_user() {
    let (a, b) = (unique_id("alpha"), unique_id("beta"));
    in_a_network_of_its_own(move |dir, image| {
        let network = |args: &[&str]| run(hoist(dir).arg("network").args(args));
        let made = network(&[
            "create",
            "--subnet",
            "10.89.70.0/24",
            "--gateway",
            "10.89.70.254",
            "front",
        ]);
        assert_eq!(stdout(&made), "front\n", "{}", stderr(&made));
        assert!(stderr(&network(&["create", "front"])).contains("exists already"));
        let overlapping = network(&["create", "--subnet", "10.89.70.128/25", "other"]);
        assert!(
            stderr(&overlapping).contains("overlaps network \"front\""),
            "{}",
            stderr(&overlapping)
        );
        assert_eq!(stdout(&network(&["ls", "-q"])), "hoist\nfront\n");
        let inspected: serde_json::Value =
            serde_json::from_str(&stdout(&network(&["inspect", "front"]))).unwrap();
        assert_eq!(inspected[0]["subnets"][0]["gateway"], "10.89.70.254");
        assert_eq!(network(&["exists", "front"]).status.code(), Some(0));
        assert_eq!(network(&["exists", "nowhere"]).status.code(), Some(1));

        let serve = |name: &str, extra: &[&str]| {
            let mut args = vec!["-d", "--name", name, "--network", "front"];
            args.extend(extra);
            let script = format!("while true; do echo from-{name} | nc -l -p 80; done");
            args.extend([image.as_str(), "sh", "-c", &script]);
            let started = hoist_run(dir, &args);
            assert!(started.status.success(), "{}", stderr(&started));
        };
        serve(&a, &["--network-alias", "db", "--ip", "10.89.70.7"]);
        serve(&b, &[]);
        // a came first: its hosts learned of b when b came.
        let ask = |from: &str, to: &str| {
            stdout(&expect_ok(hoist(dir).args(["exec", from, "nc", to, "80"])))
        };
        assert_eq!(ask(&a, &b), format!("from-{b}\n"));
        assert_eq!(ask(&b, "db"), format!("from-{a}\n"));
        let hosts = stdout(&expect_ok(hoist(dir).args([
            "exec",
            &b,
            "cat",
            "/etc/hosts",
        ])));
        assert!(hosts.contains(&format!("10.89.70.7\t{a} db\n")), "{hosts}");

        let taken = hoist_run(
            dir,
            &[
                "--rm",
                "--network",
                "front",
                "--ip",
                "10.89.70.7",
                &image,
                "true",
            ],
        );
        assert!(
            stderr(&taken).contains("10.89.70.7 is in use"),
            "{}",
            stderr(&taken)
        );
        // Names are the network's: a container on another one finds neither.
        let stranger = hoist_run(dir, &["--rm", &image, "nc", "-w", "2", &a, "80"]);
        assert!(!stranger.status.success(), "{}", stdout(&stranger));

        let refused = network(&["rm", "front"]);
        assert!(
            stderr(&refused).contains("is in use by"),
            "{}",
            stderr(&refused)
        );
        assert_eq!(stdout(&network(&["rm", "-f", "front"])), "front\n");
        assert_eq!(stdout(&expect_ok(hoist(dir).args(["ps", "-aq"]))), "");
        expect_ok(hoist(dir).args(["network", "create", "spare"]));
        assert_eq!(stdout(&network(&["prune"])), "spare\n");
        assert_eq!(stdout(&network(&["ls", "-q"])), "hoist\n");
        assert_eq!(
            hoist_e2e::left_after_settling(|| leftovers(dir, &[&a, &b])),
            Vec::<String>::new()
        );
    });
}

#[test]
fn after_everything_was_killed_rm_leaves_no_rule_veth_namespace_or_lease() {
    let names = [unique_id("killed"), unique_id("killed")];
    in_a_network_of_its_own(move |dir, image| {
        for (name, port) in names.iter().zip(["18081:80", "18082:80/udp"]) {
            let started = hoist_run(
                dir,
                &["-d", "--name", name, "-p", port, &image, "sleep", "600"],
            );
            assert!(started.status.success(), "{}", stderr(&started));
        }
        for name in &names {
            let pid = stdout(&expect_ok(hoist(dir).args([
                "inspect",
                "--format",
                "{{.State.Pid}}",
                name,
            ])));
            let monitor = monitor_of(name).expect("a monitor");
            for pid in [monitor.as_raw(), pid.trim().parse().unwrap()] {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL)
                    .unwrap();
            }
            wait_for("the monitor to die", || monitor_of(name).is_none());
        }
        assert_ne!(
            leftovers(dir, &[]),
            Vec::<String>::new(),
            "the dead left their places"
        );
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut rm = vec!["rm", "-f"];
        rm.extend(&names);
        expect_ok(hoist(dir).args(rm));
        assert_eq!(
            hoist_e2e::left_after_settling(|| leftovers(dir, &names)),
            Vec::<String>::new()
        );
    });
}

/// Another table's forward chain that drops by default would eat the containers' traffic
/// whatever hoist's table says: `run` says so, naming the chain and what to add.
#[test]
fn a_firewall_that_drops_forwarded_traffic_is_named_in_a_warning() {
    in_a_network_of_its_own(move |dir, image| {
        let mut nft = Command::new("nft");
        nft.args(["add table inet guard; add chain inet guard forward { type filter hook forward priority 0; policy drop; }"]);
        expect_ok(&mut nft);
        let ran = hoist_run(dir, &["--rm", &image, "true"]);
        assert!(ran.status.success(), "{}", stderr(&ran));
        assert!(
            stderr(&ran).contains("forward chain `inet guard forward` drops forwarded packets"),
            "{}",
            stderr(&ran)
        );
    });
}

/// An alias is a line of every neighbour's /etc/hosts: one that would add a line (or split
/// into several names) is refused, written as the attack. A created container's published
/// port takes no traffic until it starts, and a port a host program holds is not taken from
/// it.
#[test]
fn an_alias_cannot_write_a_neighbours_hosts_and_ports_are_taken_only_when_free() {
    let created = unique_id("created");
    in_a_network_of_its_own(move |dir, image| {
        for alias in ["x\n203.0.113.7 bank.example", "two names", "#"] {
            let refused = hoist_run(dir, &["--rm", "--network-alias", alias, &image, "true"]);
            assert_eq!(refused.status.code(), Some(125), "{alias:?}");
            assert!(
                stderr(&refused).contains("--network-alias"),
                "{}",
                stderr(&refused)
            );
            let refused = hoist_run(
                dir,
                &[
                    "--rm",
                    "--network",
                    &format!("bridge:alias={alias}"),
                    &image,
                    "true",
                ],
            );
            assert_eq!(
                refused.status.code(),
                Some(125),
                "{alias:?}: {}",
                stderr(&refused)
            );
        }

        let made = run(hoist(dir).args([
            "create", "--name", &created, "-p", "18085:80", &image, "true",
        ]));
        assert!(made.status.success(), "{}", stderr(&made));
        assert_eq!(
            hoist_e2e::left_after_settling(|| leftovers(dir, &[&created])),
            Vec::<String>::new(),
            "a created container holds nothing"
        );

        let holder = std::net::TcpListener::bind("0.0.0.0:18086").unwrap();
        let refused = hoist_run(dir, &["--rm", "-p", "18086:80", &image, "true"]);
        assert!(
            stderr(&refused).contains("port 0.0.0.0:18086:80/tcp is in use on this host"),
            "{}",
            stderr(&refused)
        );
        drop(holder);
        let twice = hoist_run(
            dir,
            &["--rm", "-p", "18087:80", "-p", "18087:81", &image, "true"],
        );
        assert!(
            stderr(&twice).contains("published by container"),
            "{}",
            stderr(&twice)
        );
        expect_ok(hoist(dir).args(["rm", &created]));
        assert_eq!(
            hoist_e2e::left_after_settling(|| leftovers(dir, &[&created])),
            Vec::<String>::new()
        );
    });
}

/// An unprivileged user's container (on pasta, its default) reaches the world by name, and
/// its published TCP and UDP ports answer callers from the world through the port proxy (the
/// server sees the proxy inside, 127.0.0.1, as under rootless podman's rootlessport); nothing
/// is made on the host's side but their sockets, and pasta and the proxy go with the
/// container.
#[test]
fn a_rootless_container_reaches_the_world_and_publishes_ports_through_pasta() {
    let Some(user) = RootlessUser::find() else {
        return;
    };
    let server = unique_id("rootless-published");
    in_a_network_of_its_own(move |dir, _| {
        let home = Home::new(user, dir);
        let env = hoist_e2e::env().unwrap();
        let layout = dir.join("layout");
        hoist_e2e::copy_fixtures(&env, &layout);
        user.give(&layout);
        let image = format!("oci:{}:busybox-latest", layout.display());
        let mut world = World::new(&netpeer());
        world.serve(&["tcp-hello", "203.0.113.10:80"]);
        world.serve(&["dns", "203.0.113.53:53", "www.example.test=203.0.113.10"]);

        // Its input held open a moment: Debian 12's pasta can lose the answer to a connection
        // the container half-closed before the server spoke (nc's does at once).
        let fetched = run(&mut home.hoist(&[
            "run",
            "--rm",
            "--dns",
            "203.0.113.53",
            &image,
            "sh",
            "-c",
            "sleep 1 | timeout 20 nc www.example.test 80",
        ]));
        assert!(fetched.status.success(), "{}", stderr(&fetched));
        // pasta's socket on the host made the call: the world sees the host's address.
        assert!(
            stdout(&fetched).starts_with(&format!("you are {HOST_ADDRESS}:")),
            "{}",
            stdout(&fetched)
        );

        let mut args: Vec<String> = ["run", "-d", "--name", &server, "-p", "8080:80", "-p"]
            .map(String::from)
            .into();
        args.push("5353:53/udp".into());
        args.extend(netpeer_mounts());
        args.extend([image.clone(), "sh".into(), "-c".into()]);
        args.push("/netpeer tcp-hello 0.0.0.0:80 & exec /netpeer udp-hello 0.0.0.0:53".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = run(&mut home.hoist(&args));
        assert!(started.status.success(), "{}", stderr(&started));
        let tcp = format!("{HOST_ADDRESS}:8080");
        let mut answer = String::new();
        wait_for("the published TCP port to answer", || {
            let asked = world.ask(&["tcp-ask", &tcp]);
            answer = stdout(&asked);
            asked.status.success()
        });
        assert!(answer.starts_with("you are 127.0.0.1:"), "{answer}");
        let udp = world.ask(&["udp-ask", &format!("{HOST_ADDRESS}:5353")]);
        assert!(
            stdout(&udp).starts_with("you are 127.0.0.1:"),
            "{}{}",
            stdout(&udp),
            stderr(&udp)
        );

        assert!(run(&mut home.hoist(&["rm", "-f", &server]))
            .status
            .success());
        assert_eq!(
            Home::processes_naming(dir),
            Vec::<i32>::new(),
            "pasta and the port proxy are gone"
        );
        assert!(world.ask(&["tcp-ask", &tcp]).status.code() != Some(0));
        assert_eq!(
            hoist_e2e::left_after_settling(|| leftovers(dir, &[])),
            Vec::<String>::new()
        );
    });
}
