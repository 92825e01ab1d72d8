//! Kubernetes nodes: containerd's CRI plugin (what the kubelet talks to) runs pods with the
//! runtime under test through containerd's runc shim: the sandbox (pause) container and
//! containers that join its namespaces by path, ExecSync and streaming exec, logs in the CRI
//! format, limits and security contexts from the pod spec, stop with a grace period, OOM, and
//! removal that leaves nothing behind. Each check runs with hoist and with runc: the same
//! assertions passing with runc is what shows they test the runtime and not the harness.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hoist_e2e::cri::{open_stream, read_until, send, ExecStream, Node, POD_ADDRESS};
use hoist_e2e::{env, hoist_bin, is_root, scratch, unique_id, wait_for};
use k8s_cri::v1::{
    security_profile::ProfileType, Capability, ContainerConfig, ContainerMetadata, ContainerState,
    ContainerStatus, ContainerStatusRequest, CreateContainerRequest, ExecRequest, ExecSyncRequest,
    ExecSyncResponse, ImageSpec, Int64Value, LinuxContainerConfig, LinuxContainerResources,
    LinuxContainerSecurityContext, LinuxPodSandboxConfig, LinuxSandboxSecurityContext,
    ListContainersRequest, NamespaceMode, NamespaceOption, PodSandboxConfig, PodSandboxMetadata,
    PodSandboxStatusRequest, PullImageRequest, RemoveContainerRequest, RemovePodSandboxRequest,
    RunPodSandboxRequest, SecurityProfile, StartContainerRequest, StopContainerRequest,
    StopPodSandboxRequest, UpdateContainerResourcesRequest,
};

#[test]
fn cri_runs_pods_through_hoist() {
    pods_on_a_node(&hoist_bin());
}

#[test]
fn cri_runs_pods_through_runc() {
    pods_on_a_node(Path::new("runc"));
}

fn pods_on_a_node(runtime: &Path) {
    let Some(env) = env() else { return };
    if !is_root() {
        return;
    }
    let dir = scratch();
    let cgroups = CgroupParent::new(&unique_id("hoist-cri"));
    let node = Node::start(dir.path(), runtime, &env.registry);
    let image = format!("{}/busybox:latest", env.registry);
    node.block(node.images.clone().pull_image(PullImageRequest {
        image: Some(image_spec(&image)),
        ..Default::default()
    }))
    .expect("pulling busybox through the CRI");

    let pod = Pod::run(&node, dir.path(), &cgroups, "web", false);
    shared_namespaces_limits_and_security(&pod, &image);
    streaming_exec(&pod, &image);
    stop_with_grace_and_oom(&pod, &image);
    capabilities_added_and_dropped(&pod, &image);
    let privileged = Pod::run(&node, dir.path(), &cgroups, "admin", true);
    privileged_container(&privileged, &image);

    for pod in [pod, privileged] {
        pod.remove();
    }
    let left = node.block(
        node.runtime
            .clone()
            .list_containers(ListContainersRequest::default()),
    );
    assert!(left.unwrap().into_inner().containers.is_empty());
    let mut state: Vec<_> = std::fs::read_dir(&node.runtime_state)
        .map(|d| d.filter_map(|e| Some(e.ok()?.file_name())).collect())
        .unwrap_or_default();
    // hoist's cache of compiled seccomp filters is shared by containers, not one's state.
    state.retain(|name| name != ".seccomp");
    assert!(
        state.is_empty(),
        "the runtime's state of every container is gone: {state:?}"
    );
    cgroups.assert_empty();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let scratch_dir = dir.path().to_string_lossy().into_owned();
    assert!(
        !mounts.lines().any(|l| l.contains(&scratch_dir)),
        "nothing is left mounted in the node's directories:\n{mounts}"
    );
}

