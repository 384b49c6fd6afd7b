//! Runs pods as local process groups: starts the first container of each pending pod, reports
//! container states and phase through the status subresource, restarts per `restartPolicy`, and
//! kills the process group when the pod is deleted or the cluster shuts down.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::env;
use super::{ImageTarget, KubeletConfig};
use crate::api::{Cluster, Part, WriteOptions};
use crate::auth::User;
use crate::meta;
use crate::patch::PatchType;
use crate::resources::ResourceInfo;
use crate::selectors::Selectors;

/// Pods this kubelet has started, by uid, with the current process group id (0 between runs).
#[derive(Default)]
pub struct Kubelet {
    running: Mutex<HashMap<String, Arc<AtomicI32>>>,
}

fn kill_group(pgid: i32) {
    if pgid > 0 {
        // SAFETY: kill(2) on a process group we created; no memory is involved.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

pub fn pod_dir(cluster: &Cluster, uid: &str) -> PathBuf {
    cluster.data_dir.join("pods").join(uid)
}

fn pods(cluster: &Cluster) -> Option<ResourceInfo> {
    cluster.resource("", "v1", "pods").ok()
}

fn set_status(cluster: &Cluster, pod: &Value, status: Value) {
    let Some(res) = pods(cluster) else { return };
    let (ns, name) = (
        pod["metadata"]["namespace"].as_str().unwrap_or_default(),
        pod["metadata"]["name"].as_str().unwrap_or_default(),
    );
    // The uid precondition keeps a status for a deleted pod off a new pod of the same name.
    if cluster
        .get(&res, ns, name)
        .is_ok_and(|p| p["metadata"]["uid"] == pod["metadata"]["uid"])
    {
        let _ = cluster.patch(
            &res,
            ns,
            name,
            PatchType::Merge,
            json!({"status": status}),
            Part::Status,
            &WriteOptions::by(User::kubelet(), "kubelet"),
        );
    }
}

fn container_status(container: &Value, restarts: i64, state: Value, pid: i32) -> Value {
    let running = state.get("running").is_some();
    json!([{
        "name": container["name"], "image": container["image"], "imageID": "", "containerID": format!("sluice://{pid}"),
        "ready": running, "started": running, "restartCount": restarts, "state": state,
    }])
}

fn conditions(ready: bool) -> Value {
    let now = meta::now();
    let s = if ready { "True" } else { "False" };
    json!([
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
        {"type": "Initialized", "status": "True", "lastTransitionTime": now},
        {"type": "ContainersReady", "status": s, "lastTransitionTime": now},
        {"type": "Ready", "status": s, "lastTransitionTime": now},
    ])
}

/// The program and arguments for a container under an image mapping.
fn argv(target: &ImageTarget, container: &Value) -> Result<Vec<String>, String> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(String::from))
            .collect()
    };
    let (command, args) = (strings(&container["command"]), strings(&container["args"]));
    match target {
        ImageTarget::Host if command.is_empty() => {
            Err("image runs on the host and has no entrypoint: set command".into())
        }
        ImageTarget::Host => Ok(command.into_iter().chain(args).collect()),
        ImageTarget::Executable(exe) => {
            let mut argv = vec![exe.to_string_lossy().into_owned()];
            argv.extend(command.into_iter().skip(1).chain(args));
            Ok(argv)
        }
    }
}

impl Kubelet {
    /// Starts new pods and kills the processes of deleted ones.
    pub fn reconcile(self: &Arc<Self>, cluster: &Arc<Cluster>, config: &Arc<KubeletConfig>) {
        let Some(res) = pods(cluster) else { return };
        let (all, _) = cluster.list(&res, None, &Selectors::default());
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let live: HashMap<&str, &Value> = all
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .filter_map(|p| Some((p["metadata"]["uid"].as_str()?, p)))
            .collect();
        running.retain(|uid, pgid| {
            let keep = live.contains_key(uid.as_str());
            if !keep {
                kill_group(pgid.swap(-1, Ordering::SeqCst));
            }
            keep
        });
        for (uid, pod) in live {
            let phase = pod["status"]["phase"].as_str().unwrap_or("Pending");
            if running.contains_key(uid) || phase != "Pending" {
                continue;
            }
            match self.prepare(cluster, config, pod) {
                Ok(spec) => {
                    let pgid = Arc::new(AtomicI32::new(0));
                    running.insert(uid.to_string(), pgid.clone());
                    tokio::spawn(run_pod(cluster.clone(), pod.clone(), spec, pgid));
                }
                Err((reason, message)) => {
                    let container = &pod["spec"]["containers"][0];
                    let waiting = json!({"waiting": {"reason": reason, "message": message}});
                    set_status(
                        cluster,
                        pod,
                        json!({"phase": "Pending", "containerStatuses": container_status(container, 0, waiting, 0)}),
                    );
                }
            }
        }
    }

