//! Privileges on an environment's views, kept across releases (PostgreSQL).
//!
//! A flip makes new view objects, and a new object starts with no grants: without this, a BI
//! role granted `SELECT` on prod's views loses it at every release. So the privileges others
//! hold on the old views are *carried* to the new ones, the model's declared `grants` are
//! applied on top, and the schema's own privileges (`USAGE`) come along when a schema is
//! replaced whole. Declared grants that a release removes are not carried: the declaration is
//! the source of truth for what it names, a manual `GRANT` for the rest.

use std::collections::{BTreeMap, BTreeSet};

use sluice_engine::grants::Grants;
use sluice_engine::snapshot::{SnapshotRef, environment_view, quote_ident, quote_literal};

use crate::warehouse::{Row, Warehouse, WarehouseError};

/// One privilege on one view of a schema, held by someone other than the view's owner.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Privilege {
    pub view: String,
    /// Upper case, as PostgreSQL names it (`SELECT`).
    pub privilege: String,
    /// A role name, or `PUBLIC`.
    pub grantee: String,
    pub grantable: bool,
}

/// Objects named in one `GRANT`: enough to keep a 10,000-view schema to a few statements.
const OBJECTS_PER_GRANT: usize = 500;

/// Privileges held on the views of `schema` now, minus what the old release declared (which
/// the new release re-declares, or means to drop).
pub(super) fn carried(
    warehouse: &mut dyn Warehouse,
    schema: &str,
    declared_before: &BTreeSet<Privilege>,
) -> Result<BTreeSet<Privilege>, WarehouseError> {
    let mut held = carried_in(warehouse, &[schema])?;
    Ok(without_declared(
        held.remove(schema).unwrap_or_default(),
        declared_before,
    ))
}

/// Privileges held on the views of each of `schemas` now, by schema, in one query (the flip
/// reads them just before its locks, and again from the retired schemas after its commit).
pub(super) fn carried_in(
    warehouse: &mut dyn Warehouse,
    schemas: &[&str],
) -> Result<BTreeMap<String, BTreeSet<Privilege>>, WarehouseError> {
    let mut held: BTreeMap<String, BTreeSet<Privilege>> = BTreeMap::new();
    if schemas.is_empty() {
        return Ok(held);
    }
    let names: Vec<String> = schemas.iter().map(|s| quote_literal(s)).collect();
    let rows = warehouse.query(&format!(
        "SELECT c.relname, a.privilege_type, \
                CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END, \
                a.is_grantable, n.nspname \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a \
         WHERE n.nspname IN ({}) AND c.relkind = 'v' AND a.grantee <> c.relowner",
        names.join(", ")
    ))?;
    for row in &rows {
        if let (Some(p), Some(Some(schema))) = (privilege_of(row), row.get(4)) {
            held.entry(schema.clone()).or_default().insert(p);
        }
    }
    Ok(held)
}

/// `held` without what the old release declared.
pub(super) fn without_declared(
    held: BTreeSet<Privilege>,
    declared_before: &BTreeSet<Privilege>,
) -> BTreeSet<Privilege> {
    held.into_iter()
        .filter(|p| {
            !declared_before.contains(&Privilege {
                grantable: false,
                ..p.clone()
            })
        })
        .collect()
}

fn privilege_of(row: &Row) -> Option<Privilege> {
    Some(Privilege {
        view: row.first()?.clone()?,
        privilege: row.get(1)?.clone()?,
        grantee: row.get(2)?.clone()?,
        grantable: row.get(3)?.as_deref() == Some("t"),
    })
}

/// What `refs` declare on their views in `environment`, as privileges (the view layer only).
pub(super) fn declared(environment: &str, refs: &[SnapshotRef]) -> BTreeSet<Privilege> {
    refs.iter()
        .filter(|r| !r.is_symbolic())
        .flat_map(|r| {
            let view = environment_view(environment, &r.name).1;
            privileges_on(&view, r.view_grants())
        })
        .collect()
}

fn privileges_on(view: &str, grants: &Grants) -> Vec<Privilege> {
    grants
        .iter()
        .flat_map(|(privilege, roles)| {
            roles.iter().map(move |role| Privilege {
                view: view.to_string(),
                privilege: privilege.clone(),
                grantee: if role.eq_ignore_ascii_case("public") {
                    "PUBLIC".into()
                } else {
                    role.clone()
                },
                grantable: false,
            })
        })
        .collect()
}

/// `GRANT`s (or `REVOKE`s) of `privileges` on the views of `schema`, grouped so that one
/// statement covers every view sharing a privilege and grantee.
pub(super) fn statements(
    schema: &str,
    privileges: &BTreeSet<Privilege>,
    grant: bool,
) -> Vec<String> {
    let mut groups: BTreeMap<(&str, &str, bool), Vec<String>> = BTreeMap::new();
    for p in privileges {
        groups
            .entry((&p.privilege, &p.grantee, p.grantable))
            .or_default()
            .push(format!("{}.{}", quote_ident(schema), quote_ident(&p.view)));
    }
    let mut out = Vec::new();
    for ((privilege, grantee, grantable), objects) in groups {
        for chunk in objects.chunks(OBJECTS_PER_GRANT) {
            let objects = chunk.join(", ");
            let role = role_sql(grantee);
            out.push(if grant {
                let option = if grantable { " WITH GRANT OPTION" } else { "" };
                format!("GRANT {privilege} ON {objects} TO {role}{option}")
            } else {
                format!("REVOKE {privilege} ON {objects} FROM {role}")
            });
        }
    }
    out
}

