//! `run` networking through the CNI plugins, end to end with the sangja runtime (env
//! SANGJA_BIN, default the workspace's target/release/sangja): published ports reached
//! from the host on 127.0.0.1, names on a user-defined network, -P, `container:`
//! networks, bad input, and a monitor killed with SIGKILL. Traffic goes only to
//! 127.0.0.1 and between containers on networks the test made. After every test the
//! host is compared with before: veths, test bridges, iptables rules (iptables-save
//! without counters), host-local leases and network namespaces. The trials run one at a
//! time: each compares the host's whole rule set.

mod common;

use common::*;
use libtest_mimic::Failed;
use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn sangja_bin() -> PathBuf {
    std::env::var_os("SANGJA_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/sangja"))
}

const CNI: &str = "/usr/lib/cni";
/// Subnets of this suite (net-22's own range).
const SUBNET_NAMES: &str = "10.222.22.0/24";
const SUBNET_KILL: &str = "10.222.23.0/24";
const SUBNET_BAD: &str = "10.222.24.0/24";
const SUBNET_ROUTED: &str = "10.222.25.0/24";

/// A route to a test subnet through `lo` (no traffic is sent), deleted on drop.
struct LoRoute(String);

impl LoRoute {
    fn add(subnet: &str) -> Result<LoRoute, Failed> {
        sh(Command::new("ip").args(["route", "add", subnet, "dev", "lo"]))?;
        Ok(LoRoute(subnet.to_string()))
    }
}

impl Drop for LoRoute {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["route", "del", &self.0, "dev", "lo"])
            .stdin(Stdio::null())
            .output();
    }
}

fn main() {
    let sangja = sangja_bin();
    let mut missing = Vec::new();
    if !sangja.is_file() {
        missing.push(format!(
            "runtime binary {} not found (build the workspace or set SANGJA_BIN)",
            sangja.display()
        ));
    }
    for p in ["bridge", "host-local", "portmap", "firewall", "loopback"] {
        if !Path::new(CNI).join(p).is_file() {
            missing.push(format!(
                "{CNI}/{p} (containernetworking-plugins) not installed"
            ));
        }
    }
    if !Path::new("/usr/share/containers/seccomp.json").is_file() {
        missing.push(
            "/usr/share/containers/seccomp.json (golang-github-containers-common) missing".into(),
        );
    }
    if !fs::read_to_string("/proc/filesystems")
        .unwrap_or_default()
        .contains("overlay")
    {
        missing.push("overlayfs not available".into());
    }
    let needs = ["iptables-save", "ip"];
    let mut trials = Vec::new();
    let mut add = |name: &str, f: fn() -> TestResult| {
        let mut t = trial(name, &needs, f);
        if !missing.is_empty() {
            eprintln!("SKIPPED {name}: {}", missing.join(", "));
            t = t.with_ignored_flag(true);
        }
        trials.push(t);
    };
    add("publish_on_localhost_stop_start", publish_localhost);
    add("names_on_a_user_network", names_on_network);
    add("publish_all_exposed", publish_all);
    add("container_network_shares_namespace", container_network);
    add("create_holds_nothing_start_attaches", create_then_start);
    add("bad_input_leaves_nothing", bad_input);
    add("monitor_killed_then_rm_cleans", monitor_killed);
    add("stale_attachment_checked_and_renewed", stale_attachment);
    let mut t = trial(
        "crash_after_attach_then_rm_cleans",
        &needs,
        crash_after_attach,
    );
    let crash_bin = std::env::var_os("SANGJA_IMAGE_CRASH_BIN").filter(|b| Path::new(b).is_file());
    if !missing.is_empty() || crash_bin.is_none() {
        let mut why = missing.clone();
        if crash_bin.is_none() {
            why.push(
                "SANGJA_IMAGE_CRASH_BIN (the crash-points build, scripts/test.sh) not set".into(),
            );
        }
        eprintln!(
            "SKIPPED crash_after_attach_then_rm_cleans: {}",
            why.join(", ")
        );
        t = t.with_ignored_flag(true);
    }
    trials.push(t);
    let mut args = libtest_mimic::Arguments::from_args();
    args.test_threads = Some(1);
    libtest_mimic::run(&args, trials).exit()
}