    /// Kills every process this kubelet started.
    pub fn kill_all(&self) {
        for pgid in self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            kill_group(pgid.swap(-1, Ordering::SeqCst));
        }
    }

    fn prepare(
        &self,
        cluster: &Cluster,
        config: &KubeletConfig,
        pod: &Value,
    ) -> Result<ProcessSpec, (&'static str, String)> {
        let container = &pod["spec"]["containers"][0];
        let image = container["image"].as_str().unwrap_or_default();
        let target = config.resolve(image).ok_or_else(|| {
            (
                "ErrImagePull",
                format!("no local executable is mapped for image {image:?}"),
            )
        })?;
        let dir = pod_dir(cluster, pod["metadata"]["uid"].as_str().unwrap_or_default());
        let root = dir.join("root");
        std::fs::create_dir_all(&root)
            .map_err(|e| ("CreateContainerConfigError", e.to_string()))?;
        let env = env::environment(cluster, pod, container)
            .map_err(|e| ("CreateContainerConfigError", e))?;
        let mut mounts = env::volumes(cluster, pod, container, &dir.join("volumes"))
            .map_err(|e| ("CreateContainerConfigError", e))?;
        // Last, so a pod waiting for something else does not get a token per attempt.
        let url = cluster.url.get().map(String::as_str).unwrap_or_default();
        let identity =
            crate::serviceaccounts::pod_identity(&cluster.store, &cluster.tokens, url, pod, &dir)
                .map_err(|e| ("CreateContainerConfigError", e))?;
        // The identity's variables already hold host paths: only the container's are rewritten.
        let mut vars = identity.as_ref().map(|i| i.env.clone()).unwrap_or_default();
        let own = vars.len();
        vars.extend(env);
        if let Some(identity) = identity {
            mounts.push((crate::serviceaccounts::MOUNT_PATH.to_string(), identity.dir));
            mounts.sort_by_key(|(m, _)| std::cmp::Reverse(m.len()));
        }
        for (mount, host) in &mounts {
            let link = root.join(mount.trim_start_matches('/'));
            if let Some(parent) = link.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            let _ = std::os::unix::fs::symlink(host, link);
        }
        let argv: Vec<String> = argv(target, container)
            .map_err(|e| ("CreateContainerError", e))?
            .iter()
            .map(|a| env::rewrite(&env::expand(a, &vars), &mounts))
            .collect();
        let vars = vars
            .into_iter()
            .enumerate()
            .map(|(i, (k, v))| {
                let v = if i < own {
                    v
                } else {
                    env::rewrite(&v, &mounts)
                };
                (k, v)
            })
            .collect();
        let cwd = container["workingDir"]
            .as_str()
            .map(|w| PathBuf::from(env::rewrite(w, &mounts)))
            .unwrap_or(root.clone());
        Ok(ProcessSpec {
            argv,
            vars,
            cwd,
            root,
            log: dir.join("log"),
        })
    }
}

/// Everything needed to (re)start the container process.
struct ProcessSpec {
    argv: Vec<String>,
    vars: Vec<(String, String)>,
    cwd: PathBuf,
    root: PathBuf,
    log: PathBuf,
}

fn spawn(spec: &ProcessSpec, pod: &Value) -> std::io::Result<tokio::process::Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)?;
    let mut cmd = tokio::process::Command::new(&spec.argv[0]);
    cmd.args(&spec.argv[1..])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &spec.root)
        .env(
            "HOSTNAME",
            pod["metadata"]["name"].as_str().unwrap_or_default(),
        )
        .env("SLUICE_POD_ROOT", &spec.root)
        .envs(spec.vars.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .kill_on_drop(true);
    cmd.spawn()
}

/// Runs the container, restarting per policy, and reports each state change.
async fn run_pod(cluster: Arc<Cluster>, pod: Value, spec: ProcessSpec, pgid: Arc<AtomicI32>) {
    let container = &pod["spec"]["containers"][0];
    let policy = pod["spec"]["restartPolicy"]
        .as_str()
        .unwrap_or("Always")
        .to_string();
    let started_pod = meta::now();
    let mut restarts = 0;
    loop {
        let started = meta::now();
        let mut child = match spawn(&spec, &pod) {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::write(
                    &spec.log,
                    format!("failed to start {:?}: {e}\n", spec.argv[0]),
                );
                let state = json!({"terminated": {"exitCode": 128, "reason": "StartError", "message": e.to_string(), "startedAt": started, "finishedAt": meta::now()}});
                set_status(
                    &cluster,
                    &pod,
                    json!({"phase": "Failed", "startTime": started_pod, "conditions": conditions(false), "containerStatuses": container_status(container, restarts, state, 0)}),
                );
                return;
            }
        };
        let pid = child.id().unwrap_or_default() as i32;
        // A kill that raced ahead of us (pgid -1) wins.
        if pgid
            .compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            kill_group(pid);
            return;
        }
        let running = json!({"running": {"startedAt": started}});
        set_status(
            &cluster,
            &pod,
            json!({"phase": "Running", "startTime": started_pod, "hostIP": "127.0.0.1", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}], "conditions": conditions(true), "containerStatuses": container_status(container, restarts, running, pid)}),
        );
        let code = child
            .wait()
            .await
            .ok()
            .and_then(|s| s.code())
            .unwrap_or(137);
        if pgid
            .compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return; // Killed because the pod is gone.
        }
        let reason = if code == 0 { "Completed" } else { "Error" };
        let state = json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": meta::now()}});
        let restart = policy == "Always" || (policy == "OnFailure" && code != 0);
        if restart {
            restarts += 1;
            set_status(
                &cluster,
                &pod,
                json!({"containerStatuses": container_status(container, restarts, json!({"waiting": {"reason": "CrashLoopBackOff"}}), pid)}),
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if pgid.load(Ordering::SeqCst) != 0 {
                return;
            }
            continue;
        }
        let phase = if code == 0 { "Succeeded" } else { "Failed" };
        set_status(
            &cluster,
            &pod,
            json!({"phase": phase, "conditions": conditions(false), "containerStatuses": container_status(container, restarts, state, pid)}),
        );
        return;
    }
}
