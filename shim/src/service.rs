//! The Task service (task API v2) over the sangja binary.

use crate::runtime::{CallIo, Runtime, RuntimeError};
use crate::state::{Container, Exit, Proc, State, UNCLAIMED_MAX};
use crate::stdio::{self, ConsoleSocket, Paths};
use crate::{events, metrics, mounts, oom};
use async_trait::async_trait;
use containerd_shim::api;
use containerd_shim::monitor::{monitor_subscribe, Subject, Topic};
use containerd_shim::protos::api::Status;
use containerd_shim::protos::events::task as ev;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::{Message, MessageField};
use containerd_shim::protos::shim::oci::Options;
use containerd_shim::protos::topics;
use containerd_shim::protos::ttrpc::{self, Code};
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{ExitSignal, Task, TtrpcContext, TtrpcResult};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub struct Service {
    namespace: String,
    publisher: Arc<RemotePublisher>,
    state: Arc<Mutex<State>>,
    exit: Arc<ExitSignal>,
}

fn status(code: Code, msg: impl Into<String>) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, msg.into()))
}

fn not_found(what: &str) -> ttrpc::Error {
    status(Code::NOT_FOUND, format!("{what}: not found"))
}

/// A failed runtime call as the Go shim words it ("OCI runtime create failed: ...").
fn runtime_failed(verb: &str, e: RuntimeError) -> ttrpc::Error {
    status(Code::UNKNOWN, format!("OCI runtime {verb} failed: {e}"))
}

fn now() -> Timestamp {
    containerd_shim::util::timestamp().unwrap_or_default()
}

fn args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

/// The runc-style options containerd passes (BinaryName, Root), if it passed any.
fn runc_options(any: &MessageField<Any>) -> Options {
    any.as_ref()
        .filter(|a| a.type_url.ends_with("containerd.runc.v1.Options"))
        .and_then(|a| Options::parse_from_bytes(&a.value).ok())
        .unwrap_or_default()
}

fn read_pid(path: &Path) -> Result<u32, ttrpc::Error> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| status(Code::INTERNAL, format!("read pid file {}", path.display())))
}

