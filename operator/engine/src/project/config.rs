//! `config.yaml`: model defaults, the default gateway's warehouse connection, and the
//! variables the models' macros read. The file is rendered as Jinja first, as SQLMesh does.
//!
//! The YAML is read into a generic value and walked by hand, so that unknown keys (SQLMesh has
//! many we do not use) are ignored while a wrong type names the exact key, e.g.
//! `config.yaml:7: gateways.local.connection.port: expected an integer`.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::Diagnostic;
use crate::grants::{Grants, GrantsLayer, add_grant};
use crate::model::{Dialect, ProjectConfig};

const DEFAULT_CRON: &str = "@daily";

/// Reads `config.yaml` (or `config.yml`) under `root`; without one, the defaults apply.
pub fn load_config(root: &Path) -> Result<ProjectConfig, Vec<Diagnostic>> {
    let Some(file) = ["config.yaml", "config.yml"]
        .into_iter()
        .find(|f| root.join(f).is_file())
    else {
        return Ok(default_config());
    };
    let rel = PathBuf::from(file);
    let text = std::fs::read_to_string(root.join(&rel))
        .map_err(|e| vec![Diagnostic::file(&rel, format!("cannot read file: {e}"))])?;
    parse_config(&rel, &text, root).map_err(|e| vec![e])
}

fn default_config() -> ProjectConfig {
    ProjectConfig {
        dialect: Dialect::Duckdb,
        start: None,
        cron: DEFAULT_CRON.to_string(),
        warehouse: None,
        state: None,
        statements: Default::default(),
        grants: Grants::new(),
        grants_target_layer: GrantsLayer::Virtual,
        variables: Default::default(),
        gateway: None,
        gateway_variables: Default::default(),
    }
}

/// Parses the text of a config file; `root` anchors a relative DuckDB database path.
pub(crate) fn parse_config(
    rel: &Path,
    text: &str,
    root: &Path,
) -> Result<ProjectConfig, Diagnostic> {
    // Like SQLMesh, the file is a Jinja template first (`{{ env_var('NAME', 'default') }}`).
    let rendered;
    let text = if text.contains("{{") || text.contains("{%") {
        let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
        rendered = crate::macros::render_config(text, &env).map_err(|e| Diagnostic {
            path: rel.to_path_buf(),
            line: Some(e.line),
            column: Some(e.column),
            message: format!("{}: {}", e.construct, e.message),
        })?;
        rendered.as_str()
    } else {
        text
    };
    let value: Value = match serde_saphyr::from_str(text) {
        Ok(value) => value,
        Err(e) => {
            let location = e.location();
            let message = e.without_snippet().to_string();
            let message = strip_location_prefix(&message);
            return Err(Diagnostic {
                path: rel.to_path_buf(),
                line: location.map(|l| l.line() as usize),
                column: location.map(|l| l.column() as usize),
                message: format!("invalid YAML: {message}"),
            });
        }
    };
    let walker = Walker { rel, text };
    let mut config = default_config();
    if value.is_null() {
        return Ok(config);
    }
    let top = walker.object(&value, &[])?;

    if let Some(defaults) = top.get("model_defaults") {
        let path = ["model_defaults"];
        let defaults = walker.object(defaults, &path)?;
        if let Some(dialect) = walker.opt_str(defaults, &path, "dialect")? {
            config.dialect = Dialect::parse(&dialect).ok_or_else(|| {
                walker.error(
                    &["model_defaults", "dialect"],
                    format!("unsupported dialect '{dialect}' (expected duckdb, postgres or spark)"),
                )
            })?;
        }
        config.start = walker.opt_str(defaults, &path, "start")?;
        if let Some(cron) = walker.opt_str(defaults, &path, "cron")? {
            config.cron = cron;
        }
        if let Some(grants) = defaults.get("grants") {
            config.grants = walker.grants(grants)?;
        }
        if let Some(layer) = walker.opt_str(defaults, &path, "grants_target_layer")? {
            config.grants_target_layer = GrantsLayer::parse(&layer).ok_or_else(|| {
                walker.error(
                    &["model_defaults", "grants_target_layer"],
                    format!("'{layer}': expected virtual, physical or all"),
                )
            })?;
        }
    }

    config.statements.before_all = walker.opt_str_list(top, "before_all")?;
    config.statements.after_all = walker.opt_str_list(top, "after_all")?;
    config.variables = walker.variables(top, &[])?;
    if let Some(gateway) = default_gateway(&walker, top)? {
        config.gateway = Some(gateway.0.clone());
        config.gateway_variables = walker.variables(gateway.1, &["gateways", &gateway.0])?;
        for (key, url) in [
            ("connection", &mut config.warehouse),
            ("state_connection", &mut config.state),
        ] {
            if let Some((path, connection)) = gateway_connection(&walker, &gateway, key)? {
                *url = Some(warehouse_url(&walker, &path, connection, root)?);
            }
        }
    }
    Ok(config)
}

