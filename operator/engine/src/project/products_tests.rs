use super::*;
use crate::model::{AuditCall, Dialect, ModelKind};
use crate::products::ConsumerKind;

fn model(name: &str, tags: &[&str], audits: &[&str]) -> Model {
    Model {
        name: name.into(),
        path: format!("models/{name}.sql").into(),
        kind: ModelKind::Full,
        dialect: Dialect::Duckdb,
        cron: "@daily".into(),
        start: None,
        end: None,
        owner: None,
        description: None,
        grains: vec![],
        tags: tags.iter().map(|t| t.to_string()).collect(),
        audits: audits
            .iter()
            .map(|a| AuditCall {
                name: a.to_string(),
                args: Default::default(),
            })
            .collect(),
        depends_on: vec![],
        columns: vec![],
        query: Some("SELECT 1 AS x".into()),
        query_line: 1,
        pre_statements: vec![],
        post_statements: vec![],
        seed_content: None,
        grants: Default::default(),
        grants_target_layer: Default::default(),
    }
}

fn models() -> Vec<Model> {
    vec![
        model("stg.customers", &["staging", "pii"], &["not_null"]),
        model(
            "mart.daily_revenue",
            &["finance"],
            &["not_null", "unique_values"],
        ),
        model("mart.customer_orders", &["growth"], &[]),
    ]
}

const GOOD: &str = "products:
  - name: revenue
    description: Daily revenue for finance.
    owners: {users: [fiona], groups: [finance-data]}
    models: [mart.daily_revenue, tag:pii]
    consumers:
      - {name: Finance dashboard, kind: dashboard, owner: fiona, url: 'https://bi.example.com/d/1'}
      - {name: revenue-bot, kind: agent_tool, contact: '#finance-data'}
    promises:
      freshness: 26h
      quality: [unique_values]
    classification: [pii]
  - name: growth
    models: ['mart.customer_*']
    promises: {schema: none}
";

#[test]
fn products_resolve_names_tags_and_globs() {
    let products = parse(GOOD, &models()).unwrap();
    assert_eq!(products.len(), 2);
    let revenue = &products[0];
    assert_eq!(revenue.models, ["mart.daily_revenue", "stg.customers"]);
    assert_eq!(revenue.promises.freshness_seconds, Some(26 * 3600));
    assert_eq!(revenue.consumers[1].kind, ConsumerKind::AgentTool);
    assert!(revenue.owners.admits("fiona", &[]));
    assert!(revenue.owners.admits("gus", &["finance-data".to_string()]));
    assert!(!revenue.owners.admits("gus", &[]));
    assert_eq!(products[1].models, ["mart.customer_orders"]);
    assert_eq!(products[1].promises.schema, SchemaPromise::None);
    assert!(parse("", &models()).unwrap().is_empty());
}

#[test]
fn mistakes_are_reported_together_with_their_lines() {
    let text = "products:
  - name: revenue
    models: [mart.daily_revenu, 'mart.daily_*', 'fin.*']
    promises: {freshness: 26 hours, quality: [accepted_range]}
  - name: revenue
    models: [mart.daily_revenue]
";
    let errors = parse(text, &models()).unwrap_err();
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let expected = [
        "products.yaml:2: product \"revenue\": models: \"mart.daily_revenu\" matches no model in the project",
        "products.yaml:2: product \"revenue\": models: \"fin.*\" matches no model in the project",
        "products.yaml:2: product \"revenue\": promises.freshness: invalid duration \"26 hours\" (use e.g. 7d, 12h, 30m)",
        "products.yaml:2: product \"revenue\": promises.quality names audit \"accepted_range\", which none of its models runs",
        "product \"revenue\": duplicate product name",
    ];
    for want in expected {
        assert!(
            messages.iter().any(|m| m.contains(want)),
            "missing {want:?} in {messages:#?}"
        );
    }
}

#[test]
fn unknown_keys_and_consumer_kinds_are_refused() {
    let e = parse(
        "products:\n  - name: x\n    models: [stg.customers]\n    owner: me\n",
        &models(),
    )
    .unwrap_err();
    assert!(e[0].to_string().contains("owner"), "{}", e[0]);
    let e = parse(
        "products:\n  - name: x\n    models: [stg.customers]\n    consumers: [{name: a, kind: spreadsheet}]\n",
        &models(),
    )
    .unwrap_err();
    assert!(e[0].to_string().contains("spreadsheet"), "{}", e[0]);
}
