//! Data products under the operator, end to end: a Promotion waits for a product owner when a
//! change breaks an exposed model (and not when it does not), for a classification's
//! approvers when it touches `pii`, and for freshness when promoting would leave a product
//! stale (until a backfill catches up); the release's evidence ConfigMap validates against
//! `docs/evidence.schema.json`; the OpenLineage event reaches a local HTTP receiver after a
//! failed attempt and validates against the official 2-0-2 schema; an unreachable endpoint
//! never blocks a promotion; the warehouse's `sluice.current_release` follows every flip.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Result;
use support::{MINUTE, Shop, jsonpath, psql, render, repo, wait_until, warehouse_secret};

/// A loopback HTTP receiver: answers requests with `statuses` in turn (then 200) and sends
/// each body it gets down the channel.
fn receiver(statuses: Vec<u16>) -> (String, mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut statuses = statuses.into_iter();
        for stream in listener.incoming().take(20) {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream);
            let (mut line, mut length) = (String::new(), 0usize);
            let _ = reader.read_line(&mut line);
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let status = statuses.next().unwrap_or(200);
            let mut stream = reader.into_inner();
            let _ = write!(stream, "HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
            let _ = tx.send(String::from_utf8_lossy(&body).into_owned());
        }
    });
    (url, rx)
}

