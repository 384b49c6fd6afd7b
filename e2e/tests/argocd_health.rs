//! GitOps integration: the Argo CD health checks in `config/argocd` run under Lua 5.1 (Argo CD
//! runs gopher-lua, a Lua 5.1) against a status object for every phase
//! (`config/argocd/sluice.dev/<Kind>/testdata`, in Argo CD's own `health_test.yaml` format);
//! the fixtures are checked against the CRDs on the test control plane; the Flux
//! `healthCheckExprs` in `config/flux` must agree with the Lua checks on every fixture; and the
//! example Argo CD release directory applies in sync waves under the approval policy.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sluice_e2e::Scenario;
use sluice_e2e::celenv::{Activation, Cache, to_cel};

mod support;

use support::argocd::lua_health;

const KINDS: [&str; 3] = ["Environment", "Plan", "Promotion"];

fn repo() -> PathBuf {
    std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .join("..")
}

fn kind_dir(kind: &str) -> PathBuf {
    repo().join("config/argocd/sluice.dev").join(kind)
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// YAML documents of a stream.
fn documents(text: &str) -> Vec<Value> {
    text.split("\n---\n")
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .map(|d| serde_saphyr::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect()
}

/// One case of a kind's health_test.yaml: the fixture's file name, the object, and the
/// expected (status, message).
struct Case {
    file: String,
    object: Value,
    status: String,
    message: String,
}

fn cases(kind: &str) -> Vec<Case> {
    let tests = yaml(&kind_dir(kind).join("health_test.yaml"));
    tests["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let input = t["inputPath"].as_str().unwrap();
            Case {
                file: format!("{kind}/{input}"),
                object: yaml(&kind_dir(kind).join(input)),
                status: t["healthStatus"]["status"].as_str().unwrap().to_string(),
                message: t["healthStatus"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            }
        })
        .collect()
}

#[test]
fn health_checks_give_the_expected_status_for_every_phase() {
    let mut failures = Vec::new();
    for kind in KINDS {
        let cases = cases(kind);
        assert!(cases.len() >= 6, "{kind}: too few cases");
        for case in cases {
            let (status, message) = lua_health(kind, &case.object);
            if (status.as_str(), message.as_str()) != (case.status.as_str(), case.message.as_str())
            {
                failures.push(format!(
                    "{}: got {status} {message:?}, expected {} {:?}",
                    case.file, case.status, case.message
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_phase_of_every_kind_has_a_case() {
    let phases = |kind: &str| -> Vec<&'static str> {
        match kind {
            "Plan" => vec![
                "Planning",
                "Backfilling",
                "Ready",
                "Failed",
                "Promoted",
                "Superseded",
            ],
            "Promotion" => vec![
                "Pending",
                "AwaitingApproval",
                "Promoting",
                "Promoted",
                "Rejected",
                "Failed",
                "Superseded",
            ],
            _ => vec![],
        }
    };
    for kind in KINDS {
        let cases = cases(kind);
        for phase in phases(kind) {
            assert!(
                cases.iter().any(|c| c.object["status"]["phase"] == phase),
                "{kind}: no case for phase {phase}"
            );
        }
        // The generic rules: no status yet, a status of an older generation, Stalled.
        assert!(
            cases.iter().any(|c| c.object.get("status").is_none()),
            "{kind}: no status"
        );
        assert!(
            cases
                .iter()
                .any(|c| c.object["status"]["observedGeneration"].as_i64()
                    < c.object["metadata"]["generation"].as_i64()),
            "{kind}: no stale generation"
        );
        assert!(
            cases.iter().any(|c| c.object["status"]["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|x| x["type"] == "Stalled"))),
            "{kind}: no Stalled case"
        );
    }
}

#[test]
fn argocd_cm_carries_exactly_these_scripts() {
    let cm = yaml(&repo().join("config/argocd/argocd-cm.yaml"));
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["metadata"]["name"], "argocd-cm");
    let data = cm["data"].as_object().unwrap();
    assert_eq!(data.len(), KINDS.len(), "{:?}", data.keys());
    for kind in KINDS {
        let script = std::fs::read_to_string(kind_dir(kind).join("health.lua")).unwrap();
        assert_eq!(
            data[&format!("resource.customizations.health.sluice.dev_{kind}")].as_str(),
            Some(script.as_str()),
            "config/argocd/argocd-cm.yaml is stale for {kind}: run scripts/sync-argocd"
        );
    }
}

/// Where `expected` is not contained in `actual` (objects: every key of expected, recursively;
/// arrays: same length, item by item; scalars: equal), as a path.
fn missing(actual: &Value, expected: &Value, path: &str) -> Option<String> {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e.iter().find_map(|(k, v)| {
            let p = format!("{path}.{k}");
            match a.get(k) {
                Some(x) => missing(x, v, &p),
                None => Some(format!("{p} (pruned or absent)")),
            }
        }),
        (Value::Array(a), Value::Array(e)) if a.len() == e.len() => a
            .iter()
            .zip(e)
            .enumerate()
            .find_map(|(i, (x, v))| missing(x, v, &format!("{path}[{i}]"))),
        _ if actual == expected => None,
        _ => Some(format!("{path}: {actual} instead of {expected}")),
    }
}

#[test]
fn fixtures_are_valid_objects_of_the_crds() {
    let s = Scenario::start().unwrap();
    s.kubectl_ok(&["apply", "-f", repo().join("crds").to_str().unwrap()])
        .unwrap();
    for kind in KINDS {
        for case in cases(kind) {
            let mut object = case.object.clone();
            let status = object.as_object_mut().unwrap().remove("status");
            let stem = Path::new(&case.file)
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .replace('_', "-");
            let name = format!("{}-{stem}", object["metadata"]["name"].as_str().unwrap());
            let meta = object["metadata"].as_object_mut().unwrap();
            meta.insert("name".into(), json!(name));
            meta.remove("namespace");
            meta.remove("generation");
            let out = s
                .kubectl_stdin(&["create", "-f", "-"], Some(&object.to_string()))
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                case.file,
                String::from_utf8_lossy(&out.stderr)
            );
            let resource = format!("{}.sluice.dev/{name}", kind.to_lowercase());
            let Some(status) = status else { continue };
            let patch = json!({"status": status}).to_string();
            let out = s
                .kubectl(&[
                    "patch",
                    &resource,
                    "--subresource=status",
                    "--type=merge",
                    "-p",
                    &patch,
                ])
                .unwrap();
            assert!(
                out.status.success(),
                "{}: the status does not fit the CRD: {}",
                case.file,
                String::from_utf8_lossy(&out.stderr)
            );
            let stored: Value =
                serde_json::from_str(&s.kubectl_ok(&["get", &resource, "-o", "json"]).unwrap())
                    .unwrap();
            if let Some(problem) = missing(&stored["status"], &status, "status") {
                panic!("{}: {problem}", case.file);
            }
        }
    }
}

/// kstatus's verdict on `object` under one kind's Flux `healthCheckExprs`, as Flux's
/// StatusEvaluator computes it: an unobserved generation is InProgress, then `inProgress`,
/// `failed` and `current` in that order, else InProgress. An expression that cannot be
/// evaluated (no status yet) leaves it InProgress, as Flux keeps polling.
fn flux_status(checks: &Value, object: &Value) -> &'static str {
    let cache = Cache::default();
    let observed = object["status"]["observedGeneration"].as_i64();
    if observed.is_some() && observed != object["metadata"]["generation"].as_i64() {
        return "InProgress";
    }
    let vars = object
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), to_cel(v)))
        .collect();
    let activation = Activation {
        vars,
        authorizer: None,
    };
    for (field, verdict) in [
        ("inProgress", "InProgress"),
        ("failed", "Failed"),
        ("current", "Current"),
    ] {
        let Some(expr) = checks[field].as_str() else {
            continue;
        };
        match cache.eval(expr, &activation) {
            Ok(cel::Value::Bool(true)) => return verdict,
            Ok(cel::Value::Bool(false)) => {}
            Ok(other) => panic!("{field} {expr:?} gave {other:?}"),
            Err(_) => return "InProgress",
        }
    }
    "InProgress"
}

#[test]
fn flux_health_expressions_agree_with_the_argocd_checks() {
    let text = std::fs::read_to_string(repo().join("config/flux/kustomizations.yaml")).unwrap();
    let kustomizations = documents(&text);
    assert_eq!(kustomizations.len(), 2);
    let (dev, prod) = (&kustomizations[0], &kustomizations[1]);
    assert_eq!(
        prod["spec"]["dependsOn"],
        json!([{"name": dev["metadata"]["name"]}])
    );
    for k in &kustomizations {
        assert_eq!(k["spec"]["wait"], true);
        assert_eq!(
            k["spec"]["healthCheckExprs"],
            dev["spec"]["healthCheckExprs"]
        );
    }
    for kind in KINDS {
        let checks = dev["spec"]["healthCheckExprs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == kind && c["apiVersion"] == "sluice.dev/v1alpha1")
            .unwrap_or_else(|| panic!("no healthCheckExprs for {kind}"));
        for case in cases(kind) {
            let expected = match case.status.as_str() {
                "Healthy" => "Current",
                "Degraded" => "Failed",
                _ => "InProgress",
            };
            assert_eq!(
                flux_status(checks, &case.object),
                expected,
                "{}: Argo CD says {}",
                case.file,
                case.status
            );
        }
    }
}

#[test]
fn the_argocd_example_applies_in_sync_waves_under_the_approval_policy() {
    let app = yaml(&repo().join("config/argocd/application.yaml"));
    assert_eq!(app["kind"], "Application");
    let options: Vec<&str> = app["spec"]["syncPolicy"]["syncOptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    assert!(options.contains(&"ServerSideApply=true"), "{options:?}");

    let s = Scenario::start().unwrap();
    let built = s
        .kubectl_ok(&[
            "kustomize",
            repo().join("config/argocd/example").to_str().unwrap(),
        ])
        .unwrap();
    let objects = documents(&built);
    let wave = |kind: &str| -> String {
        let o = objects
            .iter()
            .find(|o| o["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"));
        o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(wave("ConfigMap"), "0");
    assert_eq!(wave("Plan"), "0");
    assert_eq!(wave("Promotion"), "1");

    // Applied as Argo CD's controller applies it, with the CRDs and the approval policy in
    // place: the Promotion's creator annotation names that identity, so it is admitted.
    s.kubectl_ok(&["apply", "-f", repo().join("crds").to_str().unwrap()])
        .unwrap();
    s.kubectl_ok(&[
        "apply",
        "-f",
        repo().join("config/policy").to_str().unwrap(),
    ])
    .unwrap();
    let controller = "system:serviceaccount:argocd:argocd-application-controller";
    let out = s
        .kubectl_stdin(
            &[
                &format!("--as={controller}"),
                "apply",
                "--server-side",
                "-f",
                "-",
            ],
            Some(&built),
        )
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created_by = s
        .kubectl_ok(&[
            "get",
            "promotion",
            "shop-v2-prod",
            "-o",
            "jsonpath={.metadata.annotations.sluice\\.dev/created-by}",
        ])
        .unwrap();
    assert_eq!(created_by, controller);
}
