//! A private Kubernetes node without a kubelet: containerd 1.6 with its CRI plugin,
//! configured from docs/containerd-cri.toml (own root, state, socket, opt dir, CNI
//! config dir and registry hosts dir under a temp dir), a local registry holding the
//! busybox image and a pause-like sandbox image built from it, and sangja's shim and
//! binary in the opt dir's bin/ (on containerd's PATH). Pods run with host networking,
//! so no CNI network is ever set up. Dropped (or `stop`ped), it stops the daemon and
//! every shim it started by PID.

use super::config::{self, quoted};
use super::lifecycle::Made;
use crate::containerd::{Containerd, Layout};
use crate::image::build_busybox_layout;
use crate::leftovers::{self, Report};
use crate::registry::Registry;
use crate::runtimes::{Runtime, SHIM_NAME};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The containerd namespace of everything the CRI plugin makes.
pub const CRI_NAMESPACE: &str = "k8s.io";
/// The CRI plugin's directories under containerd's root and state.
const CRI_PLUGIN_DIR: &str = "io.containerd.grpc.v1.cri";
/// The PATH docker's and containerd's image builders give images.
const IMAGE_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// containerd's Go shim for io.containerd.runc.v2.
const GO_SHIM: &str = "containerd-shim-runc-v2";

/// A RuntimeClass handler of the documented config, and what runs under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handler {
    pub name: &'static str,
    /// Whose shim serves it: the state root its runtime keeps containers under is
    /// /run/containerd/<shim_root>/k8s.io.
    pub shim_root: &'static str,
    /// The shim binary containerd starts for it.
    pub shim_binary: &'static str,
    /// Whether the runtime behind the shim is sangja (else runc).
    pub sangja: bool,
}

/// The three handlers of docs/containerd-cri.toml, in the order the tests run them.
pub const HANDLERS: [Handler; 3] = [
    Handler {
        name: "sangja",
        shim_root: "sangja",
        shim_binary: SHIM_NAME,
        sangja: true,
    },
    Handler {
        name: "sangja-runc-shim",
        shim_root: "runc",
        shim_binary: GO_SHIM,
        sangja: true,
    },
    Handler {
        name: "runc",
        shim_root: "runc",
        shim_binary: GO_SHIM,
        sangja: false,
    },
];

pub struct Node {
    pub containerd: Containerd,
    pub registry: Registry,
    /// The busybox image in the registry, as PullImage takes it.
    pub busybox: String,
    /// The sandbox image (`sandbox_image`): busybox running `sleep` for ever.
    pub pause: String,
    /// Pods' cgroup parent (`/<this>`): every pod's cgroups sit below it.
    pub cgroup_parent: String,
    /// Pods' log directories go below this.
    pub logs: PathBuf,
    layout: Layout,
    dir: PathBuf,
}

impl Node {
    /// Builds the images, starts the registry and the daemon under `dir`.
    /// `sangja_shim` names the shim and the sangja it runs (Runtime::sangja_shim).
    pub fn start(dir: &Path, sangja_shim: &Runtime) -> Result<Node> {
        let registry = Registry::start(&dir.join("registry"))?;
        let layout_ref = build_busybox_layout(&dir.join("image"))?;
        // Images carry PATH, as real ones do: the CRI plugin adds none (runc then
        // finds no `sleep`), unlike ctr.
        let layout_path = layout_ref.rsplit_once(':').map_or(&*layout_ref, |(p, _)| p);
        let (cri_ref, pause_ref) = (format!("{layout_path}:cri"), format!("{layout_path}:pause"));
        let umoci_config = |from: &str, tag: &str, args: &[&str]| {
            crate::cmd::ok(
                std::process::Command::new("umoci")
                    .args(["config", "--image", from, "--tag", tag])
                    .args(args),
            )
            .with_context(|| format!("umoci config of the {tag} image"))
        };
        umoci_config(&layout_ref, "cri", &["--config.env", IMAGE_PATH])?;
        // The same rootfs with `sleep` for ever as the pod's sandbox process.
        umoci_config(
            &cri_ref,
            "pause",
            &["--config.entrypoint", "sleep", "--config.cmd", "2147483647"],
        )?;
        let busybox = registry.push(&cri_ref, "sangja/busybox:cri")?;
        let pause = registry.push(&pause_ref, "sangja/pause:cri")?;

        let cd = dir.join("containerd");
        let layout = Layout::under(&cd);
        let opt_bin = layout.opt.join("bin");
        fs::create_dir_all(&opt_bin)?;
        let shim = sangja_shim
            .shim
            .as_ref()
            .context("sangja's shim path is not set")?;
        // The shim runs the sangja beside the path containerd starts it by.
        for (target, name) in [(shim.as_path(), SHIM_NAME), (&sangja_shim.path, "sangja")] {
            std::os::unix::fs::symlink(target, opt_bin.join(name))
                .with_context(|| format!("link {} into {}", target.display(), opt_bin.display()))?;
        }
        // No network config: host-network pods never call CNI.
        let cni = cd.join("cni-net.d");
        fs::create_dir_all(&cni)?;
        let hosts = cd.join("certs.d");
        let host_dir = hosts.join(&registry.host);
        fs::create_dir_all(&host_dir)?;
        fs::write(
            host_dir.join("hosts.toml"),
            format!(
                "server = \"http://{h}\"\n[host.\"http://{h}\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
                h = registry.host
            ),
        )?;
        let values: BTreeMap<&str, String> = [
            ("root", quoted(&layout.root.display().to_string())),
            ("state", quoted(&layout.state.display().to_string())),
            ("address", quoted(&layout.socket.display().to_string())),
            ("path", quoted(&layout.opt.display().to_string())),
            ("sandbox_image", quoted(&pause)),
            // root here lacks CAP_SYS_RESOURCE: the sandbox's -998 would be refused.
            ("restrict_oom_score_adj", "true".to_string()),
            (
                "BinaryName",
                quoted(&sangja_shim.path.display().to_string()),
            ),
            ("conf_dir", quoted(&cni.display().to_string())),
            ("config_path", quoted(&hosts.display().to_string())),
        ]
        .into_iter()
        .collect();
        let doc = config::doc_path();
        let text = fs::read_to_string(&doc).with_context(|| format!("read {}", doc.display()))?;
        let text = config::rewrite(&doc.display().to_string(), &text, &values)?;
        let containerd = Containerd::start_with(&cd, CRI_NAMESPACE, &text)?;
        let logs = dir.join("pod-logs");
        fs::create_dir_all(&logs)?;
        Ok(Node {
            containerd,
            registry,
            busybox,
            pause,
            cgroup_parent: format!("sangja-cri-{}", std::process::id()),
            logs,
            layout,
            dir: dir.to_path_buf(),
        })
    }