/// A gateway's `connection` mapping and its key path in the file.
type Connection<'v> = (Vec<String>, &'v Map<String, Value>);

/// A gateway's name and mapping.
type Gateway<'v> = (String, &'v Map<String, Value>);

/// `default_gateway` (or the first gateway): its name and mapping.
fn default_gateway<'v>(
    walker: &Walker<'_>,
    top: &'v Map<String, Value>,
) -> Result<Option<Gateway<'v>>, Diagnostic> {
    let Some(gateways) = top.get("gateways") else {
        return Ok(None);
    };
    let gateways = walker.object(gateways, &["gateways"])?;
    let name = match walker.opt_str(top, &[], "default_gateway")? {
        Some(name) => {
            if !gateways.contains_key(&name) {
                return Err(walker.error(
                    &["default_gateway"],
                    format!("names gateway '{name}', which is not defined under gateways"),
                ));
            }
            name
        }
        // serde_json keeps keys sorted, so "first" is taken from the file itself.
        None => match first_key_in_file(walker.text, "gateways", gateways) {
            Some(name) => name,
            None => return Ok(None),
        },
    };
    let gateway = walker.object(&gateways[&name], &["gateways", name.as_str()])?;
    Ok(Some((name, gateway)))
}

/// The gateway's `key` mapping (`connection` or `state_connection`), with its key path.
fn gateway_connection<'v>(
    walker: &Walker<'_>,
    (name, gateway): &Gateway<'v>,
    key: &str,
) -> Result<Option<Connection<'v>>, Diagnostic> {
    let Some(connection) = gateway.get(key) else {
        return Ok(None);
    };
    let path: Vec<String> = ["gateways", name, key]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let path_refs: Vec<&str> = path.iter().map(String::as_str).collect();
    let connection = walker.object(connection, &path_refs)?;
    Ok(Some((path, connection)))
}

fn warehouse_url(
    walker: &Walker<'_>,
    path: &[String],
    connection: &Map<String, Value>,
    root: &Path,
) -> Result<String, Diagnostic> {
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    let kind = walker
        .opt_str(connection, &path, "type")?
        .ok_or_else(|| walker.error(&path, "missing 'type' (duckdb or postgres)".to_string()))?;
    match kind.to_ascii_lowercase().as_str() {
        "duckdb" => Ok(match walker.opt_str(connection, &path, "database")? {
            Some(db) if db != ":memory:" => {
                let db = Path::new(&db);
                let abs = if db.is_absolute() {
                    db.to_path_buf()
                } else {
                    root.join(db)
                };
                format!("duckdb:{}", abs.display())
            }
            _ => "duckdb::memory:".to_string(),
        }),
        "postgres" | "postgresql" => {
            let required = |key: &str| {
                walker.opt_str(connection, &path, key)?.ok_or_else(|| {
                    walker.error(&path, format!("postgres connection needs '{key}'"))
                })
            };
            let host = required("host")?;
            let user = required("user")?;
            let database = required("database")?;
            let port = match connection.get("port") {
                None => 5432,
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .filter(|p| (1..=65535).contains(p))
                    .ok_or_else(|| {
                        let mut key = path.clone();
                        key.push("port");
                        walker.error(&key, "expected a port number".to_string())
                    })?,
            };
            let credentials = match walker.opt_str(connection, &path, "password")? {
                Some(password) => {
                    format!("{}:{}", percent_encode(&user), percent_encode(&password))
                }
                None => percent_encode(&user),
            };
            Ok(format!(
                "postgres://{credentials}@{host}:{port}/{}",
                percent_encode(&database)
            ))
        }
        other => Err(walker.error(
            &[path.as_slice(), &["type"]].concat(),
            format!("unsupported connection type '{other}' (expected duckdb or postgres)"),
        )),
    }
}

/// Encodes everything except RFC 3986 unreserved characters, so any password survives a URL.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Typed access to the config value, producing errors that name file, line and key path.
struct Walker<'a> {
    rel: &'a Path,
    text: &'a str,
}

