//! `releases ENV`: the environment's releases, newest first, from what the cluster shows: the
//! Promotions that made them (when, what, who created and approved them) and the Environment's
//! current release. The warehouse keeps the full history (`sluice releases`); the plugin never
//! reads it.

use anyhow::Result;
use clap::Args;
use kube::ResourceExt;
use serde::Serialize;
use sluice_api::promotion::CREATED_BY;
use sluice_api::{Environment, Promotion};

use super::client::{Session, get};
use super::get::list;
use super::output::{self, Cell, Format, Tone, status};
use super::views::{promotion_environment, target};

#[derive(Args, Debug)]
pub struct ReleasesArgs {
    /// The Environment.
    pub environment: String,
    /// Print the releases as JSON or YAML.
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<Format>,
}

/// One release, as the cluster knows it.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseRow {
    pub id: String,
    pub live: bool,
    /// RFC 3339.
    pub promoted_at: String,
    /// The Promotion that made it, if it is still in the namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion: Option<String>,
    /// `plan shop-v2`, `rollback to prod-r1`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    pub approved_by: Vec<String>,
    /// Whether a rollback to it is still possible (`None`: the operator has not said).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restorable: Option<bool>,
}

/// The releases of `env`, newest first.
pub fn releases(env: &Environment, promotions: &[Promotion]) -> Vec<ReleaseRow> {
    let name = env.name_any();
    let live = env.status.as_ref().and_then(|s| s.release.clone());
    let mut rows: Vec<ReleaseRow> = promotions
        .iter()
        .filter(|p| promotion_environment(p).as_deref() == Some(name.as_str()))
        .filter_map(|p| {
            let status = p.status.as_ref()?;
            let release = status.release.as_ref()?;
            Some(ReleaseRow {
                id: release.id.clone(),
                live: live.as_ref().is_some_and(|l| l.id == release.id),
                promoted_at: release.promoted_at.clone(),
                promotion: Some(p.name_any()),
                what: target(p),
                created_by: p.annotations().get(CREATED_BY).cloned(),
                approved_by: status
                    .approvals
                    .iter()
                    .filter(|a| a.counted)
                    .map(|a| a.user.clone())
                    .collect(),
                restorable: None,
            })
        })
        .collect();
    if let Some(l) = live
        && !rows.iter().any(|r| r.id == l.id)
    {
        rows.push(ReleaseRow {
            id: l.id.clone(),
            live: true,
            promoted_at: l.promoted_at.clone(),
            promotion: l.promotion.clone(),
            what: l.plan.map(|p| format!("plan {p}")).unwrap_or_default(),
            created_by: None,
            approved_by: l.approved_by.clone(),
            restorable: None,
        });
    }
    let availability = env
        .status
        .as_ref()
        .map(|s| s.releases.clone())
        .unwrap_or_default();
    for row in &mut rows {
        row.restorable = availability
            .iter()
            .find(|a| a.id == row.id)
            .map(|a| a.restorable);
    }
    rows.sort_by_key(|r| std::cmp::Reverse((number(&r.id), r.promoted_at.clone())));
    rows
}

/// The number of `prod-r12`.
fn number(id: &str) -> i64 {
    id.rsplit_once("-r")
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0)
}

pub fn table(rows: &[ReleaseRow], now: i64, color: bool) -> String {
    let header = [
        "RELEASE",
        "STATUS",
        "ROLLBACK",
        "PROMOTED",
        "AGE",
        "PROMOTION",
        "WHAT",
        "CREATED BY",
        "APPROVED BY",
    ]
    .map(String::from);
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    let cells: Vec<Vec<Cell>> = rows
        .iter()
        .map(|r| {
            let live = if r.live {
                status(Tone::Good, "Live")
            } else {
                status(Tone::Neutral, "Earlier")
            };
            // Whether `rollback --to` this release can still work.
            let rollback = match (r.live, r.restorable) {
                (true, _) | (false, None) => None,
                (false, Some(true)) => Some(status(Tone::Good, "yes")),
                (false, Some(false)) => Some(status(Tone::Bad, "cleaned")),
            };
            vec![
                Cell::from(r.id.as_str()),
                Cell::from(&live),
                rollback
                    .as_ref()
                    .map_or_else(|| Cell::from("-"), Cell::from),
                Cell::from(r.promoted_at.as_str()),
                Cell::from(
                    output::epoch(&r.promoted_at)
                        .map(|t| output::age(now - t))
                        .unwrap_or_default(),
                ),
                Cell::from(dash(r.promotion.as_deref().unwrap_or_default())),
                Cell::from(dash(&r.what)),
                Cell::from(dash(r.created_by.as_deref().unwrap_or_default())),
                Cell::from(dash(&r.approved_by.join(","))),
            ]
        })
        .collect();
    output::table(&header, &cells, color)
}

pub async fn run(s: &Session, args: &ReleasesArgs, color: bool) -> Result<u8> {
    let env: Environment = get(&s.api(), "environment", &s.namespace, &args.environment).await?;
    let promotions: Vec<Promotion> = list(s).await?;
    let rows = releases(&env, &promotions);
    match args.output {
        Some(format) => output::emit(&output::serialize(&rows, format)?)?,
        None if rows.is_empty() => println!(
            "environment {} has no release yet (`kubectl sluice promote PLAN` makes one)",
            args.environment
        ),
        None => output::emit(&table(&rows, output::now(), color))?,
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::super::views::fixtures;
    use super::*;

    #[test]
    fn releases_come_from_promotions_and_the_live_release() {
        let mut promoted = fixtures::promotion_awaiting();
        let status = promoted.status.as_mut().unwrap();
        status.phase = sluice_api::PromotionPhase::Promoted;
        status.release = Some(sluice_api::promotion::PromotedRelease {
            id: "prod-r3".into(),
            promoted_at: "2024-02-20T10:00:00Z".into(),
        });
        let mut prod = fixtures::prod();
        prod.status.as_mut().unwrap().releases = vec![
            sluice_api::environment::ReleaseAvailability {
                id: "prod-r4".into(),
                restorable: true,
                reason: String::new(),
            },
            sluice_api::environment::ReleaseAvailability {
                id: "prod-r3".into(),
                restorable: false,
                reason: "tables dropped by the janitor: stg.orders".into(),
            },
        ];
        let rows = releases(&prod, &[promoted, fixtures::promotion_rejected()]);
        fixtures::golden("releases.txt", &table(&rows, fixtures::NOW, false));
        assert!(rows[0].live && rows[0].id == "prod-r4");
        assert!(!rows[1].live && rows[1].id == "prod-r3");
        assert_eq!(
            rows[1].restorable,
            Some(false),
            "the janitor cleaned prod-r3"
        );
    }
}
