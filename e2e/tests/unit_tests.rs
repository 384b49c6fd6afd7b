//! A project's unit tests under the operator: run when a Plan is computed, shown in its status,
//! and a failing one blocks the Promotion (gate `unit-tests`, naming the rows that differ) until
//! a Plan whose tests pass replaces it.

mod support;

use anyhow::Result;
use support::{MINUTE, Shop, copy_project, jsonpath, render, repo, wait_until};

#[test]
fn a_failing_unit_test_blocks_the_promotion() -> Result<()> {
    let shop = Shop::start()?;
    let s = &shop.s;
    let project = copy_project(&repo().join("config/samples/shop"))?;
    let test = project.path().join("tests/test_stg_orders.yaml");
    let passing = std::fs::read_to_string(&test)?;
    // Someone "fixes" the test's expectation wrongly: 12.50 becomes 13.
    std::fs::write(&test, passing.replace("amount: 12.50", "amount: 13"))?;
    s.apply(&render(project.path(), "dev", "shop-tests", None)?)?;
    shop.wait_for(
        "plan shop-tests Ready",
        &["--for=condition=Ready", "plan/shop-tests"],
        3 * MINUTE,
    )?;
    assert_eq!(
        jsonpath(s, "plan/shop-tests", "{.status.unitTests.failed}"),
        "1"
    );
    let gate = wait_until(
        "the auto-promotion to report its unit-tests gate",
        MINUTE,
        || shop.context(),
        || {
            let state = jsonpath(
                s,
                "promotion/shop-tests-auto",
                "{.status.gates[?(@.name==\"unit-tests\")].state}",
            );
            (state == "Failed").then(|| {
                jsonpath(
                    s,
                    "promotion/shop-tests-auto",
                    "{.status.gates[?(@.name==\"unit-tests\")].message}",
                )
            })
        },
    )?;
    assert!(
        gate.contains("test_orders_are_cleaned")
            && gate.contains("expected but not returned")
            && gate.contains("13"),
        "{gate}"
    );
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_ne!(shop.phase("promotion/shop-tests-auto"), "Promoted");
    assert!(
        !support::exists(&shop.url, "stg__dev.orders"),
        "nothing reached dev while a unit test fails"
    );

    // The test as it was: the next Plan passes and is promoted.
    std::fs::write(&test, passing)?;
    s.apply(&render(project.path(), "dev", "shop-tests-fixed", None)?)?;
    shop.wait_for(
        "the fixed plan's promotion",
        &["--for=condition=Ready", "promotion/shop-tests-fixed-auto"],
        3 * MINUTE,
    )?;
    assert_eq!(
        jsonpath(s, "plan/shop-tests-fixed", "{.status.unitTests.passed}"),
        "1"
    );
    Ok(())
}
