//! PostgreSQL adapter, over the synchronous `postgres` client, with TLS as libpq configures it
//! (`sslmode`, `sslrootcert` in the URL; see `tls`).
//!
//! Everything goes through the simple-query protocol: it accepts several `;`-separated
//! statements in one round trip and returns every value in PostgreSQL's own text format, which
//! is exactly what [`Warehouse::query`] promises.
//!
//! The client is blocking: async callers (the operator) run it on a blocking thread
//! (`tokio::task::spawn_blocking`), never on the async runtime itself.

use std::time::Duration;

use postgres::{Client, Config, NoTls, SimpleQueryMessage};
use sluice_engine::model::Dialect;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::tls::{self, SslMode};
use super::{Result, Row, Warehouse, WarehouseError};

/// Used when the URL sets no `connect_timeout`, so an unreachable server fails in seconds
/// instead of hanging on the operating system's TCP timeout.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to a PostgreSQL database.
pub struct PostgresWarehouse {
    client: Client,
}

impl PostgresWarehouse {
    /// Connects to `postgres://...` / `postgresql://...` (libpq URL syntax).
    ///
    /// The session time zone is set to UTC: intervals are UTC, and timestamps then render the
    /// same as on DuckDB regardless of the server's configuration.
    pub fn connect(url: &str) -> Result<PostgresWarehouse> {
        let shown = redact_password(url);
        let url_error = |message: String| WarehouseError::Url {
            url: shown.clone(),
            message,
        };
        let tls = tls::split_url(url).map_err(url_error)?;
        let mut config: Config = tls
            .url
            .parse()
            .map_err(|e: postgres::Error| url_error(describe(&e)))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("sluice");
        }
        let connected = match tls.mode {
            SslMode::Disable => {
                config.ssl_mode(postgres::config::SslMode::Disable);
                config.connect(NoTls)
            }
            mode => {
                config.ssl_mode(if mode == SslMode::Prefer {
                    postgres::config::SslMode::Prefer
                } else {
                    postgres::config::SslMode::Require
                });
                let rustls = tls::client_config(&tls).map_err(url_error)?;
                config.connect(MakeRustlsConnect::new(rustls))
            }
        };
        let mut client = connected.map_err(|e| WarehouseError::Connect {
            url: shown.clone(),
            message: describe(&e),
        })?;
        client
            .batch_execute("SET TIME ZONE 'UTC'")
            .map_err(|e| WarehouseError::Connect {
                url: shown,
                message: describe(&e),
            })?;
        Ok(PostgresWarehouse { client })
    }
}

impl Warehouse for PostgresWarehouse {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str) -> Result<()> {
        self.client
            .batch_execute(sql)
            .map_err(|e| sql_error(sql, &e))
    }

    fn query(&mut self, sql: &str) -> Result<Vec<Row>> {
        let messages = self
            .client
            .simple_query(sql)
            .map_err(|e| sql_error(sql, &e))?;
        Ok(messages
            .iter()
            .filter_map(|message| match message {
                SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }
}

fn sql_error(sql: &str, error: &postgres::Error) -> WarehouseError {
    let (sql, message) = (sql.to_string(), describe(error));
    if lost(error) {
        WarehouseError::Lost { sql, message }
    } else if busy(error) {
        WarehouseError::Busy { sql, message }
    } else {
        WarehouseError::Sql { sql, message }
    }
}

/// Whether a lock was not granted in time (`lock_not_available`, 55P03) or a deadlock was
/// broken (40P01): the statement was fine, the moment was not.
fn busy(error: &postgres::Error) -> bool {
    error
        .as_db_error()
        .is_some_and(|db| matches!(db.code().code(), "55P03" | "40P01"))
}

/// Whether the connection, not the statement, failed: the client saw it closed, the socket
/// failed, or the server said it is going away or not ready (SQLSTATE class 08 and 57P01-03).
fn lost(error: &postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
        }
        None => std::error::Error::source(error)
            .is_some_and(|cause| cause.downcast_ref::<std::io::Error>().is_some()),
    }
}

/// The server's message (with detail and hint) for database errors; otherwise the error and
/// its causes, since the client's own `Display` says little ("db error", "error connecting").
fn describe(error: &postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut message = format!("{}: {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            message.push_str(&format!("\n  detail: {detail}"));
        }
        if let Some(hint) = db.hint() {
            message.push_str(&format!("\n  hint: {hint}"));
        }
        return message;
    }
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

/// The URL with any password replaced by `***`, for error messages and logs.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, params)) => {
            let params: Vec<&str> = params
                .split('&')
                .map(|param| {
                    if param.starts_with("password=") {
                        "password=***"
                    } else {
                        param
                    }
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_password("postgres://me:secret@db:5432/x?sslmode=disable"),
            "postgres://me:***@db:5432/x?sslmode=disable"
        );
        assert_eq!(redact_password("postgres://me@db/x"), "postgres://me@db/x");
        assert_eq!(redact_password("postgresql://db"), "postgresql://db");
        assert_eq!(
            redact_password("postgresql://db/x?user=me&password=secret"),
            "postgresql://db/x?user=me&password=***"
        );
    }
}
