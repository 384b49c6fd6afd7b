//! Declared grants: who may read (or write) a model's objects, as SQLMesh's `grants` property
//! and `grants_target_layer` say, plus a project-wide default from `config.yaml`.
//!
//! Grants are metadata: changing them never rebuilds a table. They are applied to the
//! environment's views when it is flipped (the virtual layer, SQLMesh's default) and, when the
//! model asks for it, to its physical table.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

/// Privilege (upper case, e.g. `SELECT`) → the roles it is granted to, sorted.
pub type Grants = BTreeMap<String, Vec<String>>;

/// Privileges a grant may name: what PostgreSQL accepts on a view or table. Anything else is
/// refused when the project loads, so a privilege never reaches SQL unchecked.
pub const PRIVILEGES: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
];

/// Which objects a model's grants go on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum GrantsLayer {
    /// The environment's views: what readers query (SQLMesh's default).
    #[default]
    Virtual,
    /// The physical table only.
    Physical,
    /// Both.
    All,
}

impl GrantsLayer {
    pub fn parse(text: &str) -> Option<GrantsLayer> {
        match text.trim().to_ascii_lowercase().as_str() {
            "virtual" => Some(GrantsLayer::Virtual),
            "physical" => Some(GrantsLayer::Physical),
            "all" => Some(GrantsLayer::All),
            _ => None,
        }
    }

    pub fn is_default(&self) -> bool {
        *self == GrantsLayer::Virtual
    }

    pub fn views(self) -> bool {
        matches!(self, GrantsLayer::Virtual | GrantsLayer::All)
    }

    pub fn tables(self) -> bool {
        matches!(self, GrantsLayer::Physical | GrantsLayer::All)
    }
}

impl fmt::Display for GrantsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GrantsLayer::Virtual => "virtual",
            GrantsLayer::Physical => "physical",
            GrantsLayer::All => "all",
        })
    }
}

/// Checks one `privilege = [roles]` entry and adds it to `grants`: the privilege must be one
/// of [`PRIVILEGES`] (case-insensitive) and every role a non-empty name.
pub fn add_grant(grants: &mut Grants, privilege: &str, roles: &[String]) -> Result<(), String> {
    let upper = privilege.trim().to_ascii_uppercase();
    if !PRIVILEGES.contains(&upper.as_str()) {
        return Err(format!(
            "unknown privilege '{privilege}' (expected one of {})",
            PRIVILEGES
                .iter()
                .map(|p| p.to_ascii_lowercase())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for role in roles {
        if role.trim().is_empty() || role.contains('\0') {
            return Err(format!("privilege '{privilege}' names an empty role"));
        }
    }
    let entry = grants.entry(upper).or_default();
    entry.extend(roles.iter().map(|r| r.trim().to_string()));
    entry.sort();
    entry.dedup();
    Ok(())
}

/// Every role named in `grants`.
pub fn roles(grants: &Grants) -> BTreeSet<&str> {
    grants.values().flatten().map(String::as_str).collect()
}

/// `grants` as one line for people: `SELECT to bi, analyst; INSERT to etl`.
pub fn describe(grants: &Grants) -> String {
    grants
        .iter()
        .filter(|(_, roles)| !roles.is_empty())
        .map(|(privilege, roles)| format!("{privilege} to {}", roles.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// How a model's grants change between two releases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantChange {
    pub model: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub added: Grants,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub removed: Grants,
}

impl GrantChange {
    /// `None` when `old` and `new` grant the same.
    pub fn between(model: &str, old: &Grants, new: &Grants) -> Option<GrantChange> {
        let minus = |a: &Grants, b: &Grants| -> Grants {
            a.iter()
                .filter_map(|(privilege, roles)| {
                    let others = b.get(privilege);
                    let left: Vec<String> = roles
                        .iter()
                        .filter(|r| !others.is_some_and(|o| o.contains(r)))
                        .cloned()
                        .collect();
                    (!left.is_empty()).then(|| (privilege.clone(), left))
                })
                .collect()
        };
        let change = GrantChange {
            model: model.to_string(),
            added: minus(new, old),
            removed: minus(old, new),
        };
        (!change.added.is_empty() || !change.removed.is_empty()).then_some(change)
    }

    /// `+SELECT to bi; -SELECT to old_role`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.added.is_empty() {
            parts.push(format!("+{}", describe(&self.added).replace("; ", "; +")));
        }
        if !self.removed.is_empty() {
            parts.push(format!("-{}", describe(&self.removed).replace("; ", "; -")));
        }
        parts.join("; ")
    }
}

/// How declared grants changed between two releases, per model still there (each release as
/// its models' names and grants).
pub fn changes<'a>(
    before: impl IntoIterator<Item = (&'a str, &'a Grants)>,
    after: impl IntoIterator<Item = (&'a str, &'a Grants)>,
) -> Vec<GrantChange> {
    let none = Grants::new();
    let before: std::collections::HashMap<&str, &Grants> = before.into_iter().collect();
    after
        .into_iter()
        .filter_map(|(name, grants)| {
            let old = before.get(name).copied().unwrap_or(&none);
            GrantChange::between(name, old, grants)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(entries: &[(&str, &[&str])]) -> Grants {
        let mut g = Grants::new();
        for (p, roles) in entries {
            let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
            add_grant(&mut g, p, &roles).unwrap();
        }
        g
    }

    #[test]
    fn privileges_are_checked_and_normalized() {
        let g = grants(&[("select", &["bi", "analyst", "bi"]), ("Insert", &["etl"])]);
        assert_eq!(g["SELECT"], ["analyst", "bi"]);
        assert_eq!(g["INSERT"], ["etl"]);
        let err = add_grant(&mut Grants::new(), "drop table x; --", &["bi".into()]).unwrap_err();
        assert!(
            err.starts_with("unknown privilege 'drop table x; --'"),
            "{err}"
        );
        assert!(add_grant(&mut Grants::new(), "select", &[" ".into()]).is_err());
    }

    #[test]
    fn changes_list_what_was_added_and_removed() {
        let old = grants(&[("select", &["bi", "old"])]);
        let new = grants(&[("select", &["bi", "analyst"]), ("insert", &["etl"])]);
        let change = GrantChange::between("s.m", &old, &new).unwrap();
        assert_eq!(
            change.describe(),
            "+INSERT to etl; +SELECT to analyst; -SELECT to old"
        );
        assert!(GrantChange::between("s.m", &old, &old).is_none());
    }
}
