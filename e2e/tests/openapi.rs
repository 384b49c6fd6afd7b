//! `/openapi/v2` through kubectl: what `kubectl get -o yaml` prints for several objects (a
//! `kind: List`) applies back, and kubectl validates the List's items with it.

mod common;

use common::{install_crd, widget};
use sluice_e2e::Scenario;

/// A ConfigMap and a Widget, printed together by `kubectl get -o yaml` (a `kind: List`).
fn list_of_two(s: &Scenario) -> String {
    install_crd(s);
    s.apply(&widget("w1", 3)).unwrap();
    s.kubectl_ok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=mode=slow",
    ])
    .unwrap();
    let list = s
        .kubectl_ok(&["get", "configmap/settings", "widget/w1", "-o", "yaml"])
        .unwrap();
    assert!(list.contains("kind: List"), "{list}");
    list
}

#[test]
fn a_list_printed_by_get_applies_back() {
    let s = Scenario::start().unwrap();
    let list = list_of_two(&s);
    let edited = list
        .replace("mode: slow", "mode: fast")
        .replace("size: 3", "size: 5");
    assert_ne!(edited, list);
    let out = s.apply(&edited).unwrap();
    assert!(out.contains("configmap/settings configured"), "{out}");
    assert!(out.contains("widget.example.com/w1 configured"), "{out}");
    let get = |what: &str, path: &str| {
        s.kubectl_ok(&["get", what, "-o", &format!("jsonpath={{{path}}}")])
            .unwrap()
    };
    assert_eq!(get("configmap/settings", ".data.mode"), "fast");
    assert_eq!(get("widget/w1", ".spec.size"), "5");

    // The same List, printed again, applies on the server too.
    let again = s
        .kubectl_ok(&["get", "configmap/settings", "widget/w1", "-o", "yaml"])
        .unwrap();
    let out = s.apply_server_side(&again).unwrap();
    assert!(
        out.contains("configmap/settings serverside-applied"),
        "{out}"
    );

    // The document is there as JSON too, with the custom resource's schema.
    let doc: serde_json::Value =
        serde_json::from_str(&s.kubectl_ok(&["get", "--raw", "/openapi/v2"]).unwrap()).unwrap();
    assert_eq!(doc["swagger"], "2.0");
    let widget = &doc["definitions"]["com.example.v1.Widget"];
    assert_eq!(widget["properties"]["spec"]["required"][0], "size");
    assert_eq!(
        widget["x-kubernetes-group-version-kind"][0]["kind"],
        "Widget"
    );
}

#[test]
fn an_unknown_field_in_a_list_item_is_reported() {
    let s = Scenario::start().unwrap();
    let list = list_of_two(&s);
    let bad = list
        .replace("mode: slow", "mode: fast")
        .replace("    size: 3\n", "    size: 3\n    bogus: 1\n");
    assert!(bad.contains("bogus"), "{list}");
    let out = s
        .kubectl_stdin(&["apply", "--validate=strict", "-f", "-"], Some(&bad))
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(r#"ValidationError(Widget.spec): unknown field "bogus""#),
        "{stderr}"
    );
    // kubectl validates the whole file before sending anything.
    let mode = s
        .kubectl_ok(&["get", "configmap/settings", "-o", "jsonpath={.data.mode}"])
        .unwrap();
    assert_eq!(mode, "slow");

    // Without validation the items apply, and the server drops the unknown field.
    let out = s
        .kubectl_stdin(&["apply", "--validate=false", "-f", "-"], Some(&bad))
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spec = s
        .kubectl_ok(&["get", "widget/w1", "-o", "jsonpath={.spec}"])
        .unwrap();
    assert_eq!(spec, r#"{"size":3}"#);
}