/// A container in a pod whose network, IPC, UTS and PID namespaces it joins by path: it sees
/// the pod's hostname, address and pause process; runs as the pod spec's user with a read-only
/// root, the runtime's default seccomp profile and the spec's memory and CPU limits; and logs
/// in the CRI format.
fn shared_namespaces_limits_and_security(pod: &Pod, image: &str) {
    let id = pod.start(ContainerSpec {
        security: LinuxContainerSecurityContext {
            run_as_user: Some(Int64Value { value: 1000 }),
            readonly_rootfs: true,
            seccomp: Some(SecurityProfile {
                profile_type: ProfileType::RuntimeDefault as i32,
                ..Default::default()
            }),
            ..Default::default()
        },
        resources: Some(LinuxContainerResources {
            memory_limit_in_bytes: 64 << 20,
            cpu_shares: 256,
            ..Default::default()
        }),
        ..ContainerSpec::shell(
            "main",
            image,
            "echo hello-out; echo hello-err >&2; exec sleep 600",
        )
    });
    let out = |cmd: &[&str]| {
        let response = pod.exec_sync(&id, cmd);
        assert_eq!(response.exit_code, 0, "{cmd:?}: {response:?}");
        String::from_utf8_lossy(&response.stdout).into_owned()
    };
    assert_eq!(out(&["id", "-u"]), "1000\n");
    assert_eq!(out(&["hostname"]), format!("{}\n", pod.hostname));
    assert!(
        out(&["cat", "/proc/1/cmdline"]).contains("2147483647"),
        "the pod's PID namespace, with its pause process as PID 1"
    );
    assert!(out(&["ip", "-o", "-4", "addr", "show", "eth0"]).contains(POD_ADDRESS));
    assert!(out(&["grep", "Seccomp:", "/proc/self/status"]).contains('2'));
    let touch = pod.exec_sync(&id, &["touch", "/probe"]);
    assert_ne!(touch.exit_code, 0, "the root file system is read-only");
    assert!(String::from_utf8_lossy(&touch.stderr).contains("Read-only file system"));
    assert_eq!(pod.exec_sync(&id, &["sh", "-c", "exit 3"]).exit_code, 3);

    let pid = pod.pid(&id);
    assert_eq!(
        cgroup_value(pid, "memory", "memory.limit_in_bytes", "memory.max"),
        "67108864"
    );
    let shares = cgroup_value(pid, "cpu", "cpu.shares", "cpu.weight");
    assert!(
        shares == "256" || shares == "10",
        "cpu shares 256 (weight 10): {shares}"
    );

    let update = pod
        .node
        .block(pod.node.runtime.clone().update_container_resources(
            UpdateContainerResourcesRequest {
                container_id: id.clone(),
                linux: Some(LinuxContainerResources {
                    memory_limit_in_bytes: 128 << 20,
                    cpu_shares: 256,
                    ..Default::default()
                }),
                ..Default::default()
            },
        ));
    update.expect("UpdateContainerResources (the runtime's `update --resources -`)");
    assert_eq!(
        cgroup_value(pid, "memory", "memory.limit_in_bytes", "memory.max"),
        "134217728"
    );

    let log = pod.wait_for_log("main", "hello-err");
    let lines: BTreeMap<&str, &str> = log
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(4, ' ');
            let (time, stream, tag, text) = (
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
            );
            assert!(
                time.contains('T') && time.ends_with('Z'),
                "an RFC 3339 time: {line}"
            );
            assert_eq!(tag, "F", "a full line: {line}");
            Some((text, stream))
        })
        .collect();
    assert_eq!(lines.get("hello-out"), Some(&"stdout"), "{log}");
    assert_eq!(lines.get("hello-err"), Some(&"stderr"), "{log}");
}

