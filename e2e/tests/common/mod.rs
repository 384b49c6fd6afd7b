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
