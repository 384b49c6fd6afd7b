//! `sluice demo`: the story a newcomer should see, on a fresh DuckDB file with no setup —
//! build prod, change a model, plan and apply dev, promote to prod, roll back.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sluice_warehouse::workspace::Workspace;

use super::flip::FlipArgs;
use super::{ApplyFlags, LineageArgs, PlanArgs, apply_command, plan_command, rollback_command};

/// The example project, compiled in so the demo needs nothing on disk.
const PROJECT: &[(&str, &str)] = &[
    (
        "config.yaml",
        include_str!("../../../../config/samples/shop/config.yaml"),
    ),
    (
        "README.md",
        include_str!("../../../../config/samples/shop/README.md"),
    ),
    (
        "products.yaml",
        include_str!("../../../../config/samples/shop/products.yaml"),
    ),
    (
        "audits/assert_positive_amount.sql",
        include_str!("../../../../config/samples/shop/audits/assert_positive_amount.sql"),
    ),
    (
        "models/raw/customers.sql",
        include_str!("../../../../config/samples/shop/models/raw/customers.sql"),
    ),
    (
        "models/raw/orders.sql",
        include_str!("../../../../config/samples/shop/models/raw/orders.sql"),
    ),
    (
        "models/stg/customers.sql",
        include_str!("../../../../config/samples/shop/models/stg/customers.sql"),
    ),
    (
        "models/stg/orders.sql",
        include_str!("../../../../config/samples/shop/models/stg/orders.sql"),
    ),
    (
        "models/stg/valid_orders.sql",
        include_str!("../../../../config/samples/shop/models/stg/valid_orders.sql"),
    ),
    (
        "models/mart/customer_orders.sql",
        include_str!("../../../../config/samples/shop/models/mart/customer_orders.sql"),
    ),
    (
        "models/mart/daily_revenue.sql",
        include_str!("../../../../config/samples/shop/models/mart/daily_revenue.sql"),
    ),
    (
        "seeds/customers.csv",
        include_str!("../../../../config/samples/shop/seeds/customers.csv"),
    ),
    (
        "seeds/orders.csv",
        include_str!("../../../../config/samples/shop/seeds/orders.csv"),
    ),
];

const NON_BREAKING_EDIT: &str =
    include_str!("../../../../config/samples/shop-changes/stg_orders_add_column.sql");
const BREAKING_EDIT: &str =
    include_str!("../../../../config/samples/shop-changes/daily_revenue_breaking.sql");

/// The sample data covers 2024-01-01..07; "now" is the morning after.
const EXECUTION_TIME: &str = "2024-01-08";

fn step(n: u32, title: &str, command: &str) {
    let (bold, plain) = if std::io::stdout().is_terminal() {
        ("\x1b[1m", "\x1b[0m")
    } else {
        ("", "")
    };
    println!("\n{bold}== {n}. {title}{plain}\n$ {command}\n");
}

fn args(environment: &str) -> PlanArgs {
    PlanArgs {
        environment: environment.to_string(),
        start: None,
        end: None,
        execution_time: Some(EXECUTION_TIME.to_string()),
        forward_only: false,
        restate: Vec::new(),
    }
}

/// `--yes`, the default ttl, no lineage, the default flip policy.
fn quiet() -> ApplyFlags<'static> {
    static NO_LINEAGE: LineageArgs = LineageArgs {
        lineage_url: None,
        lineage_file: None,
    };
    ApplyFlags {
        yes: true,
        ttl: "7d",
        lineage: &NO_LINEAGE,
        flip: default_flip(),
    }
}

fn default_flip() -> &'static FlipArgs {
    static FLIP: std::sync::OnceLock<FlipArgs> = std::sync::OnceLock::new();
    FLIP.get_or_init(|| FlipArgs {
        lock_timeout: "1s".into(),
        wait_for_readers: "10m".into(),
        require_atomic: false,
    })
}

/// Prints a query's rows as a small table.
fn show(project: &Path, title: &str, sql: &str) -> Result<()> {
    let mut wh = Workspace::warehouse_only(project, None, None)?;
    let rows = wh.query(sql)?;
    println!("{title}  ({sql})");
    for row in rows {
        let cells: Vec<String> = row
            .into_iter()
            .map(|c| c.unwrap_or_else(|| "NULL".into()))
            .collect();
        println!("  {}", cells.join(" | "));
    }
    Ok(())
}

