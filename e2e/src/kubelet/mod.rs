//! A tiny kubelet: each Pod's first container runs as a local process (images map to
//! executables through `ImageRule`s), with its env, ConfigMap/Secret volumes, service-account
//! identity and logs.

pub mod env;
pub mod logs;
pub mod pods;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::api::Cluster;

/// What an image runs as on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageTarget {
    /// The image's filesystem is the host: `command` is looked up on the host `PATH`.
    Host,
    /// The image's entrypoint is this executable.
    Executable(PathBuf),
}

/// Maps image repositories to local executables. `pattern` matches the repository (the image
/// without tag or digest): `*` anything, `*suffix`, `prefix*`, or an exact name.
#[derive(Debug, Clone)]
pub struct ImageRule {
    pub pattern: String,
    pub target: ImageTarget,
}

impl ImageRule {
    pub fn new(pattern: &str, target: ImageTarget) -> Self {
        Self {
            pattern: pattern.into(),
            target,
        }
    }

    fn matches(&self, repository: &str) -> bool {
        let p = self.pattern.as_str();
        if let Some(suffix) = p.strip_prefix('*') {
            repository.ends_with(suffix)
        } else if let Some(prefix) = p.strip_suffix('*') {
            repository.starts_with(prefix)
        } else {
            repository == p
        }
    }
}

/// The repository part of an image reference: `ghcr.io/acme/sluice:1.2@sha256:..` →
/// `ghcr.io/acme/sluice`.
pub fn repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => &image[..i],
        _ => image,
    }
}

/// Kubelet settings.
#[derive(Debug, Clone)]
pub struct KubeletConfig {
    /// First match wins.
    pub images: Vec<ImageRule>,
}

impl Default for KubeletConfig {
    /// Common shell images run on the host; any `*sluice` image runs `$SLUICE_BIN` if set.
    fn default() -> Self {
        let mut images: Vec<ImageRule> = [
            "busybox",
            "*/busybox",
            "alpine",
            "*/alpine",
            "bash",
            "*/bash",
            "ubuntu",
            "*/ubuntu",
            "debian",
            "*/debian",
        ]
        .iter()
        .map(|p| ImageRule::new(p, ImageTarget::Host))
        .collect();
        if let Some(bin) = std::env::var_os("SLUICE_BIN") {
            images.push(ImageRule::new(
                "*sluice",
                ImageTarget::Executable(bin.into()),
            ));
        }
        Self { images }
    }
}

impl KubeletConfig {
    pub fn resolve(&self, image: &str) -> Option<&ImageTarget> {
        let repo = repository(image);
        self.images
            .iter()
            .find(|r| r.matches(repo))
            .map(|r| &r.target)
    }
}

/// How often pods are re-checked without a change (a missing ConfigMap may have appeared).
const TICK: Duration = Duration::from_millis(100);

/// Runs the kubelet until the task is dropped.
pub async fn run(cluster: Arc<Cluster>, config: Arc<KubeletConfig>, kubelet: Arc<pods::Kubelet>) {
    let mut changes = cluster.store.subscribe();
    loop {
        kubelet.reconcile(&cluster, &config);
        tokio::select! {
            _ = changes.recv() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
        while changes.try_recv().is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_rules() {
        assert_eq!(repository("ghcr.io/acme/sluice:1.2"), "ghcr.io/acme/sluice");
        assert_eq!(repository("localhost:5000/sluice"), "localhost:5000/sluice");
        assert_eq!(repository("busybox@sha256:abc"), "busybox");
        let cfg = KubeletConfig {
            images: vec![
                ImageRule::new("*sluice", ImageTarget::Executable("/bin/true".into())),
                ImageRule::new("busybox", ImageTarget::Host),
            ],
        };
        assert_eq!(
            cfg.resolve("ghcr.io/acme/sluice:dev"),
            Some(&ImageTarget::Executable("/bin/true".into()))
        );
        assert_eq!(cfg.resolve("busybox:1.36"), Some(&ImageTarget::Host));
        assert_eq!(cfg.resolve("nginx"), None);
    }
}
