//! Manifests shared by the end-to-end tests.
#![allow(dead_code)]

pub const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Phase, type: string, jsonPath: .status.phase}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 0}
          status:
            type: object
            properties:
              phase: {type: string}
              observedGeneration: {type: integer}
"#;

pub fn widget(name: &str, size: i64) -> String {
    format!(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {name}\nspec:\n  size: {size}\n"
    )
}

/// Installs the Widget CRD; it is cluster-scoped, so only local clusters get a fresh copy.
pub fn install_crd(s: &sluice_e2e::Scenario) {
    s.apply(WIDGET_CRD).expect("apply CRD");
}

/// Polls `f` every 50ms until it returns `Some`, panicking with `what` after `timeout`.
pub fn wait_for<T>(
    what: &str,
    timeout: std::time::Duration,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A container command that records its PID in `<dir>/<pod name>.pid`, sleeps for `secs`, then
/// writes `<dir>/<pod name>.done`. (`$$` is the escape for `$` in container commands.)
pub fn sleeper_command(dir: &std::path::Path, secs: u32) -> String {
    let dir = dir.display();
    format!("echo $$$$ > {dir}/$HOSTNAME.pid; sleep {secs}; touch {dir}/$HOSTNAME.done")
}

/// The PIDs recorded by `sleeper_command` processes in `dir`.
pub fn recorded_pids(dir: &std::path::Path) -> Vec<u32> {
    let mut pids: Vec<u32> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "pid"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok()?.trim().parse().ok())
        .collect();
    pids.sort();
    pids
}

/// Whether any `sleeper_command` process in `dir` got past its sleep.
pub fn any_done(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.path().extension().is_some_and(|x| x == "done"))
}

/// Whether a process exists (a zombie, dead but not yet reaped, still counts).
pub fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}
