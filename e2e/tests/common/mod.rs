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

/// A Promotion kind like Sluice's: the approval annotations are what admission checks.
pub const PROMOTION_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: promotions.sluice.dev
spec:
  group: sluice.dev
  scope: Namespaced
  names: {plural: promotions, singular: promotion, kind: Promotion}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              plan: {type: string}
          status:
            type: object
            properties:
              phase: {type: string}
              gates:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string}
                    state: {type: string}
"#;

/// A Plan kind like Sluice's: an immutable spec (CEL transition rule), defaults, formats.
pub const PLAN_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: plans.sluice.dev
spec:
  group: sluice.dev
  scope: Namespaced
  names: {plural: plans, singular: plan, kind: Plan}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-validations:
            - {rule: "self == oldSelf", message: "spec is immutable"}
            - {rule: "has(self.source.configMap) != has(self.source.git)", message: "exactly one source"}
            required: [environment]
            properties:
              environment: {type: string, pattern: '^[a-z][a-z0-9-]*$'}
              author: {type: string, format: email}
              executionTime: {type: string, format: date-time}
              restate: {type: array, maxItems: 3, x-kubernetes-list-type: set, items: {type: string}}
              options:
                type: object
                default: {}
                properties:
                  forwardOnly: {type: boolean, default: false}
                  batchSize: {type: integer, default: 10}
              source:
                type: object
                properties:
                  configMap: {type: object, properties: {name: {type: string}}}
                  git: {type: object, properties: {url: {type: string}}}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"#;

/// A Plan manifest for PLAN_CRD.
pub fn plan(name: &str, environment: &str) -> String {
    format!(
        "apiVersion: sluice.dev/v1alpha1\nkind: Plan\nmetadata: {{name: {name}}}\nspec:\n  environment: {environment}\n  source: {{configMap: {{name: project}}}}\n"
    )
}