pub fn run(dir: Option<PathBuf>) -> Result<()> {
    let root = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("sluice-demo-{}", std::process::id())),
    };
    if root.join(".sluice").exists() {
        anyhow::bail!(
            "{} already holds a demo warehouse; pick another --dir or remove it",
            root.display()
        );
    }
    for (path, content) in PROJECT {
        let target = root.join(path);
        std::fs::create_dir_all(target.parent().expect("files are in folders"))
            .with_context(|| format!("creating {}", target.display()))?;
        std::fs::write(&target, content)
            .with_context(|| format!("writing {}", target.display()))?;
    }
    println!(
        "Sluice demo: the shop project in {} on an embedded DuckDB file.",
        root.display()
    );
    let p = root.as_path();

    step(
        1,
        "Build production from scratch",
        "sluice apply prod --yes",
    );
    apply_command(p, None, None, &args("prod"), quiet())?;
    show(
        p,
        "prod revenue",
        "SELECT order_date, order_count, revenue FROM mart.daily_revenue ORDER BY order_date LIMIT 3",
    )?;

    step(
        2,
        "Change a model: add is_returned in the middle of stg.orders",
        "$EDITOR models/stg/orders.sql",
    );
    std::fs::write(root.join("models/stg/orders.sql"), NON_BREAKING_EDIT)?;
    println!("Added one projection; nothing else changed, so the change is non-breaking.");

    step(3, "Plan it in a dev environment", "sluice plan dev");
    plan_command(p, None, None, &args("dev"), false)?;

    step(
        4,
        "Apply dev: only stg.orders is rebuilt; prod is untouched",
        "sluice apply dev --yes",
    );
    apply_command(p, None, None, &args("dev"), quiet())?;
    show(
        p,
        "dev has the new column",
        "SELECT order_id, status, is_returned FROM stg__dev.orders ORDER BY order_id LIMIT 2",
    )?;
    show(
        p,
        "prod does not",
        "SELECT COUNT(*) AS prod_columns_named_is_returned FROM information_schema.columns \
         WHERE table_schema = 'stg' AND table_name = 'orders' AND column_name = 'is_returned'",
    )?;

    step(
        5,
        "A breaking change is categorized too, and its data product impact shown (plan only)",
        "sluice plan dev",
    );
    let original_mart = std::fs::read_to_string(root.join("models/mart/daily_revenue.sql"))?;
    std::fs::write(root.join("models/mart/daily_revenue.sql"), BREAKING_EDIT)?;
    plan_command(p, None, None, &args("dev"), false)?;
    std::fs::write(root.join("models/mart/daily_revenue.sql"), original_mart)?;
    println!("(edit reverted)");

    step(
        6,
        "Promote to prod: the tables dev built are reused, no backfill",
        "sluice apply prod --yes",
    );
    apply_command(p, None, None, &args("prod"), quiet())?;
    show(
        p,
        "prod now has the column",
        "SELECT order_id, status, is_returned FROM stg.orders ORDER BY order_id LIMIT 2",
    )?;

    step(
        7,
        "The release's evidence: gates, approvals, products, audits, rollback target",
        "sluice evidence prod-r2",
    );
    super::release::evidence_command(p, None, None, "prod-r2", false)?;
    show(
        p,
        "what an agent reading prod's views can ask",
        "SELECT environment, release_id, promoted_at, plan_id FROM sluice.current_release \
         WHERE environment = 'prod'",
    )?;

    step(
        8,
        "Roll back prod: an instant re-point to the previous release's tables",
        "sluice rollback prod",
    );
    rollback_command(p, None, None, "prod", None, default_flip())?;
    show(
        p,
        "prod is back",
        "SELECT COUNT(*) AS prod_columns_named_is_returned FROM information_schema.columns \
         WHERE table_schema = 'stg' AND table_name = 'orders' AND column_name = 'is_returned'",
    )?;

    println!(
        "\nDone. Explore with: sluice --project {} releases prod",
        root.display()
    );
    Ok(())
}