/// `kubectl exec`: the CRI streaming server relays stdin, stdout, stderr and the exit code,
/// and with a terminal, its size.
fn streaming_exec(pod: &Pod, image: &str) {
    let id = pod.start(ContainerSpec::sleeper("exec-target", image));
    let url = |cmd: &[&str], tty: bool| {
        let response = pod.node.block(pod.node.runtime.clone().exec(ExecRequest {
            container_id: id.clone(),
            cmd: strings(cmd),
            tty,
            stdin: true,
            stdout: true,
            stderr: !tty,
        }));
        response.expect("CRI Exec").into_inner().url
    };

    let mut socket = open_stream(&url(
        &[
            "sh",
            "-c",
            "read line; echo got-$line; echo err-side >&2; exit 5",
        ],
        false,
    ));
    send(&mut socket, 0, b"ping\n");
    let mut stream = ExecStream::default();
    assert!(read_until(&mut socket, &mut stream, |s| !s
        .status
        .is_empty()));
    assert_eq!(String::from_utf8_lossy(&stream.stdout), "got-ping\n");
    assert_eq!(String::from_utf8_lossy(&stream.stderr), "err-side\n");
    assert_eq!(stream.exit_code(), Some(5), "{}", stream.status);

    let mut socket = open_stream(&url(&["sh"], true));
    send(&mut socket, 4, br#"{"Width":100,"Height":30}"#);
    // The resize and the input travel apart: the shell waits for the size to arrive.
    send(
        &mut socket,
        0,
        b"for i in $(seq 50); do s=$(stty size); [ \"$s\" = \"30 100\" ] && break; sleep 0.1; done; echo size=$s; tty; exit 7\n",
    );
    let mut stream = ExecStream::default();
    assert!(read_until(&mut socket, &mut stream, |s| !s
        .status
        .is_empty()));
    let shown = String::from_utf8_lossy(&stream.stdout);
    assert!(shown.contains("size=30 100"), "{shown}");
    assert!(
        shown.contains("/dev/pts/"),
        "a terminal of its own: {shown}"
    );
    assert_eq!(stream.exit_code(), Some(7), "{}", stream.status);
}

/// StopContainer: SIGTERM, then SIGKILL when the grace period is over; a container over its
/// memory limit is reported OOMKilled.
fn stop_with_grace_and_oom(pod: &Pod, image: &str) {
    let graceful = pod.start(ContainerSpec::shell(
        "graceful",
        image,
        "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 1; done",
    ));
    let stubborn = pod.start(ContainerSpec::shell(
        "stubborn",
        image,
        "trap '' TERM; echo ready; while :; do sleep 1; done",
    ));
    pod.wait_for_log("graceful", "ready");
    pod.wait_for_log("stubborn", "ready");
    pod.stop(&graceful, 30);
    pod.stop(&stubborn, 1);
    let status = pod.status(&graceful);
    assert_eq!(status.state, ContainerState::ContainerExited as i32);
    assert_eq!(status.exit_code, 0, "{status:?}");
    assert!(pod
        .wait_for_log("graceful", "got-term")
        .contains("stdout F got-term"));
    assert_eq!(
        pod.status(&stubborn).exit_code,
        137,
        "killed after the grace period"
    );

    let mut hungry = ContainerSpec::new(
        "hungry",
        image,
        &["dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"],
    );
    hungry.resources = Some(LinuxContainerResources {
        memory_limit_in_bytes: 32 << 20,
        ..Default::default()
    });
    let hungry = pod.start(hungry);
    wait_for("the container over its memory limit to end", || {
        pod.status(&hungry).state == ContainerState::ContainerExited as i32
    });
    let status = pod.status(&hungry);
    assert_eq!(status.reason, "OOMKilled", "{status:?}");
    assert_eq!(status.exit_code, 137);
    for id in [graceful, stubborn, hungry] {
        pod.remove_container(&id);
    }
}

/// Capabilities added to and dropped from the runtime's defaults; masked paths.
fn capabilities_added_and_dropped(pod: &Pod, image: &str) {
    let mut spec = ContainerSpec::sleeper("caps", image);
    spec.security.capabilities = Some(Capability {
        add_capabilities: vec!["SYS_TIME".into()],
        drop_capabilities: vec!["NET_RAW".into()],
        ..Default::default()
    });
    let id = pod.start(spec);
    let caps = effective_caps(&pod.exec_sync(&id, &["grep", "CapEff:", "/proc/self/status"]));
    assert_ne!(caps & (1 << 25), 0, "CAP_SYS_TIME added: {caps:x}");
    assert_eq!(caps & (1 << 13), 0, "CAP_NET_RAW dropped: {caps:x}");
    assert_eq!(caps & (1 << 21), 0, "CAP_SYS_ADMIN not given: {caps:x}");
    assert_ne!(caps & 1, 0, "CAP_CHOWN kept from the defaults: {caps:x}");
    let mount = pod.exec_sync(&id, &["sh", "-c", MOUNT_PROBE]);
    assert_ne!(
        mount.exit_code, 0,
        "no mount without CAP_SYS_ADMIN: {mount:?}"
    );
    let masked = pod.exec_sync(&id, &["sh", "-c", "wc -c < /proc/timer_list"]);
    assert_eq!(
        masked.stdout, b"0\n",
        "the kubelet's masked paths are masked: {masked:?}"
    );
    let sys = pod.exec_sync(&id, &["grep", " /proc/sys ", "/proc/self/mounts"]);
    assert!(
        String::from_utf8_lossy(&sys.stdout).contains(" ro,"),
        "and its read-only paths read-only: {sys:?}"
    );
}

/// Every capability, no seccomp filter, mounts allowed.
fn privileged_container(pod: &Pod, image: &str) {
    let mut spec = ContainerSpec::sleeper("privileged", image);
    spec.security = LinuxContainerSecurityContext {
        privileged: true,
        ..Default::default()
    };
    let id = pod.start(spec);
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    let own = own.lines().find(|l| l.starts_with("CapEff:")).unwrap();
    let theirs = pod.exec_sync(&id, &["grep", "CapEff:", "/proc/self/status"]);
    assert_eq!(
        String::from_utf8_lossy(&theirs.stdout).trim(),
        own.trim(),
        "every capability"
    );
    let mount = pod.exec_sync(&id, &["sh", "-c", MOUNT_PROBE]);
    assert_eq!(
        String::from_utf8_lossy(&mount.stdout),
        "mounted\n",
        "{mount:?}"
    );
    assert_eq!(
        pod.exec_sync(&id, &["grep", "Seccomp:", "/proc/self/status"])
            .stdout,
        b"Seccomp:\t0\n",
        "a privileged container is not filtered"
    );
}

const MOUNT_PROBE: &str = "mkdir -p /probe && mount -t tmpfs none /probe && echo mounted";

fn effective_caps(response: &ExecSyncResponse) -> u64 {
    let line = String::from_utf8_lossy(&response.stdout);
    let hex = line.trim().trim_start_matches("CapEff:").trim();
    u64::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("CapEff in {line:?}"))
}

