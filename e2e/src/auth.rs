//! Identity: static bearer tokens mapped to users and groups, and a log of who asked for what
//! (so later admission logic and tests can see the requesting user).

use std::collections::HashMap;
use std::sync::Mutex;

/// An authenticated user, as the API server's `user.Info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

impl User {
    pub fn new(name: &str, groups: &[&str]) -> Self {
        let mut groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        groups.push("system:authenticated".into());
        Self {
            name: name.into(),
            groups,
        }
    }

    /// The identity the built-in controllers act as.
    pub fn system() -> Self {
        Self::new("system:kube-controller-manager", &["system:masters"])
    }
}

/// One authenticated request.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub user: String,
    pub verb: String,
    pub path: String,
    pub code: u16,
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

    /// The user behind an `Authorization` header value, if the token is known.
    pub fn authenticate(&self, header: Option<&str>) -> Option<User> {
        let token = header?.strip_prefix("Bearer ")?.trim();
        self.tokens.get(token).cloned()
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

/// Parses a static token file: one `token,user,uid,"group1,group2"` line per user (the
/// kube-apiserver `--token-auth-file` format; uid is ignored).
pub fn parse_token_file(text: &str) -> HashMap<String, User> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.splitn(4, ',');
            let token = fields.next()?.trim().to_string();
            let name = fields.next()?.trim().to_string();
            let _uid = fields.next();
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
            Some((token, User::new(&name, &groups)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_lines() {
        let tokens = parse_token_file("t1,alice,1,\"devs,ops\"\n# comment\nt2,bob,2\n");
        assert_eq!(
            tokens["t1"].groups,
            vec!["devs", "ops", "system:authenticated"]
        );
        assert_eq!(tokens["t2"].name, "bob");
        let auth = Auth::new(tokens);
        assert!(auth.authenticate(Some("Bearer t2")).is_some());
        assert!(auth.authenticate(Some("Bearer nope")).is_none());
        assert!(auth.authenticate(None).is_none());
    }
}
