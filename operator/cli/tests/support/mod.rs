//! Shared test helpers: a throwaway PostgreSQL server.
//!
//! `postgres_url()` hands out a fresh database per call on a server started once per test
//! process (or on the server named by `SLUICE_TEST_POSTGRES_URL`, which `make test` starts with
//! `scripts/with-postgres`). A watchdog stops the server and deletes its files when the test
//! process exits, however it exits.

#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where Debian's `postgresql-15` package puts the server binaries.
const POSTGRES_BIN: &str = "/usr/lib/postgresql/15/bin";

const ENV_URL: &str = "SLUICE_TEST_POSTGRES_URL";

/// The URL of a new, empty database on the test server.
pub fn postgres_url() -> String {
    static SERVER: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let server = SERVER.get_or_init(|| match std::env::var(ENV_URL) {
        Ok(url) if !url.trim().is_empty() => url.trim().to_string(),
        _ => start_server(),
    });
    let name = format!(
        "sluice_test_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let mut admin = sluice_warehouse::warehouse::connect(server)
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server: {e}"));
    admin
        .execute(&format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("cannot create a test database: {e}"));
    with_database(server, &name)
}

/// `url` with its database (the URL path) replaced by `database`, query parameters kept.
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (rest, params) = match rest.split_once('?') {
        Some((rest, params)) => (rest, format!("?{params}")),
        None => (rest, String::new()),
    };
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    format!("{scheme}://{authority}/{database}{params}")
}

