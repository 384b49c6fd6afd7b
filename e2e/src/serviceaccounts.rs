//! Service-account identity: TokenRequest (`serviceaccounts/{name}/token`) issues JWT-shaped
//! bearer tokens, optionally bound to a pod; authentication accepts them while the service
//! account (and the pod) still exist with the same uid and the token has not expired. Pods get
//! theirs as files plus a kubeconfig (see `pod_identity`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine;
use serde_json::{Value, json};

use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use crate::store::{ObjKey, Store};

/// The default audience of issued tokens (the API server's issuer).
pub const AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";
/// Where a pod's service-account files live in a real container.
pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// An issued token's claims.
#[derive(Debug, Clone)]
pub struct Issued {
    pub namespace: String,
    pub name: String,
    pub sa_uid: String,
    /// `(name, uid)` of the pod the token is bound to.
    pub pod: Option<(String, String)>,
    pub expires: i64,
    pub audiences: Vec<String>,
    pub id: String,
}

fn b64(v: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

/// The tokens issued so far, by their text.
#[derive(Debug, Default)]
pub struct Tokens(Mutex<HashMap<String, Issued>>);

impl Tokens {
    /// The service account a token was issued for, while it (and the pod it is bound to) still
    /// exists with the same uid and the token has not expired.
    pub fn authenticate(&self, store: &Store, token: &str) -> Option<User> {
        let issued = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()?;
        if issued.expires < jiff::Timestamp::now().as_second() {
            return None;
        }
        let inner = store.lock();
        let sa = inner.get(&ObjKey::new(
            "",
            "serviceaccounts",
            &issued.namespace,
            &issued.name,
        ))?;
        if sa["metadata"]["uid"] != issued.sa_uid.as_str() {
            return None;
        }
        let mut user =
            User::service_account(&issued.namespace, &issued.name).with_uid(&issued.sa_uid);
        if let Some((pod, uid)) = &issued.pod {
            let live = inner.get(&ObjKey::new("", "pods", &issued.namespace, pod))?;
            if live["metadata"]["uid"] != uid.as_str() {
                return None;
            }
            user.extra.insert(
                "authentication.kubernetes.io/pod-name".into(),
                vec![pod.clone()],
            );
            user.extra.insert(
                "authentication.kubernetes.io/pod-uid".into(),
                vec![uid.clone()],
            );
        }
        user.extra.insert(
            "authentication.kubernetes.io/credential-id".into(),
            vec![format!("JTI={}", issued.id)],
        );
        Some(user)
    }

    /// Issues a token for a service account; returns it with its expiry (RFC 3339).
    pub fn issue(&self, claims: Issued) -> (String, String) {
        let now = jiff::Timestamp::now().as_second();
        let mut sa = json!({"name": claims.name, "uid": claims.sa_uid});
        let mut k8s = json!({"namespace": claims.namespace, "serviceaccount": sa.take()});
        if let Some((name, uid)) = &claims.pod {
            k8s["pod"] = json!({"name": name, "uid": uid});
        }
        let payload = json!({
            "aud": claims.audiences, "exp": claims.expires, "iat": now, "nbf": now, "iss": AUDIENCE, "jti": claims.id,
            "kubernetes.io": k8s, "sub": format!("system:serviceaccount:{}:{}", claims.namespace, claims.name),
        });
        let signature = format!("{}{}", crate::meta::uid(), crate::meta::uid());
        let token = format!(
            "{}.{}.{}",
            b64(br#"{"alg":"RS256","kid":"sluice-testcluster"}"#),
            b64(payload.to_string().as_bytes()),
            b64(signature.as_bytes())
        );
        let expiry = jiff::Timestamp::from_second(claims.expires)
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        let mut issued = self.0.lock().unwrap_or_else(|e| e.into_inner());
        issued.retain(|_, c| c.expires > now);
        issued.insert(token.clone(), claims);
        (token, expiry)
    }
}

/// POST `serviceaccounts/{name}/token`: a TokenRequest.
pub fn request_token(
    store: &Store,
    tokens: &Tokens,
    ns: &str,
    name: &str,
    body: Value,
) -> ApiResult<Value> {
    let sa = store
        .lock()
        .get(&ObjKey::new("", "serviceaccounts", ns, name))
        .cloned()
        .ok_or_else(|| ApiError::not_found("", "serviceaccounts", name))?;
    let spec = &body["spec"];
    let seconds = spec["expirationSeconds"].as_i64().unwrap_or(3600);
    if seconds < 600 {
        return Err(ApiError::invalid(
            "authentication.k8s.io",
            "TokenRequest",
            name,
            vec![(
                "spec.expirationSeconds".into(),
                format!(
                    "Invalid value: {seconds}: may not specify a duration less than 10 minutes"
                ),
            )],
        ));
    }
    let bound = &spec["boundObjectRef"];
    let pod = if bound["kind"] == "Pod" {
        let pod_name = bound["name"].as_str().unwrap_or_default();
        let live = store
            .lock()
            .get(&ObjKey::new("", "pods", ns, pod_name))
            .cloned()
            .ok_or_else(|| ApiError::not_found("", "pods", pod_name))?;
        Some((
            pod_name.to_string(),
            live["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ))
    } else {
        None
    };
    let audiences: Vec<String> = spec["audiences"]
        .as_array()
        .filter(|a| !a.is_empty())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_else(|| vec![AUDIENCE.to_string()]);
    let (token, expiry) = tokens.issue(Issued {
        namespace: ns.into(),
        name: name.into(),
        sa_uid: sa["metadata"]["uid"].as_str().unwrap_or_default().into(),
        pod,
        expires: jiff::Timestamp::now().as_second() + seconds,
        audiences: audiences.clone(),
        id: crate::meta::uid(),
    });
    Ok(json!({
        "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": null},
        "spec": {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": spec.get("boundObjectRef").cloned().unwrap_or(Value::Null)},
        "status": {"token": token, "expirationTimestamp": expiry},
    }))
}

/// What a pod's process gets for its service account.
pub struct PodIdentity {
    /// The directory standing in for `/var/run/secrets/kubernetes.io/serviceaccount`.
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
}

/// Writes a pod's service-account token, CA and namespace, plus a kubeconfig for the API
/// server at `url` using them, into `pod_dir`. `Ok(None)` when the pod opts out
/// (`automountServiceAccountToken: false`); an error while the service account does not exist
/// yet.
pub fn pod_identity(
    store: &Store,
    tokens: &Tokens,
    url: &str,
    pod: &Value,
    pod_dir: &Path,
) -> Result<Option<PodIdentity>, String> {
    let spec = &pod["spec"];
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let sa_name = spec["serviceAccountName"].as_str().unwrap_or("default");
    let sa = store
        .lock()
        .get(&ObjKey::new("", "serviceaccounts", ns, sa_name))
        .cloned()
        .ok_or_else(|| format!("serviceaccount \"{sa_name}\" not found"))?;
    let automount = spec["automountServiceAccountToken"]
        .as_bool()
        .or(sa["automountServiceAccountToken"].as_bool())
        .unwrap_or(true);
    if !automount {
        return Ok(None);
    }
    let pod_ref = (
        pod["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        pod["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    );
    let (token, _) = tokens.issue(Issued {
        namespace: ns.into(),
        name: sa_name.into(),
        sa_uid: sa["metadata"]["uid"].as_str().unwrap_or_default().into(),
        pod: Some(pod_ref),
        expires: jiff::Timestamp::now().as_second() + 3607,
        audiences: vec![AUDIENCE.into()],
        id: crate::meta::uid(),
    });
    let dir = pod_dir.join("serviceaccount");
    let ca = crate::tls::certs()
        .map(|c| c.ca_pem.clone())
        .unwrap_or_default();
    let write =
        |name: &str, text: &str| std::fs::write(dir.join(name), text).map_err(|e| e.to_string());
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    write("token", &token)?;
    write("ca.crt", &ca)?;
    write("namespace", ns)?;
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: in-cluster\n  cluster:\n    server: {url}\n    certificate-authority-data: {}\ncontexts:\n- name: in-cluster\n  context:\n    cluster: in-cluster\n    user: {sa_name}\n    namespace: {ns}\ncurrent-context: in-cluster\nusers:\n- name: {sa_name}\n  user:\n    token: {token}\n",
        base64::engine::general_purpose::STANDARD.encode(&ca),
    );
    write("kubeconfig", &kubeconfig)?;
    let port = url.rsplit(':').next().unwrap_or("443").to_string();
    let env = vec![
        (
            "KUBECONFIG".into(),
            dir.join("kubeconfig").display().to_string(),
        ),
        ("KUBERNETES_SERVICE_HOST".into(), "127.0.0.1".into()),
        ("KUBERNETES_SERVICE_PORT".into(), port.clone()),
        ("KUBERNETES_SERVICE_PORT_HTTPS".into(), port.clone()),
        ("KUBERNETES_PORT".into(), format!("tcp://127.0.0.1:{port}")),
    ];
    Ok(Some(PodIdentity { dir, env }))
}