/// What the iptables-save of the plugins' shared chains adds the first time any
/// container is attached, and keeps (podman's CNI setup keeps them too): chain
/// declarations and container-independent jumps. Nothing naming a container, address
/// or port may stay.
const SHARED_RULES: [&str; 16] = [
    "*filter",
    "*nat",
    "COMMIT",
    ":INPUT ACCEPT",
    ":FORWARD ACCEPT",
    ":OUTPUT ACCEPT",
    ":PREROUTING ACCEPT",
    ":POSTROUTING ACCEPT",
    ":CNI-ADMIN -",
    ":CNI-FORWARD -",
    ":CNI-HOSTPORT-DNAT -",
    ":CNI-HOSTPORT-MASQ -",
    ":CNI-HOSTPORT-SETMARK -",
    "-A FORWARD -m comment --comment \"CNI firewall plugin rules\" -j CNI-FORWARD",
    "-A CNI-FORWARD -m comment --comment \"CNI firewall plugin admin overrides\" -j CNI-ADMIN",
    "-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE",
];
const SHARED_RULES_2: [&str; 4] = [
    "-A CNI-HOSTPORT-SETMARK -m comment --comment \"CNI portfwd masquerade mark\" -j MARK --set-xmark 0x2000/0x2000",
    "-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
    "-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
    "-A POSTROUTING -m comment --comment \"CNI portfwd requiring masquerade\" -j CNI-HOSTPORT-MASQ",
];

fn iptables() -> Result<BTreeSet<String>, Failed> {
    let text = sh(&mut Command::new("iptables-save"))?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            // ":CHAIN POLICY [packets:bytes]" without its counters.
            match l.find(" [") {
                Some(i) if l.starts_with(':') => l[..i].to_string(),
                _ => l.to_string(),
            }
        })
        .collect())
}

/// The host's network state a test must leave as it found it.
#[derive(Debug, PartialEq, Eq)]
struct HostNet {
    links: BTreeSet<String>,
    rules: BTreeSet<String>,
    leases: BTreeSet<String>,
}

fn links() -> BTreeSet<String> {
    fs::read_dir("/sys/class/net")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// host-local's leases: files named by address under /var/lib/cni/networks/*/.
fn leases() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for net in fs::read_dir("/var/lib/cni/networks")
        .into_iter()
        .flatten()
        .flatten()
    {
        for f in fs::read_dir(net.path()).into_iter().flatten().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.parse::<std::net::IpAddr>().is_ok() {
                out.insert(format!("{}/{name}", net.file_name().to_string_lossy()));
            }
        }
    }
    out
}

impl HostNet {
    fn now() -> Result<HostNet, Failed> {
        Ok(HostNet {
            links: links(),
            rules: iptables()?,
            leases: leases(),
        })
    }

    /// What is new since `before`, apart from the default bridge and the plugins'
    /// shared chains.
    fn leftovers(&self, before: &HostNet) -> Vec<String> {
        let mut out = Vec::new();
        for l in self.links.difference(&before.links) {
            if l != "sangja0" {
                out.push(format!("link {l}"));
            }
        }
        for r in self.rules.difference(&before.rules) {
            if !SHARED_RULES.contains(&r.as_str()) && !SHARED_RULES_2.contains(&r.as_str()) {
                out.push(format!("iptables {r}"));
            }
        }
        for l in self.leases.difference(&before.leases) {
            out.push(format!("lease {l}"));
        }
        out
    }
}

struct Fx {
    env: Env,
    before: HostNet,
    marker: String,
}

