//! Kubernetes' side of a node: a CRI client (the gRPC API the kubelet speaks) to a containerd of
//! the test's own whose CRI plugin runs containers with a runtime binary of the test's choice,
//! pulls from the local registry and gives pods a network only inside their own namespaces.

use std::future::Future;
use std::path::{Path, PathBuf};

use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ListPodSandboxRequest, RemovePodSandboxRequest, StopPodSandboxRequest, VersionRequest,
};
use tonic::transport::{Channel, Endpoint, Uri};

use crate::containerd::Containerd;

/// The address every pod's `eth0` gets from the test's CNI plugin (each pod has a network
/// namespace of its own, so they do not collide): documentation range, reaching nothing.
pub const POD_ADDRESS: &str = "192.0.2.2";

/// A CNI plugin written for the tests: it gives the pod's network namespace an `eth0` (one end
/// of a veth pair whose other end stays there too) with `POD_ADDRESS`, and touches nothing
/// outside that namespace. containerd wants
/// an `eth0` with an address from the pod's network; the bridge plugins would change the host.
const TEST_CNI_PLUGIN: &str = r#"#!/bin/sh
case "$CNI_COMMAND" in
ADD)
    nsenter --net="$CNI_NETNS" sh -c \
        'ip link add eth0 type veth peer name peer0 && ip addr add ADDRESS/24 dev eth0 && ip link set peer0 up && ip link set eth0 up' \
        >&2 || exit 1
    printf '{"cniVersion":"0.4.0","interfaces":[{"name":"eth0","sandbox":"%s"}],"ips":[{"version":"4","address":"ADDRESS/24","interface":0}]}' "$CNI_NETNS"
    ;;
VERSION)
    printf '{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0"]}'
    ;;
esac
"#;

/// containerd with its CRI plugin, its runtime `runtime_binary` through the runc shim, and a
/// CRI client to it. Pods left behind by a failed test are stopped and removed when dropped.
pub struct Node {
    pub containerd: Containerd,
    pub runtime: RuntimeServiceClient<Channel>,
    pub images: ImageServiceClient<Channel>,
    /// The runtime's state directory for containerd's `k8s.io` namespace.
    pub runtime_state: PathBuf,
    tokio: tokio::runtime::Runtime,
}

impl Node {
    pub fn start(dir: &Path, runtime_binary: &Path, registry: &str) -> Node {
        let cni_bin = dir.join("cni-bin");
        let cni_conf = dir.join("cni-conf");
        let hosts = dir.join("certs.d").join(registry);
        for made in [&cni_bin, &cni_conf, &hosts] {
            std::fs::create_dir_all(made).unwrap();
        }
        let plugin = cni_bin.join("hoist-test-net");
        std::fs::write(&plugin, TEST_CNI_PLUGIN.replace("ADDRESS", POD_ADDRESS)).unwrap();
        std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        // containerd adds the loopback plugin to every pod network itself.
        std::os::unix::fs::symlink("/usr/lib/cni/loopback", cni_bin.join("loopback")).unwrap();
        std::fs::write(
            cni_conf.join("10-hoist-test.conflist"),
            r#"{"cniVersion":"0.4.0","name":"hoist-test","plugins":[{"type":"hoist-test-net"}]}"#,
        )
        .unwrap();
        std::fs::write(
            hosts.join("hosts.toml"),
            format!(
                "server = \"http://{registry}\"\n[host.\"http://{registry}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
            ),
        )
        .unwrap();
        let runtime_root = dir.join("runtime-state");
        // `restrict_oom_score_adj`: the pause container's -998 needs CAP_SYS_RESOURCE, which
        // this host's root lacks; containerd then keeps scores at or above its own.
        let cri = "plugins.\"io.containerd.grpc.v1.cri\"";
        let plugins = format!(
            "[{cri}]\n  sandbox_image = \"{registry}/pause:latest\"\n  \
             stream_server_address = \"127.0.0.1\"\n  stream_server_port = \"0\"\n  \
             disable_apparmor = true\n  restrict_oom_score_adj = true\n\
             [{cri}.containerd]\n  default_runtime_name = \"under-test\"\n\
             [{cri}.containerd.runtimes.under-test]\n  runtime_type = \"io.containerd.runc.v2\"\n\
             [{cri}.containerd.runtimes.under-test.options]\n  BinaryName = \"{binary}\"\n  Root = \"{root}\"\n\
             [{cri}.cni]\n  bin_dir = \"{cni_bin}\"\n  conf_dir = \"{cni_conf}\"\n\
             [{cri}.registry]\n  config_path = \"{certs}\"\n",
            binary = runtime_binary.display(),
            root = runtime_root.display(),
            cni_bin = cni_bin.display(),
            cni_conf = cni_conf.display(),
            certs = dir.join("certs.d").display(),
        );
        let containerd = Containerd::start_with(dir, &[], &plugins);
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let channel = tokio.block_on(connect(containerd.socket()));
        let node = Node {
            containerd,
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
            runtime_state: runtime_root.join("k8s.io"),
            tokio,
        };
        let version = node.block(node.runtime.clone().version(VersionRequest::default()));
        assert_eq!(
            version.expect("CRI version").into_inner().runtime_name,
            "containerd"
        );
        node
    }