impl Walker<'_> {
    fn error(&self, key_path: &[&str], message: String) -> Diagnostic {
        Diagnostic {
            path: self.rel.to_path_buf(),
            line: locate_key(self.text, key_path),
            column: None,
            message: if key_path.is_empty() {
                message
            } else {
                format!("{}: {message}", key_path.join("."))
            },
        }
    }

    fn object<'v>(
        &self,
        value: &'v Value,
        key_path: &[&str],
    ) -> Result<&'v Map<String, Value>, Diagnostic> {
        value.as_object().ok_or_else(|| {
            self.error(
                key_path,
                format!("expected a mapping, found {}", describe(value)),
            )
        })
    }

    /// A scalar as text (YAML `2024-01-01` and `5432` are scalars too); `None` when absent or
    /// null; an error for lists and mappings.
    fn opt_str(
        &self,
        map: &Map<String, Value>,
        parent: &[&str],
        key: &str,
    ) -> Result<Option<String>, Diagnostic> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => {
                let path = [parent, &[key]].concat();
                Err(self.error(
                    &path,
                    format!("expected a string, found {}", describe(other)),
                ))
            }
        }
    }
}

impl Walker<'_> {
    /// The `variables:` mapping under `parent` (empty when absent).
    fn variables(
        &self,
        map: &Map<String, Value>,
        parent: &[&str],
    ) -> Result<std::collections::BTreeMap<String, Value>, Diagnostic> {
        match map.get("variables") {
            None | Some(Value::Null) => Ok(Default::default()),
            Some(value) => {
                let path = [parent, &["variables"]].concat();
                let vars = self.object(value, &path)?;
                Ok(vars
                    .iter()
                    .map(|(k, v)| (k.to_lowercase(), v.clone()))
                    .collect())
            }
        }
    }

    /// A top-level list of SQL statements (`before_all`, `after_all`); empty when absent.
    fn opt_str_list(&self, map: &Map<String, Value>, key: &str) -> Result<Vec<String>, Diagnostic> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
                    other => Err(self.error(
                        &[key],
                        format!(
                            "item {}: expected a SQL statement, found {}",
                            i + 1,
                            describe(other)
                        ),
                    )),
                })
                .collect(),
            Some(other) => Err(self.error(
                &[key],
                format!(
                    "expected a list of SQL statements, found {}",
                    describe(other)
                ),
            )),
        }
    }
}

impl Walker<'_> {
    /// `model_defaults.grants`: `{select: [bi, analyst], insert: [etl]}`.
    fn grants(&self, value: &Value) -> Result<Grants, Diagnostic> {
        let path = ["model_defaults", "grants"];
        let map = self.object(value, &path)?;
        let mut grants = Grants::new();
        for (privilege, roles) in map {
            let key_path = ["model_defaults", "grants", privilege.as_str()];
            let roles: Vec<String> = match roles {
                Value::String(role) => vec![role.clone()],
                Value::Array(items) => items
                    .iter()
                    .map(|item| match item {
                        Value::String(role) => Ok(role.clone()),
                        other => Err(self.error(
                            &key_path,
                            format!("expected role names, found {}", describe(other)),
                        )),
                    })
                    .collect::<Result<_, _>>()?,
                other => {
                    return Err(self.error(
                        &key_path,
                        format!("expected a list of role names, found {}", describe(other)),
                    ));
                }
            };
            add_grant(&mut grants, privilege, &roles).map_err(|m| self.error(&path, m))?;
        }
        Ok(grants)
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Splits a block-style YAML line into its indentation and key, if it has one.
fn line_key(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') {
        return None;
    }
    let indent = line.len() - trimmed.len();
    let (key, _) = trimmed.split_once(':')?;
    let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
    Some((indent, key))
}

/// Best-effort 1-based line of `key_path` in block-style YAML: each key is searched for below
/// its parent, at a deeper indentation. `None` when it cannot be found (flow style, anchors).
fn locate_key(text: &str, key_path: &[&str]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0;
    let mut parent_indent: Option<usize> = None;
    let mut found = None;
    for key in key_path {
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().skip(from) {
            let Some((indent, k)) = line_key(line) else {
                continue;
            };
            if parent_indent.is_some_and(|p| indent <= p) {
                break;
            }
            if k == *key {
                hit = Some((i, indent));
                break;
            }
        }
        let (i, indent) = hit?;
        found = Some(i + 1);
        from = i + 1;
        parent_indent = Some(indent);
    }
    found
}

/// The first key of the mapping `parent` (a top-level key) in file order.
fn first_key_in_file(text: &str, parent: &str, map: &Map<String, Value>) -> Option<String> {
    let parent_line = locate_key(text, &[parent])?;
    text.lines()
        .skip(parent_line)
        .filter_map(line_key)
        .take_while(|(indent, _)| *indent > 0)
        .map(|(_, key)| key.to_string())
        .find(|key| map.contains_key(key))
        .or_else(|| map.keys().next().cloned())
}

