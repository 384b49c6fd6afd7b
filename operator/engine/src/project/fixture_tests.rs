//! A public SQLMesh project with Jinja (a part of sidataplus/demo-etl-sqlmesh-omop-synthea,
//! Apache-2.0: see `tests/fixtures/omop_synthea/README.md`) loads unchanged, and its Jinja
//! models expand to the query SQLMesh 0.236.4 renders (`expected/`).

use std::path::PathBuf;

use super::load;
use crate::graph::Dag;
use crate::macros::tests::normalize::assert_same_in;
use crate::model::ModelKind;

fn fixture() -> PathBuf {
    std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .join("tests/fixtures/omop_synthea")
}

#[test]
fn omop_synthea_loads_and_its_jinja_models_render_like_sqlmesh() {
    let project = load(&fixture()).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = project.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "int.location",
            "int.person",
            "map.states",
            "synthea.organizations",
            "synthea.patients",
            "stg.map__states",
            "stg.synthea__organizations",
            "stg.synthea__patients",
        ]
    );
    assert_eq!(project.config.gateway.as_deref(), Some("local"));
    for name in ["int.location", "int.person"] {
        let model = project.models.iter().find(|m| m.name == name).unwrap();
        assert_eq!(model.kind, ModelKind::Full);
        let expected =
            std::fs::read_to_string(fixture().join(format!("expected/{name}.sql"))).unwrap();
        let ours = model.query.as_deref().expect("a query");
        assert!(!ours.contains("{{") && !ours.contains("{%"), "{ours}");
        assert_same_in(ours, &expected, "db");
    }

    // The expanded queries are what the graph reads: their parents are found.
    let dag = Dag::build(&project).unwrap();
    let person = dag
        .nodes
        .iter()
        .find(|n| n.model.name == "int.person")
        .unwrap();
    assert_eq!(
        person.parents,
        ["int.location", "stg.map__states", "stg.synthea__patients"]
    );
    assert!(person.sources.is_empty(), "{:?}", person.sources);
}