/// The paths a kubelet masks and makes read-only in every unprivileged container (its
/// `securitycontext` defaults); containerd applies what it is given, nothing by itself.
const KUBELET_MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];
const KUBELET_READONLY_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// What a container is made from, as a kubelet would say it.
struct ContainerSpec<'a> {
    name: &'a str,
    image: &'a str,
    command: Vec<String>,
    security: LinuxContainerSecurityContext,
    resources: Option<LinuxContainerResources>,
}

impl<'a> ContainerSpec<'a> {
    fn new(name: &'a str, image: &'a str, command: &[&str]) -> Self {
        ContainerSpec {
            name,
            image,
            command: strings(command),
            security: LinuxContainerSecurityContext {
                masked_paths: strings(KUBELET_MASKED_PATHS),
                readonly_paths: strings(KUBELET_READONLY_PATHS),
                ..Default::default()
            },
            resources: None,
        }
    }

    fn shell(name: &'a str, image: &'a str, script: &str) -> Self {
        ContainerSpec::new(name, image, &["sh", "-c", script])
    }

    fn sleeper(name: &'a str, image: &'a str) -> Self {
        ContainerSpec::new(name, image, &["sleep", "600"])
    }
}

struct Pod<'a> {
    node: &'a Node,
    id: String,
    config: PodSandboxConfig,
    hostname: String,
    logs: PathBuf,
}