    /// Runs one CRI call to its end.
    pub fn block<F: Future>(&self, call: F) -> F::Output {
        self.tokio.block_on(call)
    }
}

impl Drop for Node {
    /// Stops and removes every pod (and so its containers) before containerd goes, so that a
    /// failed test leaves no container, shim, mount or network namespace behind.
    fn drop(&mut self) {
        let mut runtime = self.runtime.clone();
        let Ok(pods) = self.block(runtime.list_pod_sandbox(ListPodSandboxRequest::default()))
        else {
            return;
        };
        for pod in pods.into_inner().items {
            let _ = self.block(runtime.stop_pod_sandbox(StopPodSandboxRequest {
                pod_sandbox_id: pod.id.clone(),
            }));
            let _ = self.block(runtime.remove_pod_sandbox(RemovePodSandboxRequest {
                pod_sandbox_id: pod.id,
            }));
        }
    }
}

/// A gRPC channel over containerd's unix socket (tonic dials TCP by itself; the URI is unused).
async fn connect(socket: PathBuf) -> Channel {
    Endpoint::from_static("http://containerd.invalid")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(socket).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
        .expect("connecting to containerd's CRI socket")
}

/// The frames of a streaming exec (the `v4.channel.k8s.io` websocket protocol of the CRI
/// streaming server): what arrived on stdout and stderr, and the final status.
#[derive(Debug, Default)]
pub struct ExecStream {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The status document sent on the error channel at the end (`"status": "Success"`, or a
    /// failure whose cause carries the exit code).
    pub status: String,
}

impl ExecStream {
    /// The exit code the status reports: 0 on success.
    pub fn exit_code(&self) -> Option<i32> {
        let status: serde_json::Value = serde_json::from_str(&self.status).ok()?;
        if status["status"] == "Success" {
            return Some(0);
        }
        status["details"]["causes"]
            .as_array()?
            .iter()
            .find(|c| c["reason"] == "ExitCode")
            .and_then(|c| c["message"].as_str())
            .and_then(|m| m.parse().ok())
    }
}

pub type Socket = tungstenite::WebSocket<std::net::TcpStream>;

/// Opens the streaming session at `url` (what `Exec` answered).
pub fn open_stream(url: &str) -> Socket {
    use tungstenite::client::IntoClientRequest;
    let address = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("a plain http streaming url: {url}"))
        .to_string();
    let mut request = url
        .replacen("http://", "ws://", 1)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "v4.channel.k8s.io".parse().unwrap(),
    );
    let stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    tungstenite::client(request, stream)
        .expect("websocket handshake")
        .0
}

/// Sends `data` on the stream's channel (0 stdin, 4 resize).
pub fn send(socket: &mut Socket, channel: u8, data: &[u8]) {
    let mut frame = vec![channel];
    frame.extend_from_slice(data);
    socket
        .send(tungstenite::Message::Binary(frame.into()))
        .unwrap();
}

/// Reads frames into `into` until `done` says so or the stream ends; false if it ended first.
pub fn read_until(
    socket: &mut Socket,
    into: &mut ExecStream,
    done: impl Fn(&ExecStream) -> bool,
) -> bool {
    while !done(into) {
        match socket.read() {
            Ok(tungstenite::Message::Binary(frame)) if !frame.is_empty() => {
                let data = &frame[1..];
                match frame[0] {
                    1 => into.stdout.extend_from_slice(data),
                    2 => into.stderr.extend_from_slice(data),
                    3 => into.status.push_str(&String::from_utf8_lossy(data)),
                    _ => {}
                }
            }
            Ok(tungstenite::Message::Close(_)) | Err(_) => return done(into),
            Ok(_) => {}
        }
    }
    true
}
