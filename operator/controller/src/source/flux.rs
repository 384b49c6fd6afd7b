//! A Plan's project from a Flux source's artifact (`GitRepository`, `OCIRepository`,
//! `Bucket`): the URL and digest Flux's source-controller published in the object's status,
//! downloaded with a time and size limit and checked against that digest before unpacking.

use std::time::Duration;

use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use sluice_api::plan::FluxSource;

use super::{FetchedProject, unpack};
use crate::error::{Error, Result};

/// Compressed artifacts larger than this are refused (the unpacked project has its own limit).
const MAX_ARTIFACT_BYTES: u64 = 64 * 1024 * 1024;
/// A download taking longer is abandoned.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) async fn fetch(
    client: &kube::Client,
    namespace: &str,
    source: &FluxSource,
) -> Result<FetchedProject> {
    let version = match source.kind.as_str() {
        "GitRepository" | "Bucket" => "v1",
        _ => "v1beta2",
    };
    let gvk = GroupVersionKind::gvk("source.toolkit.fluxcd.io", version, &source.kind);
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &ApiResource::from_gvk(&gvk));
    let object = api.get_opt(&source.name).await?.ok_or_else(|| {
        Error::stalled(
            "SourceNotFound",
            format!(
                "Flux {} {namespace}/{} does not exist",
                source.kind, source.name
            ),
        )
    })?;
    let artifact = &object.data["status"]["artifact"];
    let (Some(url), Some(digest)) = (artifact["url"].as_str(), artifact["digest"].as_str()) else {
        return Err(Error::stalled(
            "SourceNotReady",
            format!(
                "Flux {} {namespace}/{} has no artifact yet (status.artifact.url and digest)",
                source.kind, source.name
            ),
        ));
    };
    let what = format!("Flux {} {namespace}/{} artifact", source.kind, source.name);
    check_url(url).map_err(|why| {
        Error::stalled(
            "InvalidSource",
            format!("{what}: status.artifact.url {url:?} {why}; nothing was downloaded"),
        )
    })?;
    let revision = artifact["revision"].as_str().map(str::to_string);
    let archive = download(url).await?;
    let expected = digest.to_string();
    let path = source.path.clone();
    let mut fetched = tokio::task::spawn_blocking(move || {
        unpack(&archive, &what, Some(&expected), path.as_deref())
    })
    .await??;
    fetched.revision = revision;
    Ok(fetched)
}

/// Why an artifact URL is not one to download, if it is not: plain HTTP inside the cluster (as
/// Flux serves artifacts), a host, no credentials in it.
fn check_url(url: &str) -> std::result::Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("is not an http:// URL (Flux serves artifacts over plain HTTP in the cluster)")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.starts_with(':') {
        return Err("names no host".into());
    }
    if authority.contains('@') {
        return Err("carries credentials".into());
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains spaces or control characters".into());
    }
    Ok(())
}

/// GET over plain HTTP, up to `MAX_ARTIFACT_BYTES` within `DOWNLOAD_TIMEOUT`.
async fn download(url: &str) -> Result<Vec<u8>> {
    use http_body_util::BodyExt;
    let unavailable =
        |e: String| Error::stalled("ArtifactUnavailable", format!("cannot download {url}: {e}"));
    let uri: hyper::Uri = url.parse().map_err(|e| unavailable(format!("{e}")))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let fetch = async {
        let response = client
            .get(uri)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("HTTP {}", response.status())));
        }
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| unavailable(e.to_string()))?;
            if let Some(data) = frame.data_ref() {
                bytes.extend_from_slice(data);
                if bytes.len() as u64 > MAX_ARTIFACT_BYTES {
                    return Err(Error::stalled(
                        "InvalidSource",
                        format!(
                            "the artifact at {url} is larger than {} MiB; refusing it",
                            MAX_ARTIFACT_BYTES >> 20
                        ),
                    ));
                }
            }
        }
        Ok(bytes)
    };
    tokio::time::timeout(DOWNLOAD_TIMEOUT, fetch)
        .await
        .map_err(|_| {
            unavailable(format!(
                "no complete answer within {}s",
                DOWNLOAD_TIMEOUT.as_secs()
            ))
        })?
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn artifact_urls_are_plain_in_cluster_http() {
        assert_eq!(
            check_url(
                "http://source-controller.flux-system.svc.cluster.local./gitrepository/data/shop/abc.tar.gz"
            ),
            Ok(())
        );
        for (bad, why) in [
            ("https://example.com/a.tgz", "http://"),
            ("file:///etc/passwd", "http://"),
            ("http:///a.tgz", "no host"),
            ("http://user:pw@host/a.tgz", "credentials"),
            ("http://host/a b", "spaces"),
        ] {
            let error = check_url(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }
}
