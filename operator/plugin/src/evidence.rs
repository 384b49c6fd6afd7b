//! `evidence RELEASE`: what a release did and why it was allowed (docs/evidence.schema.json),
//! from the ConfigMap the operator wrote for the Promotion that made it. The warehouse keeps
//! every release's evidence too (`sluice releases --json`); the plugin never reads it.

use anyhow::{Result, bail};
use clap::Args;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::ListParams;
use sluice_api::Promotion;
use sluice_api::approval::abbreviate;
use sluice_api::labels::label_value;
use sluice_engine::evidence::{Evidence, decode, render, text_digest};

use super::client::{Session, explain};
use super::output::{self, Format};

#[derive(Args, Debug)]
pub struct EvidenceArgs {
    /// The release (`prod-r3`; `kubectl sluice releases ENV` lists them).
    pub release: String,
    /// Print the evidence document: JSON as the operator stored it, or YAML.
    #[arg(long, short = 'o', value_enum)]
    pub output: Option<Format>,
}

/// The release's evidence document, as stored, and decoded.
async fn find(s: &Session, release: &str) -> Result<Option<(String, Evidence)>> {
    let selector = format!("sluice.dev/release={}", label_value(release));
    let maps = s
        .api::<ConfigMap>()
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| {
            explain(
                e,
                format!("the evidence ConfigMaps in namespace {}", s.namespace),
            )
        })?;
    for map in maps.items {
        let Some(text) = map.data.as_ref().and_then(|d| d.get("evidence.json")) else {
            continue;
        };
        // Label values are shortened; the document says which release it is.
        if let Ok(evidence) = decode(text)
            && evidence.release == release
        {
            verify(s, &map, text).await?;
            return Ok(Some((text.clone(), evidence)));
        }
    }
    Ok(None)
}

/// Refuses evidence the operator did not write: the ConfigMap must be the one its Promotion's
/// status names, holding exactly the document whose digest the operator recorded there (status
/// is written only by the operator).
async fn verify(s: &Session, map: &ConfigMap, text: &str) -> Result<()> {
    let name = map.metadata.name.clone().unwrap_or_default();
    let owner = map
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "Promotion" && o.controller == Some(true));
    let Some(owner) = owner else {
        bail!(
            "ConfigMap {}/{name} claims to hold evidence but no Promotion owns it: not showing it",
            s.namespace
        );
    };
    let promotion = s
        .api::<Promotion>()
        .get_opt(&owner.name)
        .await
        .map_err(|e| explain(e, format!("promotion {}/{}", s.namespace, owner.name)))?;
    let status = promotion
        .filter(|p| p.metadata.uid.as_deref() == Some(owner.uid.as_str()))
        .and_then(|p| p.status)
        .unwrap_or_default();
    let digest = text_digest(text);
    if status.evidence.as_deref() != Some(name.as_str())
        || status.evidence_digest.as_deref() != Some(digest.as_str())
    {
        bail!(
            "the evidence in ConfigMap {}/{name} is not what the operator recorded for \
             promotion {} (its digest {} differs from the status's {}): not showing it; \
             `sluice evidence RELEASE` reads it from the warehouse",
            s.namespace,
            owner.name,
            abbreviate(&digest),
            status
                .evidence_digest
                .as_deref()
                .map_or("(none)".into(), abbreviate)
        );
    }
    Ok(())
}

pub async fn run(s: &Session, args: &EvidenceArgs) -> Result<u8> {
    let Some((text, evidence)) = find(s, &args.release).await? else {
        bail!(
            "no evidence of release {} in namespace {}: the operator writes it to a ConfigMap \
             owned by the Promotion that made the release, so it goes when that Promotion is \
             deleted (`sluice releases --json` reads every release's evidence from the warehouse)",
            args.release,
            s.namespace
        );
    };
    match args.output {
        Some(Format::Json) => output::emit(&format!("{}\n", text.trim_end()))?,
        Some(format) => {
            let value: serde_json::Value = serde_json::from_str(&text)?;
            output::emit(&output::serialize(&value, format)?)?
        }
        None => output::emit(&render(&evidence))?,
    }
    Ok(0)
}