impl Service {
    /// Starts the exit watcher (before any runtime call, so no exit is missed).
    pub async fn new(
        namespace: &str,
        publisher: RemotePublisher,
        exit: Arc<ExitSignal>,
    ) -> Service {
        let svc = Service {
            namespace: namespace.to_string(),
            publisher: Arc::new(publisher),
            state: Arc::new(Mutex::new(State::default())),
            exit,
        };
        match monitor_subscribe(Topic::Pid).await {
            Ok(mut sub) => {
                let (state, publisher, ns) = (
                    svc.state.clone(),
                    svc.publisher.clone(),
                    svc.namespace.clone(),
                );
                tokio::spawn(async move {
                    while let Some(e) = sub.rx.recv().await {
                        if let Subject::Pid(pid) = e.subject {
                            if crate::runtime::take_call(pid) {
                                continue;
                            }
                            let exit = Exit {
                                status: e.exit_code as u32,
                                at: now(),
                            };
                            on_exit(&state, &publisher, &ns, pid as u32, exit).await;
                        }
                    }
                });
            }
            Err(e) => tracing::error!("subscribe to process exits: {e}"),
        }
        svc
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn publish<M: Message>(&self, topic: &str, event: M) {
        events::publish(&self.publisher, &self.namespace, topic, event).await;
    }

    /// The runtime, log and bundle of a container.
    fn container_ctx(&self, id: &str) -> TtrpcResult<(Runtime, PathBuf, PathBuf)> {
        let st = self.lock();
        let c = st
            .containers
            .get(id)
            .ok_or_else(|| not_found(&format!("container {id}")))?;
        Ok((c.runtime.clone(), c.log(), c.bundle.clone()))
    }

    /// `pause` or `resume`: the runtime call, the init's new status (unless it has
    /// exited meanwhile), then the event.
    async fn freezer_call<M: Message>(
        &self,
        id: &str,
        verb: &'static str,
        status: Status,
        topic: &str,
        event: M,
    ) -> TtrpcResult<api::Empty> {
        let (rt, log, _) = self.container_ctx(id)?;
        rt.call(&log, &args(&[verb, id]), CallIo::default())
            .await
            .map_err(|e| runtime_failed(verb, e))?;
        if let Some(c) = self.lock().containers.get_mut(id) {
            if c.init.exit.is_none() {
                c.init.status = status;
            }
        }
        self.publish(topic, event).await;
        Ok(api::Empty::new())
    }

    /// Marks a pid the shim just learnt; an exit that already came is applied now.
    async fn register(&self, id: &str, exec_id: &str, pid: u32) {
        let early = {
            let mut st = self.lock();
            if let Some(p) = st
                .containers
                .get_mut(id)
                .and_then(|c| c.process_mut(exec_id))
            {
                p.pid = pid;
            }
            st.unclaimed.remove(&pid)
        };
        if let Some(exit) = early {
            on_exit(&self.state, &self.publisher, &self.namespace, pid, exit).await;
        }
    }

    async fn start_init(&self, id: &str) -> TtrpcResult<u32> {
        let (rt, log, bundle) = self.container_ctx(id)?;
        let restore = self
            .lock()
            .containers
            .get(id)
            .and_then(|c| c.restore.clone());
        if let Some(r) = restore {
            self.restore_init(id, &rt, &log, &bundle, &r).await?;
        } else {
            rt.call(&log, &args(&["start", id]), CallIo::default())
                .await
                .map_err(|e| runtime_failed("start", e))?;
        }
        let pid = {
            let mut st = self.lock();
            let c = st
                .containers
                .get_mut(id)
                .ok_or_else(|| not_found(&format!("container {id}")))?;
            if c.init.exit.is_none() {
                c.init.status = Status::RUNNING;
            }
            c.init.pid
        };
        oom::watch(
            pid,
            id.to_string(),
            self.publisher.clone(),
            self.namespace.clone(),
        );
        self.publish(
            topics::TASK_START_EVENT_TOPIC,
            ev::TaskStart {
                container_id: id.to_string(),
                pid,
                ..Default::default()
            },
        )
        .await;
        Ok(pid)
    }

    /// `restore --detach` for a task created from a checkpoint, with the stdio the
    /// task was created with (a terminal through a console socket, as for create).
    async fn restore_init(
        &self,
        id: &str,
        rt: &Runtime,
        log: &Path,
        bundle: &Path,
        r: &crate::restore::Pending,
    ) -> TtrpcResult<()> {
        let paths = {
            let st = self.lock();
            let c = st
                .containers
                .get(id)
                .ok_or_else(|| not_found(&format!("container {id}")))?;
            c.init.paths.clone()
        };
        let pid_file = bundle.join("init.pid");
        let a = r.args(bundle, &pid_file);
        let live = self
            .run_with_stdio(rt, log, a, id, &paths)
            .await
            .map_err(|e| runtime_failed("restore", e))?;
        let pid = read_pid(&pid_file)?;
        if let Some(c) = self.lock().containers.get_mut(id) {
            c.restore = None;
            c.init.live = Some(live);
        }
        self.register(id, "", pid).await;
        Ok(())
    }

    async fn start_exec(&self, id: &str, exec_id: &str) -> TtrpcResult<u32> {
        let (rt, log, bundle) = self.container_ctx(id)?;
        let (paths, spec) = {
            let st = self.lock();
            let p = st.containers.get(id).and_then(|c| c.execs.get(exec_id));
            let p = p.ok_or_else(|| not_found(&format!("exec {exec_id} of {id}")))?;
            if p.pid != 0 || p.exit.is_some() {
                return Err(status(
                    Code::FAILED_PRECONDITION,
                    format!("exec {exec_id} already started"),
                ));
            }
            (p.paths.clone(), p.spec.clone())
        };
        let spec_path = bundle.join(format!("{exec_id}-process.json"));
        std::fs::write(&spec_path, &spec).map_err(|e| {
            status(
                Code::INTERNAL,
                format!("write {}: {e}", spec_path.display()),
            )
        })?;
        let pid_file = bundle.join(format!("{exec_id}.pid"));
        let mut a: Vec<OsString> = args(&["exec", "--process"]);
        a.push(spec_path.clone().into());
        a.extend(args(&["--detach", "--pid-file"]));
        a.push(pid_file.clone().into());
        let res = self.run_with_stdio(&rt, &log, a, id, &paths).await;
        let _ = std::fs::remove_file(&spec_path);
        let live = match res {
            Ok(live) => live,
            Err(e) => {
                self.fail_exec(id, exec_id);
                return Err(runtime_failed("exec", e));
            }
        };
        let pid = read_pid(&pid_file)?;
        let _ = std::fs::remove_file(&pid_file);
        {
            let mut st = self.lock();
            if let Some(p) = st
                .containers
                .get_mut(id)
                .and_then(|c| c.execs.get_mut(exec_id))
            {
                p.status = Status::RUNNING;
                p.live = Some(live);
            }
        }
        self.register(id, exec_id, pid).await;
        self.publish(
            topics::TASK_EXEC_STARTED_EVENT_TOPIC,
            ev::TaskExecStarted {
                container_id: id.to_string(),
                exec_id: exec_id.to_string(),
                pid,
                ..Default::default()
            },
        )
        .await;
        Ok(pid)
    }

    /// An exec whose start failed ends as stopped with status 255 (Go shim).
    fn fail_exec(&self, id: &str, exec_id: &str) {
        let mut st = self.lock();
        if let Some(p) = st
            .containers
            .get_mut(id)
            .and_then(|c| c.execs.get_mut(exec_id))
        {
            let exit = Exit {
                status: 255,
                at: now(),
            };
            p.status = Status::STOPPED;
            p.exit = Some(exit.clone());
            p.exited.send_replace(Some(exit));
        }
    }

    /// Runs create/exec with the process's stdio: FIFOs passed through, or a
    /// terminal received over a console socket and copied.
    async fn run_with_stdio(
        &self,
        rt: &Runtime,
        log: &Path,
        mut a: Vec<OsString>,
        id: &str,
        paths: &Paths,
    ) -> Result<stdio::Live, RuntimeError> {
        let io_err = |e: stdio::StdioError| RuntimeError::Failed(e.to_string());
        if paths.terminal {
            let sock = ConsoleSocket::new().map_err(io_err)?;
            a.push("--console-socket".into());
            a.push(sock.path().into());
            a.push(id.into());
            let master = sock.receive();
            let called = rt.call(log, &a, CallIo::default()).await;
            if let Err(e) = called {
                master.abort();
                return Err(e);
            }
            let master = master
                .await
                .map_err(|e| RuntimeError::Failed(format!("console socket: {e}")))?
                .map_err(io_err)?;
            stdio::attach_console(master, paths).map_err(io_err)
        } else {
            let prep = stdio::prepare(paths).map_err(io_err)?;
            a.push(id.into());
            let io = CallIo {
                stdin: prep.stdin,
                stdout: prep.stdout,
                stderr: prep.stderr,
                input: None,
            };
            rt.call(log, &a, io).await?;
            Ok(prep.live)
        }
    }

    fn state_of(&self, id: &str, exec_id: &str) -> TtrpcResult<api::StateResponse> {
        let st = self.lock();
        let c = st
            .containers
            .get(id)
            .ok_or_else(|| not_found(&format!("container {id}")))?;
        let p = c
            .process(exec_id)
            .ok_or_else(|| not_found(&format!("exec {exec_id} of {id}")))?;
        Ok(api::StateResponse {
            id: id.to_string(),
            bundle: c.bundle.display().to_string(),
            pid: p.pid,
            status: p.status.into(),
            stdin: p.paths.stdin.clone(),
            stdout: p.paths.stdout.clone(),
            stderr: p.paths.stderr.clone(),
            terminal: p.paths.terminal,
            exit_status: p.exit.as_ref().map_or(0, |e| e.status),
            exited_at: p.exit.as_ref().map(|e| e.at.clone()).into(),
            exec_id: exec_id.to_string(),
            ..Default::default()
        })
    }
}

/// A reaped pid: the process it was is stopped; its exit is published once its
/// terminal output drained and, for an init, after its execs' exits (containerd
/// wants the init's TaskExit last).
async fn on_exit(
    state: &Arc<Mutex<State>>,
    publisher: &Arc<RemotePublisher>,
    ns: &str,
    pid: u32,
    exit: Exit,
) {
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    let (id, exec_id, live) = {
        let mut st = lock();
        let Some((id, exec_id)) = st.owner(pid) else {
            if st.unclaimed.len() >= UNCLAIMED_MAX {
                st.unclaimed.clear();
            }
            st.unclaimed.insert(pid, exit);
            return;
        };
        let p = st
            .containers
            .get_mut(&id)
            .and_then(|c| c.process_mut(&exec_id))
            .expect("owner found");
        p.status = Status::STOPPED;
        p.exit = Some(exit.clone());
        (id, exec_id, p.live.take())
    };
    let (state, publisher, ns) = (state.clone(), publisher.clone(), ns.to_string());
    tokio::spawn(async move {
        let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut live) = live {
            live.finish().await;
        }
        if exec_id.is_empty() {
            // The execs die with the init's pid namespace; their exits come first.
            for _ in 0..100 {
                let running = lock()
                    .containers
                    .get(&id)
                    .is_some_and(|c| c.execs.values().any(|p| p.alive()));
                if !running {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let proc_id = if exec_id.is_empty() {
            id.clone()
        } else {
            exec_id.clone()
        };
        events::publish(
            &publisher,
            &ns,
            topics::TASK_EXIT_EVENT_TOPIC,
            ev::TaskExit {
                container_id: id.clone(),
                id: proc_id,
                pid,
                exit_status: exit.status,
                exited_at: Some(exit.at.clone()).into(),
                ..Default::default()
            },
        )
        .await;
        if let Some(p) = lock().containers.get(&id).and_then(|c| c.process(&exec_id)) {
            p.exited.send_replace(Some(exit));
        }
    });
}

#[async_trait]
impl Task for Service {
    async fn connect(
        &self,
        _ctx: &TtrpcContext,
        req: api::ConnectRequest,
    ) -> TtrpcResult<api::ConnectResponse> {
        let task_pid = self
            .lock()
            .containers
            .get(&req.id)
            .map_or(0, |c| c.init.pid);
        Ok(api::ConnectResponse {
            shim_pid: std::process::id(),
            task_pid,
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        })
    }

    async fn create(
        &self,
        _ctx: &TtrpcContext,
        req: api::CreateTaskRequest,
    ) -> TtrpcResult<api::CreateTaskResponse> {
        let id = req.id.clone();
        if self.lock().containers.contains_key(&id) {
            return Err(status(
                Code::ALREADY_EXISTS,
                format!("container {id}: already exists"),
            ));
        }
        let bundle = PathBuf::from(&req.bundle);
        let opts = runc_options(&req.options);
        let restore =
            crate::restore::Pending::from_request(&req.checkpoint, &req.parent_checkpoint, &opts)
                .map_err(|e| status(Code::INVALID_ARGUMENT, e))?;
        let rt = Runtime::new(
            Some(opts.binary_name.as_str()),
            Some(opts.root.as_str()),
            &self.namespace,
        );
        crate::shim::save_runtime(&bundle, &rt)
            .map_err(|e| status(Code::INTERNAL, format!("write {}: {e}", bundle.display())))?;
        let rootfs = if req.rootfs.is_empty() {
            None
        } else {
            let target = bundle.join("rootfs");
            let list = req.rootfs.to_vec();
            let t = target.clone();
            tokio::task::spawn_blocking(move || mounts::mount_all(&list, &t))
                .await
                .map_err(|e| status(Code::INTERNAL, e.to_string()))?
                .map_err(|e| status(Code::INTERNAL, e.to_string()))?;
            Some(target)
        };
        let paths = Paths {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
        };
        let log = bundle.join("log.json");
        let pid_file = bundle.join("init.pid");
        let mut init = Proc::new(&id, paths.clone());
        // From a checkpoint, as the Go shim: nothing runs until Start restores it.
        let pid = if restore.is_some() {
            0
        } else {
            let mut a: Vec<OsString> = args(&["create", "--bundle"]);
            a.push(bundle.clone().into());
            a.push("--pid-file".into());
            a.push(pid_file.clone().into());
            if opts.no_pivot_root {
                a.push("--no-pivot".into());
            }
            let res = self.run_with_stdio(&rt, &log, a, &id, &paths).await;
            let live = match res {
                Ok(l) => l,
                Err(e) => {
                    if let Some(r) = &rootfs {
                        mounts::unmount_all(r);
                    }
                    return Err(runtime_failed("create", e));
                }
            };
            init.live = Some(live);
            read_pid(&pid_file)?
        };
        self.lock().containers.insert(
            id.clone(),
            Container {
                id: id.clone(),
                bundle: bundle.clone(),
                rootfs,
                runtime: rt,
                init,
                execs: Default::default(),
                restore,
            },
        );
        if pid != 0 {
            self.register(&id, "", pid).await;
        }
        self.publish(
            topics::TASK_CREATE_EVENT_TOPIC,
            ev::TaskCreate {
                container_id: id.clone(),
                bundle: req.bundle.clone(),
                rootfs: req.rootfs.clone(),
                io: Some(ev::TaskIO {
                    stdin: paths.stdin,
                    stdout: paths.stdout,
                    stderr: paths.stderr,
                    terminal: paths.terminal,
                    ..Default::default()
                })
                .into(),
                checkpoint: req.checkpoint.clone(),
                pid,
                ..Default::default()
            },
        )
        .await;
        Ok(api::CreateTaskResponse {
            pid,
            ..Default::default()
        })
    }

    async fn start(
        &self,
        _ctx: &TtrpcContext,
        req: api::StartRequest,
    ) -> TtrpcResult<api::StartResponse> {
        let pid = if req.exec_id.is_empty() {
            self.start_init(&req.id).await?
        } else {
            self.start_exec(&req.id, &req.exec_id).await?
        };
        Ok(api::StartResponse {
            pid,
            ..Default::default()
        })
    }

    async fn state(
        &self,
        _ctx: &TtrpcContext,
        req: api::StateRequest,
    ) -> TtrpcResult<api::StateResponse> {
        self.state_of(&req.id, &req.exec_id)
    }

    async fn wait(
        &self,
        _ctx: &TtrpcContext,
        req: api::WaitRequest,
    ) -> TtrpcResult<api::WaitResponse> {
        let mut rx = {
            let st = self.lock();
            let c = st
                .containers
                .get(&req.id)
                .ok_or_else(|| not_found(&format!("container {}", req.id)))?;
            let p = c
                .process(&req.exec_id)
                .ok_or_else(|| not_found(&format!("exec {} of {}", req.exec_id, req.id)))?;
            p.exited.subscribe()
        };
        let exit = rx
            .wait_for(|e| e.is_some())
            .await
            .map_err(|_| not_found(&format!("process {} of {}", req.exec_id, req.id)))?
            .clone()
            .expect("waited for Some");
        Ok(api::WaitResponse {
            exit_status: exit.status,
            exited_at: Some(exit.at).into(),
            ..Default::default()
        })
    }

    async fn kill(&self, _ctx: &TtrpcContext, req: api::KillRequest) -> TtrpcResult<api::Empty> {
        let (rt, log, _) = self.container_ctx(&req.id)?;
        let (pid, done) = {
            let st = self.lock();
            let p = st
                .containers
                .get(&req.id)
                .and_then(|c| c.process(&req.exec_id))
                .ok_or_else(|| not_found(&format!("exec {} of {}", req.exec_id, req.id)))?;
            (p.pid, p.exit.is_some())
        };
        if done && !req.all {
            return Err(status(Code::NOT_FOUND, "process already finished"));
        }
        if req.exec_id.is_empty() {
            let sig = req.signal.to_string();
            let mut a = vec!["kill"];
            if req.all {
                a.push("--all");
            }
            a.extend([req.id.as_str(), sig.as_str()]);
            match rt.call(&log, &args(&a), CallIo::default()).await {
                Ok(_) => {}
                Err(RuntimeError::Failed(m))
                    if [
                        "container not running",
                        "no such process",
                        "process already finished",
                    ]
                    .iter()
                    .any(|s| m.contains(s)) =>
                {
                    return Err(status(
                        Code::NOT_FOUND,
                        format!("process already finished: {m}"),
                    ))
                }
                Err(e) => return Err(runtime_failed("kill", e)),
            }
        } else {
            if pid == 0 {
                return Err(status(
                    Code::FAILED_PRECONDITION,
                    format!("exec {} not started", req.exec_id),
                ));
            }
            let sig = nix::sys::signal::Signal::try_from(req.signal as i32).map_err(|e| {
                status(
                    Code::INVALID_ARGUMENT,
                    format!("signal {}: {e}", req.signal),
                )
            })?;
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).map_err(|e| {
                if e == nix::errno::Errno::ESRCH {
                    status(Code::NOT_FOUND, "process already finished")
                } else {
                    status(Code::UNKNOWN, format!("kill exec {}: {e}", req.exec_id))
                }
            })?;
        }
        Ok(api::Empty::new())
    }

    async fn delete(
        &self,
        _ctx: &TtrpcContext,
        req: api::DeleteRequest,
    ) -> TtrpcResult<api::DeleteResponse> {
        if !req.exec_id.is_empty() {
            let mut st = self.lock();
            let c = st
                .containers
                .get_mut(&req.id)
                .ok_or_else(|| not_found(&format!("container {}", req.id)))?;
            let p = c
                .execs
                .get(&req.exec_id)
                .ok_or_else(|| not_found(&format!("exec {} of {}", req.exec_id, req.id)))?;
            if p.alive() {
                return Err(status(
                    Code::FAILED_PRECONDITION,
                    "cannot delete a running process",
                ));
            }
            let p = c.execs.remove(&req.exec_id).expect("present");
            let exit = p.exit.unwrap_or(Exit {
                status: 0,
                at: now(),
            });
            return Ok(api::DeleteResponse {
                pid: p.pid,
                exit_status: exit.status,
                exited_at: Some(exit.at).into(),
                ..Default::default()
            });
        }
        let (rt, log, _) = self.container_ctx(&req.id)?;
        {
            let st = self.lock();
            let running = st.containers.get(&req.id).is_some_and(|c| {
                matches!(c.init.status, Status::RUNNING | Status::PAUSED) && c.init.exit.is_none()
            });
            if running {
                return Err(status(
                    Code::FAILED_PRECONDITION,
                    format!("cannot delete a running task {}", req.id),
                ));
            }
        }
        if let Err(e) = rt
            .call(&log, &args(&["delete", &req.id]), CallIo::default())
            .await
        {
            if !e.to_string().contains("does not exist") {
                return Err(runtime_failed("delete", e));
            }
        }
        let c = self.lock().containers.remove(&req.id);
        let Some(c) = c else {
            return Err(not_found(&format!("container {}", req.id)));
        };
        if let Some(r) = &c.rootfs {
            let r = r.clone();
            let _ = tokio::task::spawn_blocking(move || mounts::unmount_all(&r)).await;
        }
        // A created task never ran: deleting it ends it (runc's status for SIGKILL).
        let exit = c.init.exit.clone().unwrap_or(Exit {
            status: 137,
            at: now(),
        });
        self.publish(
            topics::TASK_DELETE_EVENT_TOPIC,
            ev::TaskDelete {
                container_id: req.id.clone(),
                pid: c.init.pid,
                exit_status: exit.status,
                exited_at: Some(exit.at.clone()).into(),
                id: req.id.clone(),
                ..Default::default()
            },
        )
        .await;
        Ok(api::DeleteResponse {
            pid: c.init.pid,
            exit_status: exit.status,
            exited_at: Some(exit.at).into(),
            ..Default::default()
        })
    }

    async fn pids(
        &self,
        _ctx: &TtrpcContext,
        req: api::PidsRequest,
    ) -> TtrpcResult<api::PidsResponse> {
        let (rt, log, _) = self.container_ctx(&req.id)?;
        let out = rt
            .call(
                &log,
                &args(&["ps", "--format", "json", &req.id]),
                CallIo::default(),
            )
            .await
            .map_err(|e| runtime_failed("ps", e))?;
        let pids: Vec<u32> = serde_json::from_slice(&out.stdout).map_err(|e| {
            status(
                Code::INTERNAL,
                format!("parse `ps --format json` output: {e}"),
            )
        })?;
        // Exec'd processes carry their exec id, as the Go shim's ProcessDetails.
        let exec_ids: std::collections::HashMap<u32, String> = self
            .lock()
            .containers
            .get(&req.id)
            .map(|c| {
                c.execs
                    .values()
                    .filter(|p| p.pid != 0)
                    .map(|p| (p.pid, p.id.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let details = |exec_id: &String| {
            let d = containerd_shim::protos::shim::oci::ProcessDetails {
                exec_id: exec_id.clone(),
                ..Default::default()
            };
            d.write_to_bytes().ok().map(|value| Any {
                type_url: "containerd.runc.v1.ProcessDetails".into(),
                value,
                ..Default::default()
            })
        };
        Ok(api::PidsResponse {
            processes: pids
                .into_iter()
                .map(|pid| containerd_shim::protos::types::task::ProcessInfo {
                    pid,
                    info: exec_ids.get(&pid).and_then(details).into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
    }

    async fn pause(&self, _ctx: &TtrpcContext, req: api::PauseRequest) -> TtrpcResult<api::Empty> {
        let event = ev::TaskPaused {
            container_id: req.id.clone(),
            ..Default::default()
        };
        self.freezer_call(
            &req.id,
            "pause",
            Status::PAUSED,
            topics::TASK_PAUSED_EVENT_TOPIC,
            event,
        )
        .await
    }

    async fn resume(
        &self,
        _ctx: &TtrpcContext,
        req: api::ResumeRequest,
    ) -> TtrpcResult<api::Empty> {
        let event = ev::TaskResumed {
            container_id: req.id.clone(),
            ..Default::default()
        };
        self.freezer_call(
            &req.id,
            "resume",
            Status::RUNNING,
            topics::TASK_RESUMED_EVENT_TOPIC,
            event,
        )
        .await
    }

    /// `sangja checkpoint` as the Go shim runs `runc checkpoint`; CRIU's own error reaches
    /// the client through the runtime's log when it fails.
    async fn checkpoint(
        &self,
        _ctx: &TtrpcContext,
        req: api::CheckpointTaskRequest,
    ) -> TtrpcResult<api::Empty> {
        let (rt, log, _) = self.container_ctx(&req.id)?;
        let opts = match req.options.as_ref() {
            Some(a) if a.type_url.ends_with("CheckpointOptions") => {
                crate::checkpoint::decode(&a.value)
                    .map_err(|e| status(Code::INVALID_ARGUMENT, e))?
            }
            _ => Default::default(),
        };
        let a = crate::checkpoint::args(&opts, &req.path, &req.id);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        rt.call(&log, &args(&a), CallIo::default())
            .await
            .map_err(|e| runtime_failed("checkpoint", e))?;
        self.publish(
            topics::TASK_CHECKPOINTED_EVENT_TOPIC,
            ev::TaskCheckpointed {
                container_id: req.id.clone(),
                ..Default::default()
            },
        )
        .await;
        Ok(api::Empty::new())
    }

    async fn exec(
        &self,
        _ctx: &TtrpcContext,
        req: api::ExecProcessRequest,
    ) -> TtrpcResult<api::Empty> {
        {
            let mut st = self.lock();
            let c = st
                .containers
                .get_mut(&req.id)
                .ok_or_else(|| not_found(&format!("container {}", req.id)))?;
            if c.execs.contains_key(&req.exec_id) {
                return Err(status(
                    Code::ALREADY_EXISTS,
                    format!("exec {}: already exists", req.exec_id),
                ));
            }
            if c.init.exit.is_some() {
                return Err(status(
                    Code::FAILED_PRECONDITION,
                    format!("container {} is not running", req.id),
                ));
            }
            let mut p = Proc::new(
                &req.exec_id,
                Paths {
                    stdin: req.stdin.clone(),
                    stdout: req.stdout.clone(),
                    stderr: req.stderr.clone(),
                    terminal: req.terminal,
                },
            );
            // The process spec travels as JSON inside the Any, as the runtime reads it.
            p.spec = req
                .spec
                .as_ref()
                .map(|a| a.value.clone())
                .unwrap_or_default();
            c.execs.insert(req.exec_id.clone(), p);
        }
        self.publish(
            topics::TASK_EXEC_ADDED_EVENT_TOPIC,
            ev::TaskExecAdded {
                container_id: req.id.clone(),
                exec_id: req.exec_id.clone(),
                ..Default::default()
            },
        )
        .await;
        Ok(api::Empty::new())
    }

    async fn resize_pty(
        &self,
        _ctx: &TtrpcContext,
        req: api::ResizePtyRequest,
    ) -> TtrpcResult<api::Empty> {
        let st = self.lock();
        let p = st
            .containers
            .get(&req.id)
            .and_then(|c| c.process(&req.exec_id))
            .ok_or_else(|| not_found(&format!("exec {} of {}", req.exec_id, req.id)))?;
        if let Some(live) = &p.live {
            live.resize(req.width, req.height).map_err(|e| {
                status(
                    Code::FAILED_PRECONDITION,
                    format!("resize pty of {}: {e}", req.id),
                )
            })?;
        }
        Ok(api::Empty::new())
    }

    async fn close_io(
        &self,
        _ctx: &TtrpcContext,
        req: api::CloseIORequest,
    ) -> TtrpcResult<api::Empty> {
        let mut st = self.lock();
        let p = st
            .containers
            .get_mut(&req.id)
            .and_then(|c| c.process_mut(&req.exec_id))
            .ok_or_else(|| not_found(&format!("exec {} of {}", req.exec_id, req.id)))?;
        if req.stdin {
            if let Some(live) = p.live.as_mut() {
                live.close_stdin();
            }
        }
        Ok(api::Empty::new())
    }

    async fn update(
        &self,
        _ctx: &TtrpcContext,
        req: api::UpdateTaskRequest,
    ) -> TtrpcResult<api::Empty> {
        let (rt, log, _) = self.container_ctx(&req.id)?;
        let resources = req
            .resources
            .as_ref()
            .map(|a| a.value.clone())
            .unwrap_or_default();
        let io = CallIo {
            input: Some(resources),
            ..CallIo::default()
        };
        rt.call(&log, &args(&["update", "--resources", "-", &req.id]), io)
            .await
            .map_err(|e| runtime_failed("update", e))?;
        Ok(api::Empty::new())
    }

    async fn stats(
        &self,
        _ctx: &TtrpcContext,
        req: api::StatsRequest,
    ) -> TtrpcResult<api::StatsResponse> {
        let pid = {
            let st = self.lock();
            let c = st
                .containers
                .get(&req.id)
                .ok_or_else(|| not_found(&format!("container {}", req.id)))?;
            if !c.init.alive() {
                return Err(status(
                    Code::NOT_FOUND,
                    format!("task {} is not running", req.id),
                ));
            }
            c.init.pid
        };
        let any = tokio::task::spawn_blocking(move || metrics::collect(pid))
            .await
            .map_err(|e| status(Code::INTERNAL, e.to_string()))?
            .map_err(|e| status(Code::INTERNAL, e.to_string()))?;
        Ok(api::StatsResponse {
            stats: Some(any).into(),
            ..Default::default()
        })
    }

    async fn shutdown(
        &self,
        _ctx: &TtrpcContext,
        req: api::ShutdownRequest,
    ) -> TtrpcResult<api::Empty> {
        // One shim serves a whole sandbox: it stays while any container is left.
        if req.now || self.lock().containers.is_empty() {
            self.exit.signal();
        }
        Ok(api::Empty::new())
    }
}