impl Fx {
    /// A store with `web:1` (busybox httpd serving a marker page on port 80, EXPOSE 80
    /// and 8080: a second httpd on 8080).
    fn new() -> Result<Fx, Failed> {
        let before = HostNet::now()?;
        let env = Env::new();
        let marker = format!("net-22 page {}", std::process::id());
        let rootfs = env.path("rootfs-web");
        busybox_rootfs(&rootfs)?;
        fs::create_dir_all(rootfs.join("www"))?;
        fs::write(rootfs.join("www/index.html"), format!("{marker}\n"))?;
        let fx = Fx {
            env,
            before,
            marker,
        };
        fx.ok(&[
            "import",
            "--change",
            "EXPOSE 80",
            "--change",
            "EXPOSE 8080",
            "--change",
            r#"CMD ["sh", "-c", "httpd -p 8080 -h /www; exec httpd -f -p 80 -h /www"]"#,
            &rootfs.display().to_string(),
            "web:1",
        ])?;
        Ok(fx)
    }

    fn out(&self, args: &[&str]) -> Output {
        Command::new(bin())
            .arg("--store")
            .arg(&self.env.store)
            .args(args)
            .env("SANGJA_IMAGE_RUNTIME", sangja_bin())
            .stdin(Stdio::null())
            .output()
            .expect("run sangja-image")
    }