impl<'a> Pod<'a> {
    fn run(
        node: &'a Node,
        dir: &Path,
        cgroups: &CgroupParent,
        name: &str,
        privileged: bool,
    ) -> Self {
        let hostname = unique_id(name);
        let logs = dir.join("logs").join(&hostname);
        std::fs::create_dir_all(&logs).unwrap();
        let config = PodSandboxConfig {
            metadata: Some(PodSandboxMetadata {
                name: name.into(),
                uid: hostname.clone(),
                namespace: "default".into(),
                attempt: 0,
            }),
            hostname: hostname.clone(),
            log_directory: logs.display().to_string(),
            linux: Some(LinuxPodSandboxConfig {
                cgroup_parent: cgroups.path.clone(),
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(NamespaceOption {
                        network: NamespaceMode::Pod as i32,
                        pid: NamespaceMode::Pod as i32,
                        ipc: NamespaceMode::Pod as i32,
                        ..Default::default()
                    }),
                    privileged,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let response = node.block(node.runtime.clone().run_pod_sandbox(RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: String::new(),
        }));
        let id = response.expect("RunPodSandbox").into_inner().pod_sandbox_id;
        Pod {
            node,
            id,
            config,
            hostname,
            logs,
        }
    }

    fn start(&self, spec: ContainerSpec) -> String {
        let config = ContainerConfig {
            metadata: Some(ContainerMetadata {
                name: spec.name.into(),
                attempt: 0,
            }),
            image: Some(image_spec(spec.image)),
            command: spec.command,
            log_path: format!("{}.log", spec.name),
            linux: Some(LinuxContainerConfig {
                resources: spec.resources,
                security_context: Some(spec.security),
            }),
            ..Default::default()
        };
        let mut runtime = self.node.runtime.clone();
        let created = self
            .node
            .block(runtime.create_container(CreateContainerRequest {
                pod_sandbox_id: self.id.clone(),
                config: Some(config),
                sandbox_config: Some(self.config.clone()),
            }));
        let id = created.expect("CreateContainer").into_inner().container_id;
        let started = self
            .node
            .block(runtime.start_container(StartContainerRequest {
                container_id: id.clone(),
            }));
        started.unwrap_or_else(|e| panic!("StartContainer {}: {e}", spec.name));
        id
    }

    fn exec_sync(&self, id: &str, cmd: &[&str]) -> ExecSyncResponse {
        let response = self
            .node
            .block(self.node.runtime.clone().exec_sync(ExecSyncRequest {
                container_id: id.into(),
                cmd: strings(cmd),
                timeout: 30,
            }));
        response
            .unwrap_or_else(|e| panic!("ExecSync {cmd:?}: {e}"))
            .into_inner()
    }

    fn status(&self, id: &str) -> ContainerStatus {
        self.status_verbose(id, false).0
    }

    /// The container's process, from containerd's verbose status.
    fn pid(&self, id: &str) -> i32 {
        let info = self.status_verbose(id, true).1;
        let info: serde_json::Value = serde_json::from_str(&info["info"]).unwrap();
        info["pid"].as_i64().expect("a pid in the verbose status") as i32
    }

    fn status_verbose(
        &self,
        id: &str,
        verbose: bool,
    ) -> (ContainerStatus, BTreeMap<String, String>) {
        let response = self.node.block(self.node.runtime.clone().container_status(
            ContainerStatusRequest {
                container_id: id.into(),
                verbose,
            },
        ));
        let response = response.expect("ContainerStatus").into_inner();
        (
            response.status.unwrap(),
            response.info.into_iter().collect(),
        )
    }

    fn stop(&self, id: &str, grace_seconds: i64) {
        let stopped = self.node.block(self.node.runtime.clone().stop_container(
            StopContainerRequest {
                container_id: id.into(),
                timeout: grace_seconds,
            },
        ));
        stopped.expect("StopContainer");
    }

    fn remove_container(&self, id: &str) {
        let removed = self.node.block(self.node.runtime.clone().remove_container(
            RemoveContainerRequest {
                container_id: id.into(),
            },
        ));
        removed.expect("RemoveContainer");
    }

    /// The container's CRI log once it holds `text`.
    fn wait_for_log(&self, container: &str, text: &str) -> String {
        let path = self.logs.join(format!("{container}.log"));
        let mut log = String::new();
        wait_for(&format!("{text:?} in {}", path.display()), || {
            log = std::fs::read_to_string(&path).unwrap_or_default();
            log.contains(text)
        });
        log
    }

    /// StopPodSandbox and RemovePodSandbox, as the kubelet does when a pod is deleted; its
    /// network namespace goes with it.
    fn remove(self) {
        let status = self
            .node
            .block(
                self.node
                    .runtime
                    .clone()
                    .pod_sandbox_status(PodSandboxStatusRequest {
                        pod_sandbox_id: self.id.clone(),
                        verbose: true,
                    }),
            );
        let info = status.expect("PodSandboxStatus").into_inner().info;
        let info: serde_json::Value = serde_json::from_str(&info["info"]).unwrap();
        let netns = info["runtimeSpec"]["linux"]["namespaces"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["type"] == "network"))
            .and_then(|n| n["path"].as_str())
            .map(PathBuf::from);
        let mut runtime = self.node.runtime.clone();
        let stopped = self
            .node
            .block(runtime.stop_pod_sandbox(StopPodSandboxRequest {
                pod_sandbox_id: self.id.clone(),
            }));
        stopped.expect("StopPodSandbox");
        let removed = self
            .node
            .block(runtime.remove_pod_sandbox(RemovePodSandboxRequest {
                pod_sandbox_id: self.id.clone(),
            }));
        removed.expect("RemovePodSandbox");
        if let Some(netns) = netns {
            assert!(
                !netns.exists(),
                "the pod's network namespace {} is gone",
                netns.display()
            );
        }
    }
}

fn image_spec(image: &str) -> ImageSpec {
    ImageSpec {
        image: image.into(),
        ..Default::default()
    }
}

/// A value from the cgroup `pid` is in: `v1_file` of the v1 `controller` hierarchy where the
/// host has one, else `v2_file` of its cgroup2 group.
fn cgroup_value(pid: i32, controller: &str, v1_file: &str, v2_file: &str) -> String {
    let membership = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let v1 = membership.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        controllers
            .split(',')
            .any(|c| c == controller)
            .then(|| format!("/sys/fs/cgroup/{controllers}{path}/{v1_file}"))
    });
    let file = v1.unwrap_or_else(|| {
        let path = membership
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .unwrap();
        format!("/sys/fs/cgroup{path}/{v2_file}")
    });
    std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .trim()
        .to_string()
}

