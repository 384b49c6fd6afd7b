//! `get` (alias `inspect`): an Environment, Plan or Promotion as a tree, or a list of them;
//! `--watch` repaints on change, `-o json|yaml` prints the objects for machines.

use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;
use kube::api::{Api, ListParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use sluice_api::{Environment, Plan, Promotion};

use super::client::{On, Session, get};
use super::output::{self, Format};
use super::retry::plan_jobs;
use super::views::{self, EnvironmentScene, PlanScene, PromotionScene, Scene};
use super::watch::{Frame, repaint};

#[derive(Args, Debug)]
pub struct GetArgs {
    /// `environment`, `plan` or `promotion` (plurals and short names too: env, senv, splan,
    /// sprom); `KIND/NAME` works as well. None: list all three.
    pub kind: Option<String>,
    /// The object; none: list every one of the kind.
    pub name: Option<String>,
    /// Print the objects as JSON or YAML instead.
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<Format>,
    /// Repaint whenever something changes (until interrupted).
    #[arg(long, short = 'w')]
    pub watch: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Environment,
    Plan,
    Promotion,
}

impl Kind {
    pub fn parse(word: &str) -> Result<Kind> {
        Ok(match word.to_ascii_lowercase().as_str() {
            "environment" | "environments" | "env" | "envs" | "senv" => Kind::Environment,
            "plan" | "plans" | "splan" => Kind::Plan,
            "promotion" | "promotions" | "prom" | "sprom" => Kind::Promotion,
            other => bail!("unknown kind {other:?}: use environment, plan or promotion"),
        })
    }
}

/// What to show: `(kind, name)` pairs from the arguments.
fn selection(args: &GetArgs) -> Result<Vec<(Kind, Option<String>)>> {
    let Some(word) = &args.kind else {
        return Ok(vec![
            (Kind::Environment, None),
            (Kind::Plan, None),
            (Kind::Promotion, None),
        ]);
    };
    let (kind, name) = match word.split_once('/') {
        Some((kind, name)) => (kind, Some(name.to_string())),
        None => (word.as_str(), args.name.clone()),
    };
    Ok(vec![(Kind::parse(kind)?, name)])
}

pub async fn run(s: &Session, args: &GetArgs, color: bool) -> Result<u8> {
    let selection = selection(args)?;
    let draw = || async {
        let now = output::now();
        let mut text = String::new();
        let mut key = String::new();
        for (i, (kind, name)) in selection.iter().enumerate() {
            if i > 0 {
                text.push('\n');
                key.push('\n');
            }
            let shown = show(s, *kind, name.as_deref(), args.output).await?;
            // Ages are measured from "now": rendered at a fixed time, only real changes differ.
            text.push_str(&shown.render(now, color));
            key.push_str(&shown.render(0, false));
        }
        Ok(Frame { text, key })
    };
    if args.watch {
        repaint(Duration::from_secs(1), draw).await?;
        return Ok(0);
    }
    output::emit(&draw().await?.text)?;
    Ok(0)
}

/// Something read, ready to render.
enum Shown {
    One(Box<dyn Scene>),
    Environments(Vec<Environment>),
    Plans(Vec<Plan>),
    Promotions(Vec<Promotion>),
    /// `-o json|yaml`.
    Serialized(String),
}

impl Shown {
    fn render(&self, now: i64, color: bool) -> String {
        match self {
            Shown::One(scene) => scene.render(now, color),
            Shown::Environments(items) => views::environments_table(items, now, color),
            Shown::Plans(items) => views::plans_table(items, now, color),
            Shown::Promotions(items) => views::promotions_table(items, now, color),
            Shown::Serialized(text) => text.clone(),
        }
    }
}

async fn show(
    s: &Session,
    kind: Kind,
    name: Option<&str>,
    format: Option<Format>,
) -> Result<Shown> {
    if let Some(format) = format {
        let value = match (kind, name) {
            (Kind::Environment, Some(n)) => {
                json!(get::<Environment>(&s.api(), "environment", &s.namespace, n).await?)
            }
            (Kind::Plan, Some(n)) => json!(get::<Plan>(&s.api(), "plan", &s.namespace, n).await?),
            (Kind::Promotion, Some(n)) => {
                json!(get::<Promotion>(&s.api(), "promotion", &s.namespace, n).await?)
            }
            (Kind::Environment, None) => as_list(list::<Environment>(s).await?),
            (Kind::Plan, None) => as_list(list::<Plan>(s).await?),
            (Kind::Promotion, None) => as_list(list::<Promotion>(s).await?),
        };
        return Ok(Shown::Serialized(output::serialize(&value, format)?));
    }
    Ok(match (kind, name) {
        (Kind::Environment, Some(n)) => Shown::One(Box::new(EnvironmentScene {
            environment: get(&s.api(), "environment", &s.namespace, n).await?,
            promotions: list(s).await.unwrap_or_default(),
        })),
        (Kind::Plan, Some(n)) => {
            let plan: Plan = get(&s.api(), "plan", &s.namespace, n).await?;
            Shown::One(Box::new(PlanScene {
                jobs: plan_jobs(&s.api(), &plan).await.ok(),
                promotions: list(s).await.unwrap_or_default(),
                plan,
            }))
        }
        (Kind::Promotion, Some(n)) => {
            let promotion: Promotion = get(&s.api(), "promotion", &s.namespace, n).await?;
            let plan = match &promotion.spec.plan {
                Some(p) => s.api::<Plan>().get_opt(p).await.ok().flatten(),
                None => None,
            };
            let env_name = views::promotion_environment(&promotion)
                .or_else(|| plan.as_ref().map(|p| p.spec.environment.clone()));
            let environment = match env_name {
                Some(e) => s.api::<Environment>().get_opt(&e).await.ok().flatten(),
                None => None,
            };
            Shown::One(Box::new(PromotionScene {
                promotion,
                plan,
                environment,
            }))
        }
        (Kind::Environment, None) => Shown::Environments(list(s).await?),
        (Kind::Plan, None) => Shown::Plans(list(s).await?),
        (Kind::Promotion, None) => Shown::Promotions(list(s).await?),
    })
}

/// Every object of a kind in the namespace, by name.
pub async fn list<K>(s: &Session) -> Result<Vec<K>>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    <K as Resource>::DynamicType: Default,
{
    let api: Api<K> = s.api();
    let mut items = api
        .list(&ListParams::default())
        .await
        .on(format!(
            "{}s in namespace {}",
            K::kind(&Default::default()).to_lowercase(),
            s.namespace
        ))?
        .items;
    items.sort_by_key(|o| o.name_any());
    Ok(items)
}

fn as_list<K: Serialize>(items: Vec<K>) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}
