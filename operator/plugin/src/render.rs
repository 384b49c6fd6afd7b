//! `render`: the source ConfigMap (the project as a gzipped tar) and the Plan manifest for a
//! GitOps commit, or for `kubectl apply -f -`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sluice_api::MANAGED_BY;
use sluice_api::approval::CREATED_BY;
use sluice_api::archive::{archive_project, digest_dir};
use sluice_api::plan::{ConfigMapSource, Plan, PlanSource, PlanSpec};

/// What to render.
pub struct RenderRequest<'a> {
    pub project: &'a Path,
    /// The Environment object to plan into.
    pub environment: &'a str,
    /// The Plan's name; the ConfigMap is `<name>-source`.
    pub name: &'a str,
    pub namespace: Option<&'a str>,
    pub author: Option<&'a str>,
    /// Who creates the Plan (`sluice.dev/created-by`; admission requires the requester's name).
    pub created_by: &'a str,
}

/// Files and directories left out of the source digest.
const NOT_SOURCE: &[&str] = &[".sluice", ".git"];

/// The two manifests, as one YAML stream.
pub fn render(request: &RenderRequest) -> Result<String> {
    sluice_engine::project::load(request.project).map_err(|e| anyhow::anyhow!("{e}"))?;
    let archive = archive_project(request.project)
        .with_context(|| format!("archiving {}", request.project.display()))?;
    let digest = digest_dir(request.project, NOT_SOURCE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let source = format!("{}-source", request.name);
    let annotations = BTreeMap::from([("sluice.dev/source-digest".to_string(), digest)]);
    let config_map = ConfigMap {
        metadata: ObjectMeta {
            name: Some(source.clone()),
            namespace: request.namespace.map(str::to_string),
            labels: Some(BTreeMap::from([(
                MANAGED_BY.0.to_string(),
                "kubectl-sluice".to_string(),
            )])),
            annotations: Some(annotations),
            ..Default::default()
        },
        binary_data: Some(BTreeMap::from([(
            "project.tar.gz".to_string(),
            ByteString(archive),
        )])),
        ..Default::default()
    };
    let mut plan = Plan::new(
        request.name,
        PlanSpec {
            environment: request.environment.to_string(),
            source: PlanSource {
                config_map: Some(ConfigMapSource {
                    name: source,
                    key: "project.tar.gz".into(),
                }),
                ..Default::default()
            },
            options: Default::default(),
            author: request.author.map(str::to_string),
        },
    );
    plan.metadata.namespace = request.namespace.map(str::to_string);
    plan.metadata.annotations = Some(BTreeMap::from([(
        CREATED_BY.to_string(),
        request.created_by.to_string(),
    )]));
    let yaml = |value: &dyn erased::Yaml| value.yaml();
    Ok(format!("{}---\n{}", yaml(&config_map)?, yaml(&plan)?))
}

/// Who the cluster of the current kubeconfig says the user is: the creator a rendered Plan names
/// when `--created-by` does not.
pub async fn current_user(flags: &super::client::KubeFlags) -> Result<String> {
    let explain = |e: anyhow::Error| {
        anyhow::anyhow!(
            "cannot ask the cluster who you are ({e:#}): pass --created-by USER, the identity \
             that will apply the Plan (admission requires sluice.dev/created-by to name it; for \
             a GitOps commit, the Argo CD or Flux service account)"
        )
    };
    let session = super::client::Session::connect(flags)
        .await
        .map_err(explain)?;
    Ok(session.whoami().await.map_err(explain)?.user)
}

/// A Plan name for a project: its directory's name and the first digits of its digest
/// (`shop-5e884898`), so the same files give the same name and a change gives a new one.
pub fn default_name(project: &Path) -> Result<String> {
    let dir =
        std::fs::canonicalize(project).with_context(|| format!("reading {}", project.display()))?;
    let base: String = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    let digest = digest_dir(project, NOT_SOURCE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let hex = digest.trim_start_matches("sha256:");
    let base = base.trim_matches('-');
    Ok(if base.is_empty() {
        format!("plan-{}", &hex[..8])
    } else {
        format!("{base}-{}", &hex[..8])
    })
}

mod erased {
    /// Serializes any manifest to YAML (object-safe, so both kinds go through one helper).
    pub trait Yaml {
        fn yaml(&self) -> anyhow::Result<String>;
    }

    impl<T: serde::Serialize> Yaml for T {
        fn yaml(&self) -> anyhow::Result<String> {
            Ok(serde_saphyr::to_string(self)?)
        }
    }
}
