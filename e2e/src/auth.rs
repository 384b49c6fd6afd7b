//! Identity: static bearer tokens mapped to users (name, uid, groups, extra), the identities the
//! built-in controllers act as, and a log of who asked for what. Service-account tokens are
//! issued and checked in `serviceaccounts`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde_json::{Value, json};

/// An authenticated user, as the API server's `user.Info`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

pub const AUTHENTICATED: &str = "system:authenticated";
pub const MASTERS: &str = "system:masters";

impl User {
    /// A user in `groups` plus `system:authenticated`.
    pub fn new(name: &str, groups: &[&str]) -> Self {
        let mut groups: Vec<String> = groups
            .iter()
            .filter(|g| !g.is_empty())
            .map(|g| g.to_string())
            .collect();
        if !groups.iter().any(|g| g == AUTHENTICATED) {
            groups.push(AUTHENTICATED.into());
        }
        Self {
            name: name.into(),
            groups,
            ..Default::default()
        }
    }

    pub fn with_uid(mut self, uid: &str) -> Self {
        self.uid = uid.into();
        self
    }

    /// The API server's own loopback identity (used for writes no client asked for).
    pub fn system() -> Self {
        Self::new("system:apiserver", &[MASTERS])
    }

    /// A kube-controller-manager controller, acting through its own service account in
    /// `kube-system` (as with `--use-service-account-credentials`).
    pub fn controller(name: &str) -> Self {
        Self::service_account("kube-system", name)
    }

    /// The kubelet of the single node.
    pub fn kubelet() -> Self {
        Self::new("system:node:sluice-node", &["system:nodes"])
    }

    /// `system:serviceaccount:<ns>:<name>` with its upstream groups.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Self::new(
            &format!("system:serviceaccount:{namespace}:{name}"),
            &[
                "system:serviceaccounts",
                &format!("system:serviceaccounts:{namespace}"),
            ],
        )
    }

    /// The `(namespace, name)` of a service-account user.
    pub fn as_service_account(&self) -> Option<(&str, &str)> {
        self.name
            .strip_prefix("system:serviceaccount:")?
            .split_once(':')
    }

    pub fn is_master(&self) -> bool {
        self.groups.iter().any(|g| g == MASTERS)
    }

    /// `authentication.k8s.io/v1` `UserInfo`.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"username": self.name, "groups": self.groups});
        if !self.uid.is_empty() {
            v["uid"] = json!(self.uid);
        }
        if !self.extra.is_empty() {
            v["extra"] = json!(self.extra);
        }
        v
    }

    /// Reads a `UserInfo` (or SubjectAccessReview spec) back.
    pub fn from_json(v: &Value) -> Self {
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        };
        Self {
            name: v["username"]
                .as_str()
                .or(v["user"].as_str())
                .unwrap_or_default()
                .into(),
            uid: v["uid"].as_str().unwrap_or_default().into(),
            groups: strings(&v["groups"]),
            extra: v["extra"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, vs)| (k.clone(), strings(vs)))
                .collect(),
        }
    }
}

/// One authenticated request: who (after impersonation), on whose behalf, what and the answer.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub user: String,
    pub user_info: User,
    /// The authenticated user when the request impersonated `user_info`.
    pub impersonator: Option<String>,
    /// The HTTP method.
    pub verb: String,
    pub path: String,
    pub code: u16,
    /// Audit annotations, e.g. from ValidatingAdmissionPolicy `Audit` actions.
    pub annotations: Vec<(String, String)>,
    /// The authorization checks the request passed: its own verb on its resource, and `create`
    /// too when a server-side apply created the object (as upstream). Empty for requests that
    /// were not authorized (RBAC off) or that failed authorization.
    pub authorized: Vec<Authorization>,
}

/// What one authorization check asked: the RBAC verb, API group, resource, subresource and
/// namespace (empty: cluster scope), and the path of a non-resource request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Authorization {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub path: Option<String>,
}

/// Token table plus request log.
#[derive(Debug, Default)]
pub struct Auth {
    tokens: HashMap<String, User>,
    log: Mutex<Vec<AuditRecord>>,
}

impl Auth {
    pub fn new(tokens: HashMap<String, User>) -> Self {
        Self {
            tokens,
            log: Mutex::default(),
        }
    }

    /// The user behind a static bearer token.
    pub fn static_user(&self, token: &str) -> Option<User> {
        self.tokens.get(token).cloned()
    }

    /// The user behind an `Authorization` header value, if the token is a known static one.
    pub fn authenticate(&self, header: Option<&str>) -> Option<User> {
        self.static_user(bearer(header?)?)
    }

    pub fn record(&self, record: AuditRecord) {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record);
    }

    pub fn records(&self) -> Vec<AuditRecord> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The token of an `Authorization: Bearer ...` header.
pub fn bearer(header: &str) -> Option<&str> {
    Some(header.strip_prefix("Bearer ")?.trim()).filter(|t| !t.is_empty())
}

/// Parses a static token file: one `token,user,uid,"group1,group2"` line per user (the
/// kube-apiserver `--token-auth-file` format).
pub fn parse_token_file(text: &str) -> HashMap<String, User> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.splitn(4, ',');
            let token = fields.next()?.trim().to_string();
            let name = fields.next()?.trim().to_string();
            let uid = fields.next().unwrap_or_default().trim().to_string();
            let groups: Vec<&str> = fields
                .next()
                .map(|g| {
                    g.trim()
                        .trim_matches('"')
                        .split(',')
                        .map(str::trim)
                        .collect()
                })
                .unwrap_or_default();
            Some((token, User::new(&name, &groups).with_uid(&uid)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_lines() {
        let tokens = parse_token_file("t1,alice,1,\"devs,ops\"\n# comment\nt2,bob,2\n");
        assert_eq!(tokens["t1"].groups, vec!["devs", "ops", AUTHENTICATED]);
        assert_eq!(tokens["t1"].uid, "1");
        assert_eq!(tokens["t2"].name, "bob");
        let auth = Auth::new(tokens);
        assert!(auth.authenticate(Some("Bearer t2")).is_some());
        assert!(auth.authenticate(Some("Bearer nope")).is_none());
        assert!(auth.authenticate(None).is_none());
    }

    #[test]
    fn service_account_users() {
        let sa = User::service_account("ns", "op");
        assert_eq!(sa.name, "system:serviceaccount:ns:op");
        assert_eq!(sa.as_service_account(), Some(("ns", "op")));
        assert!(sa.groups.contains(&"system:serviceaccounts:ns".to_string()));
    }
}