/// The pods' cgroup parent (the kubelet makes it; runtimes make each container's group inside).
/// Removed, with anything a failed test left in it, when dropped.
struct CgroupParent {
    path: String,
}

impl CgroupParent {
    fn new(name: &str) -> Self {
        CgroupParent {
            path: format!("/{name}"),
        }
    }

    fn dirs(&self) -> Vec<PathBuf> {
        let hierarchies = std::fs::read_dir("/sys/fs/cgroup").unwrap();
        let mut dirs: Vec<PathBuf> = hierarchies
            .filter_map(|h| Some(h.ok()?.path().join(self.path.trim_start_matches('/'))))
            .filter(|d| d.is_dir())
            .collect();
        let v2 = Path::new("/sys/fs/cgroup").join(self.path.trim_start_matches('/'));
        if v2.is_dir() && !dirs.contains(&v2) {
            dirs.push(v2);
        }
        dirs
    }

    /// Every container's group is gone from every hierarchy: only the parent remains.
    fn assert_empty(&self) {
        for dir in self.dirs() {
            let children: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name())
                .collect();
            assert!(
                children.is_empty(),
                "{} still holds {children:?}",
                dir.display()
            );
        }
    }
}

impl Drop for CgroupParent {
    fn drop(&mut self) {
        fn remove(dir: &Path) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for entry in entries.flatten().filter(|e| e.path().is_dir()) {
                    remove(&entry.path());
                }
            }
            let _ = std::fs::remove_dir(dir);
        }
        for dir in self.dirs() {
            remove(&dir);
        }
    }
}