    fn ok(&self, args: &[&str]) -> Result<String, Failed> {
        let o = self.out(args);
        if !o.status.success() {
            return Err(format!(
                "sangja-image {args:?} failed ({}): {}{}",
                o.status,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
            .into());
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// Fails with `code`; returns stderr.
    fn fails(&self, args: &[&str], code: i32) -> Result<String, Failed> {
        let o = self.out(args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        check(
            o.status.code() == Some(code),
            format!(
                "sangja-image {args:?}: want exit {code}, got {} ({err})",
                o.status
            ),
        )?;
        Ok(err)
    }

    fn netns_left(&self) -> Vec<String> {
        let mut out: Vec<String> = fs::read_dir(self.env.store.join("netns"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let root = self.env.dir.path().display().to_string();
        for l in fs::read_to_string("/proc/self/mounts")
            .unwrap_or_default()
            .lines()
        {
            if let Some(m) = l.split(' ').nth(1).filter(|m| m.starts_with(&root)) {
                out.push(format!("mount {m}"));
            }
        }
        out
    }

    /// No container, netns, veth, test bridge, rule or lease left.
    fn nothing_left(&self) -> TestResult {
        let ps = self.ok(&["ps", "-aq"])?;
        check(ps.trim().is_empty(), format!("containers left: {ps}"))?;
        let ns = self.netns_left();
        check(ns.is_empty(), format!("netns left: {ns:?}"))?;
        let left = HostNet::now()?.leftovers(&self.before);
        check(left.is_empty(), format!("left on the host: {left:#?}"))
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        let ids = self.out(&["ps", "-aq", "--no-trunc"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.out(&["rm", "-f", id]);
        }
        let _ = self.out(&["network", "prune", "-f"]);
    }
}

/// A free port on 127.0.0.1 (the kernel's pick).
fn free_port() -> Result<u16, Failed> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// GET / from 127.0.0.1:port, retried until the server answers (it may still be
/// starting); the body.
fn fetch(port: u16) -> Result<String, Failed> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    while Instant::now() < deadline {
        match TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
            let mut body = String::new();
            s.read_to_string(&mut body)?;
            Ok(body)
        }) {
            Ok(b) if b.contains("200") => return Ok(b),
            Ok(b) => last = b,
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("127.0.0.1:{port} did not answer: {last}").into())
}

/// The record's attachment through inspect: the container's address.
fn ip_of(fx: &Fx, name: &str) -> Result<String, Failed> {
    let v: serde_json::Value = serde_json::from_str(&fx.ok(&["inspect", name])?)?;
    Ok(v[0]["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// -p 127.0.0.1:PORT:80 on the default network answers from the host; the rules name
/// the container's address; stop releases everything, start attaches again.
fn publish_localhost() -> TestResult {
    let fx = Fx::new()?;
    let port = free_port()?;
    let spec = format!("127.0.0.1:{port}:80");
    fx.ok(&["run", "-d", "--name", "web", "-p", &spec, "web:1"])?;
    contains(&fetch(port)?, &fx.marker)?;
    let ip = ip_of(&fx, "web")?;
    check(!ip.is_empty(), "no IPAddress in inspect")?;
    let rules = iptables()?;
    check(
        rules.iter().any(|r| {
            r.contains(&format!("--dport {port}"))
                && r.contains(&format!("--to-destination {ip}:80"))
        }),
        format!("no DNAT for {port} -> {ip}:80 in {rules:#?}"),
    )?;
    contains(&fx.ok(&["ps"])?, &format!("127.0.0.1:{port}->80/tcp"))?;
    check(
        fx.ok(&["inspect", "-f", "{{.HostConfig.NetworkMode}}", "web"])? == "bridge\n",
        "inspect NetworkMode",
    )?;
    contains(
        &fx.ok(&["port", "web"])?,
        &format!("80/tcp -> 127.0.0.1:{port}"),
    )?;
    contains(
        &fx.ok(&["container", "port", "web", "80"])?,
        &format!("127.0.0.1:{port}"),
    )?;
    check(
        leases().iter().any(|l| l.ends_with(&format!("/{ip}"))),
        format!("no host-local lease for {ip}"),
    )?;
    // A stopped container holds no address, veth or rule.
    fx.ok(&["stop", "-t", "1", "web"])?;
    let left = HostNet::now()?.leftovers(&fx.before);
    check(left.is_empty(), format!("left after stop: {left:#?}"))?;
    check(fx.netns_left().is_empty(), "netns left after stop")?;
    fx.ok(&["start", "web"])?;
    contains(&fetch(port)?, &fx.marker)?;
    fx.ok(&["rm", "-f", "web"])?;
    fx.nothing_left()
}

/// Two containers on a user-defined network reach each other by name; the network
/// cannot go while one uses it; then its bridge and lease directory go with it.
fn names_on_network() -> TestResult {
    let fx = Fx::new()?;
    let net = "net22-names";
    fx.ok(&["network", "create", "--subnet", SUBNET_NAMES, net])?;
    let inspect: serde_json::Value = serde_json::from_str(&fx.ok(&["network", "inspect", net])?)?;
    check(
        inspect[0]["IPAM"]["Config"][0]["Subnet"] == SUBNET_NAMES,
        format!("network inspect: {inspect}"),
    )?;
    let bridge = inspect[0]["Options"]["com.docker.network.bridge.name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    contains(&fx.ok(&["network", "ls"])?, net)?;
    fx.ok(&["run", "-d", "--name", "web", "--network", net, "web:1"])?;
    let page = fx.ok(&[
        "run",
        "--rm",
        "--network",
        net,
        "--add-host",
        "extra.test:10.222.22.200",
        "--dns",
        "10.222.22.1",
        "web:1",
        "sh",
        "-c",
        "wget -qO- http://web/ && grep -q 'extra.test' /etc/hosts && cat /etc/resolv.conf",
    ])?;
    contains(&page, &fx.marker)?;
    contains(&page, "nameserver 10.222.22.1")?;
    // The other way round: web sees a peer started after it.
    fx.ok(&["run", "-d", "--name", "peer", "--network", net, "web:1"])?;
    let hosts = fx.ok(&["exec", "web", "cat", "/etc/hosts"])?;
    contains(&hosts, "peer")?;
    contains(
        &fx.ok(&["exec", "web", "wget", "-qO-", "http://peer/"])?,
        &fx.marker,
    )?;
    let e = fx.fails(&["network", "rm", net], 1)?;
    contains(&e, "in use")?;
    fx.ok(&["rm", "-f", "peer"])?;
    let hosts = fx.ok(&["exec", "web", "cat", "/etc/hosts"])?;
    check(
        !hosts.contains("peer"),
        format!("a removed peer stays in /etc/hosts: {hosts}"),
    )?;
    fx.ok(&["rm", "-f", "web"])?;
    fx.ok(&["network", "rm", net])?;
    check(!links().contains(&bridge), format!("bridge {bridge} left"))?;
    check(
        !Path::new("/var/lib/cni/networks").join(net).exists(),
        "the lease directory of a removed network stayed",
    )?;
    fx.nothing_left()
}

/// -P: both EXPOSEd ports mapped to free host ports, each answering on 127.0.0.1.
fn publish_all() -> TestResult {
    let fx = Fx::new()?;
    fx.ok(&["run", "-d", "--name", "all", "-P", "web:1"])?;
    let ports = fx.ok(&["port", "all"])?;
    let mut seen = Vec::new();
    for l in ports.lines() {
        let (private, public) = l.split_once(" -> ").ok_or(format!("port line {l:?}"))?;
        let host_port: u16 = public.rsplit(':').next().unwrap_or_default().parse()?;
        contains(&fetch(host_port)?, &fx.marker)?;
        seen.push(private.to_string());
    }
    seen.sort();
    check(
        seen == ["80/tcp", "8080/tcp"],
        format!("-P mapped {seen:?}"),
    )?;
    fx.ok(&["rm", "-f", "all"])?;
    fx.nothing_left()
}

/// --network container:web shares web's namespace (its loopback serves web's page)
/// and its hostname.
fn container_network() -> TestResult {
    let fx = Fx::new()?;
    fx.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--hostname",
        "webhost",
        "web:1",
    ])?;
    let out = fx.ok(&[
        "run",
        "--rm",
        "--network",
        "container:web",
        "web:1",
        "sh",
        "-c",
        "wget -qO- http://127.0.0.1/ && cat /etc/hostname",
    ])?;
    contains(&out, &fx.marker)?;
    contains(&out, "webhost")?;
    let e = fx.fails(
        &[
            "run",
            "--rm",
            "--network",
            "container:nosuch",
            "web:1",
            "true",
        ],
        125,
    )?;
    contains(&e, "nosuch")?;
    fx.ok(&["rm", "-f", "web"])?;
    fx.nothing_left()
}

/// Exit 125 with a clear message, and nothing behind: a host port in use, an unknown
/// network, malformed -p, -p without a bridge network; `network create` of a subnet the
/// host routes or another network has.
fn bad_input() -> TestResult {
    let fx = Fx::new()?;
    let busy = TcpListener::bind("127.0.0.1:0")?;
    let port = busy.local_addr()?.port();
    let e = fx.fails(
        &["run", "-d", "-p", &format!("127.0.0.1:{port}:80"), "web:1"],
        125,
    )?;
    contains(&e, &format!("host port {port} is already in use"))?;
    fx.nothing_left()?;
    let e = fx.fails(&["run", "--network", "net22-nope", "web:1", "true"], 125)?;
    contains(&e, "network net22-nope not found")?;
    for bad in ["80:x", "1:2:3:4", "80/sctp", "0", "nothost:80:80"] {
        let e = fx.fails(&["run", "-p", bad, "web:1", "true"], 125)?;
        contains(&e, "-p/--publish")?;
    }
    let e = fx.fails(
        &["run", "--network", "none", "-p", "80", "web:1", "true"],
        125,
    )?;
    contains(&e, "only on a bridge network")?;
    // Two containers cannot take one host port.
    let free = free_port()?;
    let spec = format!("127.0.0.1:{free}:80");
    fx.ok(&["run", "-d", "--name", "first", "-p", &spec, "web:1"])?;
    let e = fx.fails(&["run", "-d", "-p", &spec, "web:1"], 125)?;
    contains(&e, "already in use")?;
    fx.ok(&["rm", "-f", "first"])?;
    // A subnet the host routes (read from /proc/net/route), then one another network has.
    let route = fs::read_to_string("/proc/net/route")?
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?.swap_bytes();
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?.swap_bytes();
            (mask != 0 && mask.count_ones() >= 8 && mask.count_ones() <= 30)
                .then(|| format!("{}/{}", std::net::Ipv4Addr::from(dest), mask.count_ones()))
        })
        .next();
    if let Some(r) = route {
        let e = fx.fails(&["network", "create", "--subnet", &r, "net22-overlap"], 1)?;
        contains(&e, "overlaps the host's route")?;
    }
    fx.ok(&["network", "create", "--subnet", SUBNET_BAD, "net22-bad"])?;
    let e = fx.fails(
        &[
            "network",
            "create",
            "--subnet",
            "10.222.24.128/25",
            "net22-bad2",
        ],
        1,
    )?;
    contains(&e, "overlaps network net22-bad")?;
    let e = fx.fails(
        &[
            "network",
            "create",
            "--subnet",
            "10.222.99.0/33",
            "net22-bad3",
        ],
        1,
    )?;
    contains(&e, "--subnet")?;
    // A route the host gained after the network was made: attaching is refused.
    fx.ok(&[
        "network",
        "create",
        "--subnet",
        SUBNET_ROUTED,
        "net22-routed",
    ])?;
    {
        let _route = LoRoute::add(SUBNET_ROUTED)?;
        let e = fx.fails(
            &["run", "--rm", "--network", "net22-routed", "web:1", "true"],
            125,
        )?;
        contains(
            &e,
            &format!("overlaps the host's route to {SUBNET_ROUTED} on lo"),
        )?;
    }
    let e = fx.fails(&["network", "rm", "bridge"], 1)?;
    contains(&e, "pre-defined")?;
    let pruned = fx.ok(&["network", "prune", "-f"])?;
    contains(&pruned, "net22-bad")?;
    contains(&pruned, "net22-routed")?;
    drop(busy);
    fx.nothing_left()
}

/// The pid of the monitor of container `id`.
fn monitor_pid(id: &str) -> Option<i32> {
    fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_string_lossy().parse().ok()?;
        let cmd = fs::read(e.path().join("cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        (cmd.contains("container-monitor") && cmd.contains(id)).then_some(pid)
    })
}

/// kill -9 of the monitor of container `id`, waited for.
fn kill_monitor(id: &str) -> TestResult {
    let pid = monitor_pid(id).ok_or("no monitor process found")?;
    sh(Command::new("kill").args(["-9", &pid.to_string()]))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while monitor_pid(id).is_some() {
        check(
            Instant::now() < deadline,
            "the killed monitor is still there",
        )?;
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// kill -9 of the monitor of a published container on a user network: `rm -f` still
/// releases the lease, the veth, the rules and the netns.
fn monitor_killed() -> TestResult {
    let fx = Fx::new()?;
    let net = "net22-kill";
    fx.ok(&["network", "create", "--subnet", SUBNET_KILL, net])?;
    let port = free_port()?;
    let id = fx.ok(&[
        "run",
        "-d",
        "--name",
        "victim",
        "--network",
        net,
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "web:1",
    ])?;
    let id = id.trim();
    contains(&fetch(port)?, &fx.marker)?;
    kill_monitor(id)?;
    fx.ok(&["rm", "-f", "victim"])?;
    fx.ok(&["network", "rm", net])?;
    fx.nothing_left()
}

/// `create` holds no address, namespace or rule (docker attaches at start); `start`
/// attaches and publishes; a start whose host port is taken meanwhile fails clearly and
/// attaches nothing.
fn create_then_start() -> TestResult {
    let fx = Fx::new()?;
    let port = free_port()?;
    let spec = format!("127.0.0.1:{port}:80");
    fx.ok(&["create", "--name", "later", "-p", &spec, "web:1"])?;
    check(fx.netns_left().is_empty(), "create made a netns")?;
    let left = HostNet::now()?.leftovers(&fx.before);
    check(left.is_empty(), format!("create attached: {left:#?}"))?;
    fx.ok(&["start", "later"])?;
    contains(&fetch(port)?, &fx.marker)?;
    fx.ok(&["stop", "-t", "1", "later"])?;
    let busy = TcpListener::bind(("127.0.0.1", port))?;
    let e = fx.fails(&["start", "later"], 1)?;
    contains(&e, "already in use")?;
    check(fx.netns_left().is_empty(), "a failed start left a netns")?;
    drop(busy);
    fx.ok(&["rm", "later"])?;
    fx.nothing_left()
}

/// sangja-image killed with SIGKILL right after the attach (the crash-points build at
/// `container-network-attached`): the record names the attachment, and `rm -f`
/// releases the lease, veth, port rules and netns.
fn crash_after_attach() -> TestResult {
    let fx = Fx::new()?;
    let crash_bin = std::env::var_os("SANGJA_IMAGE_CRASH_BIN").ok_or("SANGJA_IMAGE_CRASH_BIN")?;
    let port = free_port()?;
    let out = Command::new(crash_bin)
        .arg("--store")
        .arg(&fx.env.store)
        .args([
            "run",
            "-d",
            "--name",
            "crashed",
            "-p",
            &format!("127.0.0.1:{port}:80"),
            "web:1",
        ])
        .env("SANGJA_IMAGE_RUNTIME", sangja_bin())
        .env("SANGJA_IMAGE_CRASH_AT", "container-network-attached")
        .stdin(Stdio::null())
        .output()?;
    use std::os::unix::process::ExitStatusExt;
    check(
        out.status.signal() == Some(9),
        format!(
            "want death by SIGKILL, got {} ({})",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    )?;
    check(
        !fx.netns_left().is_empty() && !HostNet::now()?.leftovers(&fx.before).is_empty(),
        "the crash left no attachment to clean: the crash point is not after the attach",
    )?;
    fx.ok(&["rm", "-f", "crashed"])?;
    fx.nothing_left()
}

/// The monitor and the container killed (nobody detached), then one rule of the
/// attachment deleted by hand: `start` finds CNI CHECK failing, DELs what is left and
/// attaches anew; `rm` leaves nothing.
fn stale_attachment() -> TestResult {
    let fx = Fx::new()?;
    let port = free_port()?;
    let id = fx.ok(&[
        "run",
        "-d",
        "--name",
        "stale",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "web:1",
    ])?;
    let id = id.trim().to_string();
    contains(&fetch(port)?, &fx.marker)?;
    kill_monitor(&id)?;
    fx.ok(&["kill", "stale"])?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while fx
        .ok(&["inspect", "-f", "{{.State.Status}}", "stale"])?
        .trim()
        == "running"
    {
        check(Instant::now() < deadline, "the killed container still runs")?;
        std::thread::sleep(Duration::from_millis(100));
    }
    // A rule of the attachment gone (the firewall plugin's): CHECK fails.
    let ip = ip_of(&fx, "stale")?;
    sh(Command::new("iptables").args([
        "-D",
        "CNI-FORWARD",
        "-s",
        &format!("{ip}/32"),
        "-j",
        "ACCEPT",
    ]))?;
    let o = fx.out(&["start", "stale"]);
    let err = String::from_utf8_lossy(&o.stderr);
    check(o.status.success(), format!("start: {err}"))?;
    contains(&err, "fails CNI CHECK: attaching again")?;
    check(
        iptables()?
            .iter()
            .any(|r| r.starts_with("-A CNI-FORWARD -s") && r.ends_with("-j ACCEPT")),
        "the renewed attachment has no firewall rule",
    )?;
    contains(&fetch(port)?, &fx.marker)?;
    fx.ok(&["rm", "-f", "stale"])?;
    fx.nothing_left()
}