    /// The runtime binary the shim runs for this container: sangja's shim saves it
    /// in the bundle's sangja-runtime.json, the Go shim its options in options.json
    /// (BinaryName; none for plain runc).
    pub fn runtime_binary_of(&self, id: &str) -> String {
        let bundle = self
            .layout
            .state
            .join("io.containerd.runtime.v2.task")
            .join(CRI_NAMESPACE)
            .join(id);
        ["sangja-runtime.json", "options.json"]
            .iter()
            .filter_map(|f| fs::read_to_string(bundle.join(f)).ok())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn socket(&self) -> &Path {
        &self.layout.socket
    }

    /// The CRI plugin's per-sandbox and per-container directories (under root and
    /// state) and the shims' bundles: all empty once every pod is removed.
    fn record_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        for base in [&self.layout.root, &self.layout.state] {
            for kind in ["sandboxes", "containers"] {
                dirs.push(base.join(CRI_PLUGIN_DIR).join(kind));
            }
        }
        dirs.push(
            self.layout
                .state
                .join("io.containerd.runtime.v2.task")
                .join(CRI_NAMESPACE),
        );
        dirs
    }

    /// Everything pods of `handler` with these sandbox and container ids may leave on
    /// the host: shims (waited for: they exit after the last delete), their sockets,
    /// mounts under our dirs, cgroups below our parent, runtime state, the CRI
    /// plugin's and the shims' directories.
    pub fn leftovers(&self, handler: &Handler, made: &Made) -> Result<()> {
        let (ids, sandboxes) = (&made.containers, &made.sandboxes);
        let mut report = Report::default();
        let gone = crate::cmd::wait_for_within(
            "the pod's shims to exit",
            crate::cmd::CLEANUP_GUARD,
            || Ok(self.containerd.shims().is_empty().then_some(())),
        );
        if gone.is_err() {
            report.processes("shim", self.containerd.shims());
        }
        let sockets = sandboxes
            .iter()
            .chain(ids)
            .map(|id| crate::containerd::shim_socket(self.socket(), CRI_NAMESPACE, id))
            .filter(|s| s.exists())
            .collect();
        report.paths("shim socket", sockets);
        report.mounts(leftovers::mounts_with(&self.dir.display().to_string()));
        // Below each pod's cgroup parent nothing may stay; the parents themselves are
        // the kubelet's (runc makes them on the way and leaves them): removed here.
        for parent in &made.cgroup_parents {
            report.paths("cgroup", leftovers::cgroup_children(parent));
            leftovers::remove_empty_cgroup(parent);
        }
        report.paths("cgroup", leftovers::cgroup_children(&self.cgroup_parent));
        let state_root = Path::new("/run/containerd")
            .join(handler.shim_root)
            .join(CRI_NAMESPACE);
        let states = ids
            .iter()
            .chain(sandboxes)
            .map(|id| state_root.join(id))
            .filter(|p| p.exists())
            .collect();
        report.paths("runtime state directory", states);
        for d in self.record_dirs() {
            report.paths("CRI or shim directory", leftovers::entries(&d));
        }
        report.into_result()
    }

    /// Stops the daemon and every shim it started (by PID), detaches what it left
    /// mounted, removes our cgroup parent when empty.
    pub fn stop(&mut self) -> Result<()> {
        let r = self.containerd.stop();
        leftovers::remove_empty_cgroup(&self.cgroup_parent);
        r
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