fn strip_location_prefix(message: &str) -> &str {
    let message = message.strip_prefix("error: ").unwrap_or(message);
    if message.starts_with("line ")
        && let Some((_, rest)) = message.split_once(": ")
    {
        return rest;
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ProjectConfig, Diagnostic> {
        parse_config(Path::new("config.yaml"), text, Path::new("/proj"))
    }

    #[test]
    fn defaults_without_config() {
        let config = parse("").unwrap();
        assert_eq!(config.cron, "@daily");
        assert_eq!(config.dialect, Dialect::Duckdb);
        assert_eq!(config.warehouse, None);
    }

    #[test]
    fn model_defaults_and_duckdb_gateway() {
        let config = parse(
            "project: x\nmodel_defaults:\n  dialect: duckdb\n  start: 2024-01-01\n  cron: '@hourly'\n  \
             kind: FULL\ngateways:\n  local:\n    connection:\n      type: duckdb\n      \
             database: data/db.duckdb\n",
        )
        .unwrap();
        assert_eq!(config.start.as_deref(), Some("2024-01-01"));
        assert_eq!(config.cron, "@hourly");
        assert_eq!(
            config.warehouse.as_deref(),
            Some("duckdb:/proj/data/db.duckdb")
        );
    }

    #[test]
    fn default_gateway_postgres_with_encoded_password() {
        let config = parse(
            "gateways:\n  local:\n    connection:\n      type: duckdb\n  warehouse:\n    \
             connection:\n      type: postgres\n      host: db.internal\n      port: 6543\n      \
             user: sluice\n      password: 'p@ss:w/rd'\n      database: analytics\n\
             default_gateway: warehouse\nmodel_defaults:\n  dialect: postgres\n",
        )
        .unwrap();
        assert_eq!(config.dialect, Dialect::Postgres);
        assert_eq!(
            config.warehouse.as_deref(),
            Some("postgres://sluice:p%40ss%3Aw%2Frd@db.internal:6543/analytics")
        );
    }

    #[test]
    fn state_connection_of_the_default_gateway() {
        let config = parse(
            "gateways:\n  local:\n    connection:\n      type: duckdb\n      database: w.db\n    \
             state_connection:\n      type: postgres\n      host: state.internal\n      \
             user: sluice\n      database: sluice_state\n",
        )
        .unwrap();
        assert_eq!(config.warehouse.as_deref(), Some("duckdb:/proj/w.db"));
        assert_eq!(
            config.state.as_deref(),
            Some("postgres://sluice@state.internal:5432/sluice_state")
        );
        let err =
            parse("gateways:\n  local:\n    state_connection:\n      type: oracle\n").unwrap_err();
        assert!(
            err.to_string()
                .contains("gateways.local.state_connection.type: unsupported connection type"),
            "{err}"
        );
        assert_eq!(parse("gateways:\n  local: {}\n").unwrap().state, None);
    }

    #[test]
    fn first_gateway_in_file_order_is_the_default() {
        let config = parse(
            "gateways:\n  zeta:\n    connection:\n      type: duckdb\n      database: z.db\n  \
             alpha:\n    connection:\n      type: duckdb\n      database: a.db\n",
        )
        .unwrap();
        assert_eq!(config.warehouse.as_deref(), Some("duckdb:/proj/z.db"));
    }

    #[test]
    fn wrong_types_name_file_line_and_key() {
        let err = parse("model_defaults:\n  dialect: [duckdb]\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.yaml:2: model_defaults.dialect: expected a string, found a list"
        );
        let err = parse(
            "gateways:\n  pg:\n    connection:\n      type: postgres\n      host: h\n      \
             user: u\n      database: d\n      port: abc\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.yaml:8: gateways.pg.connection.port: expected a port number"
        );
        let err = parse("model_defaults: 3\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.yaml:1: model_defaults: expected a mapping, found a number"
        );
        let err = parse("gateways:\n  x:\n    connection:\n      type: snowflake\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("config.yaml:4: gateways.x.connection.type: unsupported")
        );
    }

    #[test]
    fn yaml_syntax_errors_have_line_and_column() {
        let err = parse("a: [\n").unwrap_err();
        assert_eq!((err.line, err.column), (Some(1), Some(4)));
        assert!(
            err.to_string().starts_with("config.yaml:1:4: invalid YAML"),
            "{err}"
        );
    }
}