/// A server of its own that also speaks TLS, with a certificate for `localhost` and
/// `127.0.0.1` signed by a throwaway CA. Returns the URL of its `postgres` database (no
/// `sslmode`) and the CA certificate's path.
pub fn start_tls_server() -> (String, PathBuf) {
    let certs = tempfile::Builder::new()
        .prefix("sluice-pg-certs-")
        .tempdir()
        .expect("create a temporary directory")
        .keep();
    let openssl = |args: &[&str]| {
        run(
            Command::new("openssl").current_dir(&certs).args(args),
            "openssl",
        )
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=sluice test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        certs.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    let url = start_server_with(Some(&certs), Durability::Fast).url;
    (url, certs.join("ca.crt"))
}

/// Starts a server in a temporary directory and returns the URL of its `postgres` database.
fn start_server() -> String {
    start_server_with(None, Durability::Fast).url
}

/// A server of its own, which a test may stop and start again (a warehouse outage).
pub struct Dedicated {
    /// The URL of a fresh database on it.
    pub url: String,
    data: PathBuf,
    log: PathBuf,
    /// The server options it was started with (port, socket directory...), to start it again.
    options: String,
}

impl Dedicated {
    /// Stops the server at once (connections break, as when a database host goes away).
    pub fn stop(&self) {
        self.pg_ctl(&["-m", "immediate", "stop"]);
    }

    /// Starts it again on the same port, with the same data.
    pub fn start(&self) {
        self.pg_ctl(&["-o", &self.options, "-w", "-t", "60", "start"]);
    }

    fn pg_ctl(&self, args: &[&str]) {
        let bin = Path::new(POSTGRES_BIN).join("pg_ctl");
        run(
            server_command(running_as_root(), &bin)
                .arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(&self.log)
                .args(args)
                .stdout(Stdio::null()),
            "pg_ctl",
        );
    }
}

/// Starts a dedicated server (not the shared one) with a fresh database on it.
pub fn start_dedicated() -> Dedicated {
    // Crashed on purpose, so it keeps what it acknowledged, as a production server does.
    let started = start_server_with(None, Durability::Durable);
    let name = "sluice_outage";
    let mut admin =
        sluice_warehouse::warehouse::connect(&started.url).expect("the dedicated server");
    admin
        .execute(&format!("CREATE DATABASE {name}"))
        .expect("create the database");
    Dedicated {
        url: with_database(&started.url, name),
        data: started.dir.join("data"),
        log: started.dir.join("server.log"),
        options: started.options,
    }
}

/// A server this process started: its `postgres` database's URL and its directory.
struct Started {
    url: String,
    dir: PathBuf,
    options: String,
}

/// Whether a server keeps acknowledged commits through a crash.
#[derive(PartialEq)]
enum Durability {
    /// No fsync, commits acknowledged before they are written: fast, for servers never crashed.
    Fast,
    /// PostgreSQL's defaults.
    Durable,
}

/// `tls`: a directory with `server.crt` and `server.key` to serve TLS with.
fn start_server_with(tls: Option<&Path>, durability: Durability) -> Started {
    let bin = Path::new(POSTGRES_BIN);
    if !bin.join("postgres").exists() {
        panic!(
            "PostgreSQL 15 is needed for these tests but {} is missing: install it with \
             `apt-get install postgresql` (Debian 12), or point {ENV_URL} at a server \
             (postgresql://USER@HOST:PORT/postgres) with permission to create databases",
            bin.join("postgres").display()
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("sluice-pg-")
        .tempdir()
        .expect("create a temporary directory")
        .keep();
    let as_postgres = running_as_root();
    if as_postgres {
        run(Command::new("chown").arg("postgres:").arg(&dir), "chown");
    }
    let data = dir.join("data");
    run(
        server_command(as_postgres, &bin.join("initdb"))
            .args([
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--locale=C",
            ])
            .arg("--no-sync")
            .arg("-D")
            .arg(&data),
        "initdb",
    );
    let mut tls_options = String::new();
    if let Some(certs) = tls {
        for file in ["server.crt", "server.key"] {
            std::fs::copy(certs.join(file), data.join(file)).expect("copy the TLS files");
            std::fs::set_permissions(
                data.join(file),
                std::os::unix::fs::PermissionsExt::from_mode(0o600),
            )
            .unwrap();
            if as_postgres {
                run(
                    Command::new("chown").arg("postgres:").arg(data.join(file)),
                    "chown",
                );
            }
        }
        tls_options = " -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key".into();
    }
    spawn_watchdog(&dir, &data, as_postgres);
    // A port found free can be taken before the server binds it; try a few.
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = free_port();
        let fast = if durability == Durability::Fast {
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        } else {
            ""
        };
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200{fast}{tls_options}",
            dir.display()
        );
        let status = server_command(as_postgres, &bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .args(["-o", &options, "-w", "-t", "60", "start"])
            .stdout(Stdio::null())
            .status()
            .expect("run pg_ctl");
        if status.success() {
            return Started {
                url: format!("postgresql://postgres@127.0.0.1:{port}/postgres"),
                dir,
                options,
            };
        }
        last_error = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    }
    panic!("the test PostgreSQL server did not start:\n{last_error}");
}

/// PostgreSQL refuses to run as root, so as root its commands run as the `postgres` user.
fn server_command(as_postgres: bool, program: &Path) -> Command {
    if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn run(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    if !output.status.success() {
        panic!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("find a free port")
}

/// Starts a detached shell that waits for this process to end, then stops the server
/// (immediately: its data is disposable) and deletes its directory. It runs in its own session
/// so that Ctrl-C on the test run, which signals the whole process group, cannot kill it first.
fn spawn_watchdog(dir: &Path, data: &Path, as_postgres: bool) {
    let pg_ctl: PathBuf = Path::new(POSTGRES_BIN).join("pg_ctl");
    let stop = if as_postgres {
        "runuser -u postgres -- \"$3\""
    } else {
        "\"$3\""
    };
    let script = format!(
        "while kill -0 \"$1\" 2>/dev/null; do sleep 0.2; done; \
         {stop} -D \"$4\" -m immediate stop >/dev/null 2>&1; rm -rf \"$2\""
    );
    // `--fork` returns at once, leaving the watchdog detached rather than our child.
    let started = Command::new("setsid")
        .args(["--fork", "bash", "-c", &script, "sluice-pg-watchdog"])
        .arg(std::process::id().to_string())
        .arg(dir)
        .arg(pg_ctl)
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("start the PostgreSQL watchdog");
    assert!(
        started.success(),
        "cannot start the PostgreSQL watchdog: {started}"
    );
}