fn schema(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join("docs").join(path)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn assert_valid(schema: &serde_json::Value, doc: &serde_json::Value) {
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

/// The gate's `state: message`, or "" when the Promotion has no such gate.
fn gate(shop: &Shop, promotion: &str, name: &str) -> String {
    jsonpath(
        &shop.s,
        &format!("promotion/{promotion}"),
        &format!(
            "{{.status.gates[?(@.name==\"{name}\")].state}}: {{.status.gates[?(@.name==\"{name}\")].message}}"
        ),
    )
}

fn wait_gate(shop: &Shop, promotion: &str, name: &str, starts_with: &str) -> Result<String> {
    wait_until(
        &format!("{promotion} gate {name} to be {starts_with}"),
        3 * MINUTE,
        || shop.context(),
        || {
            let g = gate(shop, promotion, name);
            g.starts_with(starts_with).then_some(g)
        },
    )
}

fn promote(shop: &Shop, name: &str, plan: &str) -> Result<()> {
    shop.s.apply(&support::promotion(name, plan))?;
    Ok(())
}

fn environments(lineage: &str, dead: &str) -> String {
    format!(
        "apiVersion: sluice.dev/v1alpha1
kind: Environment
metadata:
  name: prod
spec:
  warehouse:
    secretRef: {{name: warehouse, key: url}}
  lineage:
    url: {lineage}
  promotion:
    requiredApprovals: 1
    approvers:
      users: [alice, bob]
    classifications:
      pii:
        users: [priya]
---
apiVersion: sluice.dev/v1alpha1
kind: Environment
metadata:
  name: dev
spec:
  warehouse:
    secretRef: {{name: warehouse, key: url}}
  lineage:
    url: {dead}
  promotion:
    auto: true
"
    )
}

#[test]
fn product_gates_evidence_lineage_and_freshness_under_the_operator() -> Result<()> {
    let shop = Shop::bare()?;
    let s = &shop.s;
    let url = &shop.url;
    let (lineage, events) = receiver(vec![503]);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?;
    let dead = format!("http://{}", closed.local_addr()?);
    drop(closed);
    s.apply(&warehouse_secret(url))?;
    s.apply(&environments(&lineage, &dead))?;
    let project = repo().join("config/samples/shop");

    // A plan computed three days ago: promoting it now would show three-day-old revenue.
    let three_days_ago = chrono_date(-3);
    let pinned = render(&project, "prod", "shop-v1", Some("carol@example.com"))?.replace(
        "  options:\n",
        &format!("  options:\n    executionTime: '{three_days_ago}'\n"),
    );
    s.apply(&pinned)?;
    shop.wait_for(
        "plan shop-v1 Ready",
        &["--for=condition=Ready", "plan/shop-v1"],
        4 * MINUTE,
    )?;
    let impact = jsonpath(s, "plan/shop-v1", "{.status.impact.classifications}");
    assert!(impact.contains("pii"), "{impact}");
    promote(&shop, "shop-v1-prod", "shop-v1")?;
    shop.approve("shop-v1-prod", "alice")?;
    // The quorum is met, but the pii models wait for priya, and revenue is stale.
    let pii = wait_gate(&shop, "shop-v1-prod", "policy/pii", "Pending")?;
    assert!(pii.contains("priya"), "{pii}");
    let fresh = wait_gate(&shop, "shop-v1-prod", "freshness", "Pending")?;
    assert!(
        fresh.contains("product revenue: mart.daily_revenue is 3d")
            && fresh.contains("behind (promise: 26h)"),
        "{fresh}"
    );
    wait_until(
        "alice's approval to count",
        MINUTE,
        || shop.context(),
        || {
            (jsonpath(s, "promotion/shop-v1-prod", "{.status.approvalCount}") == "1/1")
                .then_some(())
        },
    )?;
    shop.approve("shop-v1-prod", "priya")?;
    wait_gate(&shop, "shop-v1-prod", "policy/pii", "Passed")?;
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(shop.phase("promotion/shop-v1-prod"), "Pending");
    assert!(
        !support::exists(url, "mart.daily_revenue"),
        "nothing flipped"
    );

    // The same project planned into dev today backfills the shared tables up to now; the
    // prod promotion then passes. Dev's lineage endpoint is dead: dev is promoted anyway.
    s.apply(&render(&project, "dev", "shop-dev", None)?)?;
    shop.wait_for(
        "dev auto-promotion",
        &["--for=condition=Ready", "promotion/shop-dev-auto"],
        4 * MINUTE,
    )?;
    shop.wait_for(
        "promotion shop-v1-prod Ready",
        &["--for=condition=Ready", "promotion/shop-v1-prod"],
        3 * MINUTE,
    )?;
    assert_eq!(
        psql(
            url,
            "SELECT release_id FROM sluice.current_release WHERE environment = 'prod'"
        )?,
        ["prod-r1"]
    );
    wait_until(
        "dev's lineage to be retried",
        MINUTE,
        || shop.context(),
        || {
            let state = jsonpath(
                s,
                "promotion/shop-dev-auto",
                "{.status.lineage.state}/{.status.lineage.attempts}",
            );
            (state.starts_with("Retrying/") && !state.ends_with("/1")).then_some(())
        },
    )?;

    // The evidence ConfigMap the Promotion owns is a complete, valid record.
    let cm = jsonpath(s, "promotion/shop-v1-prod", "{.status.evidence}");
    assert_eq!(cm, "shop-v1-prod-evidence");
    let text = jsonpath(s, &format!("configmap/{cm}"), "{.data.evidence\\.json}");
    let evidence: serde_json::Value = serde_json::from_str(&text)?;
    assert_valid(&schema("evidence.schema.json"), &evidence);
    let approvers: Vec<&str> = evidence["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["user"].as_str().unwrap())
        .collect();
    assert_eq!(approvers, ["alice", "priya"]);
    let gates: Vec<String> = evidence["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            format!(
                "{}={}",
                g["name"].as_str().unwrap(),
                g["state"].as_str().unwrap()
            )
        })
        .collect();
    for expected in [
        "policy/pii=passed",
        "approvals=passed",
        "freshness=passed",
        "quality=passed",
        "rollback-readiness=passed",
    ] {
        assert!(gates.contains(&expected.to_string()), "{gates:?}");
    }
    assert!(
        evidence["source"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(!evidence["audits"].as_array().unwrap().is_empty());
    assert_eq!(evidence["products"][0]["name"], "revenue");

    // The lineage event: one failed attempt, then delivered, valid OpenLineage 2-0-2.
    let first = events.recv_timeout(Duration::from_secs(60))?;
    let second = events.recv_timeout(Duration::from_secs(60))?;
    assert_eq!(first, second, "the retry sends the same event");
    let event: serde_json::Value = serde_json::from_str(&second)?;
    assert_valid(&schema("openlineage/OpenLineage.json"), &event);
    assert_eq!(event["job"]["name"], "sluice.promote.prod");
    wait_until(
        "lineage Sent",
        MINUTE,
        || shop.context(),
        || {
            (jsonpath(s, "promotion/shop-v1-prod", "{.status.lineage.state}") == "Sent")
                .then_some(())
        },
    )?;

    // A breaking change to an exposed model waits for a revenue owner after the quorum.
    let v2 = support::copy_project(&project)?;
    std::fs::copy(
        repo().join("config/samples/shop-changes/daily_revenue_breaking.sql"),
        v2.path().join("models/mart/daily_revenue.sql"),
    )?;
    plan_and_promote(&shop, v2.path(), "shop-v2")?;
    let owner = wait_gate(&shop, "shop-v2-prod", "owner-approval/revenue", "Pending")?;
    assert!(owner.contains("fiona"), "{owner}");
    assert_eq!(shop.phase("promotion/shop-v2-prod"), "AwaitingApproval");
    shop.approve("shop-v2-prod", "fiona")?;
    shop.wait_for(
        "promotion shop-v2-prod Ready",
        &["--for=condition=Ready", "promotion/shop-v2-prod"],
        2 * MINUTE,
    )?;

    // A non-breaking change needs no owner.
    std::fs::copy(
        repo().join("config/samples/shop-changes/stg_orders_add_column.sql"),
        v2.path().join("models/stg/orders.sql"),
    )?;
    plan_and_promote(&shop, v2.path(), "shop-v3")?;
    shop.wait_for(
        "promotion shop-v3-prod Ready",
        &["--for=condition=Ready", "promotion/shop-v3-prod"],
        2 * MINUTE,
    )?;
    let gates = jsonpath(s, "promotion/shop-v3-prod", "{.status.gates[*].name}");
    assert!(!gates.contains("owner-approval"), "{gates}");
    assert_eq!(
        psql(
            url,
            "SELECT release_id FROM sluice.current_release WHERE environment = 'prod'"
        )?,
        ["prod-r3"]
    );

    // Promises kept after release: the Environment shows each product, and the gauge.
    wait_until(
        "product freshness in Environment status",
        MINUTE,
        || shop.context(),
        || {
            let state = jsonpath(
                s,
                "environment/prod",
                "{.status.products[?(@.name==\"revenue\")].state}",
            );
            (state == "ok").then_some(())
        },
    )?;
    let metrics = shop.operator().metrics();
    assert!(
        metrics
            .contains("sluice_product_freshness_seconds{product=\"revenue\",environment=\"prod\"}"),
        "{metrics}"
    );
    Ok(())
}

/// Plans `project` into prod as `name` and promotes it with alice's approval.
fn plan_and_promote(shop: &Shop, project: &Path, name: &str) -> Result<()> {
    shop.s
        .apply(&render(project, "prod", name, Some("carol@example.com"))?)?;
    shop.wait_for(
        &format!("plan {name} Ready"),
        &["--for=condition=Ready", &format!("plan/{name}")],
        4 * MINUTE,
    )?;
    let promotion = format!("{name}-prod");
    promote(shop, &promotion, name)?;
    shop.approve(&promotion, "alice")?;
    Ok(())
}

/// `YYYY-MM-DD`, `days` from today (UTC).
fn chrono_date(days: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let day = now.div_euclid(86_400) + days;
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}