/// `USAGE` on `schema` for every role granted something on its views, so a grant is usable.
pub(super) fn usage_statements(schema: &str, privileges: &BTreeSet<Privilege>) -> Vec<String> {
    let roles: BTreeSet<&str> = privileges.iter().map(|p| p.grantee.as_str()).collect();
    if roles.is_empty() {
        return Vec::new();
    }
    let roles: Vec<String> = roles.into_iter().map(role_sql).collect();
    vec![format!(
        "GRANT USAGE ON SCHEMA {} TO {}",
        quote_ident(schema),
        roles.join(", ")
    )]
}

/// What a schema grants (`USAGE`, `CREATE`) and its owner's default privileges on new tables
/// and views, re-created on `target`: a schema replaced whole keeps both.
pub(super) fn schema_privileges(
    warehouse: &mut dyn Warehouse,
    schema: &str,
    target: &str,
) -> Result<Vec<String>, WarehouseError> {
    let name = quote_literal(schema);
    let target = quote_ident(target);
    let mut out = Vec::new();
    let grants = warehouse.query(&format!(
        "SELECT a.privilege_type, \
                CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END, \
                a.is_grantable \
         FROM pg_namespace n, aclexplode(n.nspacl) a \
         WHERE n.nspname = {name} AND a.grantee <> n.nspowner"
    ))?;
    for row in grants {
        let (Some(Some(privilege)), Some(Some(grantee))) = (row.first(), row.get(1)) else {
            continue;
        };
        let option = if row.get(2).cloned().flatten().as_deref() == Some("t") {
            " WITH GRANT OPTION"
        } else {
            ""
        };
        out.push(format!(
            "GRANT {privilege} ON SCHEMA {target} TO {}{option}",
            role_sql(grantee)
        ));
    }
    let defaults = warehouse.query(&format!(
        "SELECT a.privilege_type, \
                CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END \
         FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace, \
              aclexplode(d.defaclacl) a \
         WHERE n.nspname = {name} AND d.defaclobjtype = 'r' \
           AND d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
    ))?;
    for row in defaults {
        let (Some(Some(privilege)), Some(Some(grantee))) = (row.first(), row.get(1)) else {
            continue;
        };
        out.push(format!(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {target} GRANT {privilege} ON TABLES TO {}",
            role_sql(grantee)
        ));
    }
    Ok(out)
}

/// Declared grants on physical tables (`grants_target_layer 'physical'` or `'all'`): added,
/// never revoked, since a table may be shared by several environments' releases.
pub(super) fn table_statements(refs: &[SnapshotRef]) -> Vec<String> {
    let mut out = Vec::new();
    for r in refs
        .iter()
        .filter(|r| !r.is_symbolic() && r.grants_target_layer.tables())
    {
        let table = r.table();
        let roles: BTreeSet<&str> = sluice_engine::grants::roles(&r.grants);
        if roles.is_empty() {
            continue;
        }
        let roles: Vec<String> = roles.into_iter().map(role_sql).collect();
        out.push(format!(
            "GRANT USAGE ON SCHEMA {} TO {}",
            quote_ident(&table.schema),
            roles.join(", ")
        ));
        out.extend(grant_statements(&table.quoted(), &r.grants));
    }
    out
}

/// `GRANT ... ON object TO ...` statements for `grants` (`object` already quoted).
fn grant_statements(object: &str, grants: &Grants) -> Vec<String> {
    grants
        .iter()
        .filter(|(_, roles)| !roles.is_empty())
        .map(|(privilege, roles)| {
            format!(
                "GRANT {privilege} ON {object} TO {}",
                roles
                    .iter()
                    .map(|r| role_sql(r))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect()
}

/// A role as SQL: `PUBLIC` is the keyword, every other name is quoted (so a hostile name is
/// only ever an identifier).
fn role_sql(role: &str) -> String {
    if role.eq_ignore_ascii_case("public") {
        "PUBLIC".into()
    } else {
        quote_ident(role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(view: &str, privilege: &str, grantee: &str) -> Privilege {
        Privilege {
            view: view.into(),
            privilege: privilege.into(),
            grantee: grantee.into(),
            grantable: false,
        }
    }

    #[test]
    fn grants_are_grouped_by_privilege_and_role() {
        let set: BTreeSet<Privilege> = [
            p("a", "SELECT", "bi"),
            p("b", "SELECT", "bi"),
            p("a", "SELECT", "PUBLIC"),
        ]
        .into();
        assert_eq!(
            statements("stg", &set, true),
            vec![
                r#"GRANT SELECT ON "stg"."a" TO PUBLIC"#,
                r#"GRANT SELECT ON "stg"."a", "stg"."b" TO "bi""#,
            ]
        );
        assert_eq!(
            usage_statements("stg", &set),
            vec![r#"GRANT USAGE ON SCHEMA "stg" TO PUBLIC, "bi""#]
        );
    }

    #[test]
    fn a_hostile_role_stays_an_identifier() {
        let set: BTreeSet<Privilege> = [p("a", "SELECT", r#"x" ; DROP TABLE t; --"#)].into();
        assert_eq!(
            statements("stg", &set, false),
            vec![r#"REVOKE SELECT ON "stg"."a" FROM "x"" ; DROP TABLE t; --""#]
        );
    }

    #[test]
    fn statements_quote_roles() {
        let mut g = Grants::new();
        sluice_engine::grants::add_grant(
            &mut g,
            "select",
            &["bi".into(), "Robert\"); DROP".into(), "public".into()],
        )
        .unwrap();
        assert_eq!(
            grant_statements("\"s\".\"v\"", &g),
            ["GRANT SELECT ON \"s\".\"v\" TO \"Robert\"\"); DROP\", \"bi\", PUBLIC"]
        );
    }
}
