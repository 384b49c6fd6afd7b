//! What every verb that talks to the cluster shares: kubectl's connection flags, the client and
//! namespace they select, who the API server says the user is, and errors that name the object
//! and what to do.

use std::fmt::Display;
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use clap::Args;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// kubectl's flags, as every kubectl plugin takes them.
#[derive(Args, Debug, Clone, Default)]
pub struct KubeFlags {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The namespace (default: the context's).
    #[arg(long, short = 'n', global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Act as this user (impersonation).
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
    /// Act in this group (impersonation; repeatable).
    #[arg(long = "as-group", global = true, value_name = "GROUP")]
    pub as_group: Vec<String>,
}

/// A connection to the cluster, in one namespace.
pub struct Session {
    pub client: Client,
    pub namespace: String,
    impersonated: Option<Identity>,
}

/// Who the API server says the user is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

impl Session {
    /// Connects as the flags say: kubeconfig, context, namespace and impersonation.
    pub async fn connect(flags: &KubeFlags) -> Result<Session> {
        let options = KubeConfigOptions {
            context: flags.context.clone(),
            ..Default::default()
        };
        let loaded = match &flags.kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path)
                    .map_err(|e| anyhow!("cannot read kubeconfig {}: {e}", path.display()))?;
                Config::from_custom_kubeconfig(kubeconfig, &options).await
            }
            None => Config::from_kubeconfig(&options).await,
        };
        let mut config = match loaded {
            Ok(config) => config,
            // No kubeconfig at all: inside a pod, use its service account.
            Err(e) if flags.context.is_none() => Config::incluster().map_err(|_| {
                anyhow!("cannot load a kubeconfig ({e}): set --kubeconfig or $KUBECONFIG")
            })?,
            Err(e) => return Err(anyhow!("cannot use context {:?}: {e}", flags.context)),
        };
        if let Some(user) = &flags.as_user {
            config.auth_info.impersonate = Some(user.clone());
        }
        if !flags.as_group.is_empty() {
            config.auth_info.impersonate_groups = Some(flags.as_group.clone());
        }
        let namespace = flags
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let impersonated = flags.as_user.as_ref().map(|user| Identity {
            user: user.clone(),
            groups: flags.as_group.clone(),
        });
        let client = Client::try_from(config)?;
        Ok(Session {
            client,
            namespace,
            impersonated,
        })
    }

    /// The resource API of kind `K` in the session's namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Who the API server says we are, from a SelfSubjectReview (what `kubectl auth whoami`
    /// asks). Servers older than Kubernetes 1.28 do not answer it: then only `--as` tells.
    pub async fn whoami(&self) -> Result<Identity> {
        let reviews: Api<SelfSubjectReview> = Api::all(self.client.clone());
        match reviews
            .create(&PostParams::default(), &SelfSubjectReview::default())
            .await
        {
            Ok(review) => {
                let info = review.status.and_then(|s| s.user_info).unwrap_or_default();
                let user = info.username.filter(|u| !u.is_empty()).ok_or_else(|| {
                    anyhow!("the API server did not say who you are (SelfSubjectReview)")
                })?;
                Ok(Identity {
                    user,
                    groups: info.groups.unwrap_or_default(),
                })
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {
                self.impersonated.clone().ok_or_else(|| {
                    anyhow!(
                        "this API server cannot say who you are (no SelfSubjectReview, Kubernetes \
                     1.28+): pass --as <your user name>"
                    )
                })
            }
            Err(e) => Err(explain(e, "who you are (SelfSubjectReview)")),
        }
    }
}

/// A kube error as a person reads it: the object, what went wrong, what to do.
pub fn explain(error: kube::Error, what: impl Display) -> anyhow::Error {
    let kube::Error::Api(status) = &error else {
        return anyhow!("{what}: cannot reach the Kubernetes API: {error}");
    };
    let message = status.message.as_str();
    match status.code {
        404 => anyhow!("{what} not found"),
        403 if message.contains("ValidatingAdmissionPolicy") => {
            let reason = message
                .split_once("denied request: ")
                .map_or(message, |(_, r)| r);
            anyhow!("{what}: denied by the approval policy (403): {reason}")
        }
        403 => anyhow!(
            "{what}: forbidden (403): {message}\n  ask a cluster admin for the role you need \
             (sluice-viewer to read, sluice-editor to plan and promote, sluice-approver to approve)"
        ),
        401 => {
            anyhow!("{what}: not logged in (401): {message}: check your kubeconfig's credentials")
        }
        409 => anyhow!("{what}: conflict (409): {message}"),
        422 => anyhow!("{what}: invalid (422): {message}"),
        code => anyhow!("{what}: the API server answered {code}: {message}"),
    }
}

/// `.on("promotion ns/x")` turns a kube error into [`explain`]'s message.
pub trait On<T> {
    fn on(self, what: impl Display) -> Result<T>;
}

impl<T> On<T> for std::result::Result<T, kube::Error> {
    fn on(self, what: impl Display) -> Result<T> {
        self.map_err(|e| explain(e, what))
    }
}

/// Reads one object, or none when it does not exist; other errors are explained.
pub async fn get_opt<K>(api: &Api<K>, what: impl Display, name: &str) -> Result<Option<K>>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name).await.on(format!("{what} {name}"))
}

/// Reads one object that must exist.
pub async fn get<K>(api: &Api<K>, kind: &str, namespace: &str, name: &str) -> Result<K>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    get_opt(api, kind, name).await?.ok_or_else(|| {
        anyhow!(
            "{kind} {name} not found in namespace {namespace} (`kubectl sluice get {kind}s -n \
             {namespace}` lists them)"
        )
    })
}
