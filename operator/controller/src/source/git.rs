//! A Plan's project from git. Everything the Plan says (URL, revision, path) is data: checked
//! against strict rules first, then passed after `--` to a git that may use only the allowed
//! protocols, reads no system or user configuration, runs no hooks, checks links out as plain
//! files, and is stopped past a time and size limit.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sluice_api::archive::{digest_dir, sub_dir};
use sluice_api::plan::GitSource;

use super::{FetchedProject, refused};
use crate::error::{Error, Result};

/// What the operator lets a git source do.
#[derive(Debug, Clone)]
pub struct GitLimits {
    /// Protocols allowed besides `https` and `ssh` (`file`, `http`): for tests and air-gapped
    /// mirrors only, off by default.
    pub extra_protocols: Vec<String>,
    /// A fetch and checkout taking longer is stopped.
    pub timeout: Duration,
    /// A checkout (history included) growing past this is stopped.
    pub max_bytes: u64,
}

impl Default for GitLimits {
    fn default() -> GitLimits {
        GitLimits {
            extra_protocols: Vec::new(),
            timeout: Duration::from_secs(120),
            max_bytes: 512 * 1024 * 1024,
        }
    }
}

/// The protocols a git source may name at most: `https` and `ssh` always, `file` and `http`
/// only when the operator allows them.
pub const OPTIONAL_PROTOCOLS: [&str; 2] = ["file", "http"];

/// Why `url` is not acceptable as a git source, if it is not.
pub fn check_url(url: &str, limits: &GitLimits) -> std::result::Result<(), String> {
    if url.is_empty() || url.len() > 2048 {
        return Err("must be 1 to 2048 characters".into());
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(
            "must be a URL: https://host/path or ssh://[user@]host/path (scp-like \
             user@host:path is not accepted; write it as ssh://user@host/path)"
                .into(),
        );
    };
    let allowed = scheme == "https"
        || scheme == "ssh"
        || (OPTIONAL_PROTOCOLS.contains(&scheme)
            && limits.extra_protocols.iter().any(|p| p == scheme));
    if !allowed {
        let extra = if OPTIONAL_PROTOCOLS.contains(&scheme) {
            format!(" ({scheme}:// only when the operator runs with --git-allow-protocol {scheme})")
        } else {
            String::new()
        };
        return Err(format!(
            "scheme {scheme:?} is not allowed: use https:// or ssh://{extra}"
        ));
    }
    if scheme == "file" {
        return if rest.starts_with('/') {
            Ok(())
        } else {
            Err("a file:// URL must name an absolute path (file:///srv/repo)".into())
        };
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || authority.starts_with('@') {
        return Err("must name a host".into());
    }
    if authority.starts_with('-') || host.starts_with('-') {
        return Err("the user and host must not start with '-'".into());
    }
    Ok(())
}

/// Why `revision` is not acceptable (a commit, tag or branch name, never an option), if it is
/// not.
pub fn check_revision(revision: &str) -> std::result::Result<(), String> {
    let valid_chars = revision
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'));
    if revision.is_empty() || revision.len() > 255 || !valid_chars {
        return Err(
            "must be a commit, tag or branch: 1 to 255 of the characters A-Z a-z 0-9 . _ / -"
                .into(),
        );
    }
    if !revision.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
        return Err("must start with a letter, digit or '_' (never '-')".into());
    }
    if revision.contains("..")
        || revision.contains("//")
        || revision.ends_with('/')
        || revision.ends_with('.')
        || revision.ends_with(".lock")
    {
        return Err("is not a valid git reference name".into());
    }
    Ok(())
}

/// Refuses a source the operator will not fetch, naming the field.
pub fn check(source: &GitSource, limits: &GitLimits) -> Result<()> {
    let refuse = |field: &str, why: String| {
        Error::stalled(
            "InvalidSource",
            format!("spec.source.git.{field}: {why}; nothing was fetched"),
        )
    };
    check_url(&source.url, limits).map_err(|why| refuse("url", why))?;
    check_revision(&source.revision).map_err(|why| refuse("revision", why))?;
    Ok(())
}

/// Fetches `source` at its revision into a new directory (blocking).
pub fn clone(source: &GitSource, limits: &GitLimits) -> Result<FetchedProject> {
    check(source, limits)?;
    let dir = tempfile::Builder::new().prefix("sluice-git-").tempdir()?;
    let git = Git {
        dir: dir.path(),
        limits,
        deadline: Instant::now() + limits.timeout,
    };
    git.run(&["init", "-q"]).map_err(Error::Git)?;
    if let Err(e) = git.run(&[
        "fetch",
        "-q",
        "--depth",
        "1",
        "--no-tags",
        "--no-recurse-submodules",
        "--",
        &source.url,
        &source.revision,
    ]) {
        return Err(Error::stalled(
            "GitRevisionNotFound",
            format!(
                "cannot fetch revision {:?} of {}: {e}",
                source.revision, source.url
            ),
        ));
    }
    git.run(&["checkout", "-q", "--detach", "FETCH_HEAD"])
        .map_err(|e| {
            Error::stalled("InvalidSource", format!("checking out {}: {e}", source.url))
        })?;
    let commit = git.run(&["rev-parse", "HEAD"]).map_err(Error::Git)?;
    let root = sub_dir(dir.path(), source.path.as_deref()).map_err(refused)?;
    let digest = digest_dir(&root, &[".git"])?;
    Ok(FetchedProject {
        dir,
        root,
        digest,
        revision: Some(commit),
    })
}

/// One checkout directory and the limits every git command in it runs under.
struct Git<'a> {
    dir: &'a Path,
    limits: &'a GitLimits,
    deadline: Instant,
}

impl Git<'_> {
    /// Runs git with `args` in the checkout; its standard output, or why it failed.
    fn run(&self, args: &[&str]) -> std::result::Result<String, String> {
        let mut command = Command::new("git");
        command.arg("-C").arg(self.dir);
        // Only the protocols allowed; nothing from system or user configuration; no hooks, no
        // credential helpers, no filesystem monitor; links become plain files so a checkout
        // can never point the engine at a file outside it.
        command.args(["-c", "protocol.allow=never"]);
        for protocol in ["https", "ssh"]
            .into_iter()
            .chain(self.limits.extra_protocols.iter().map(String::as_str))
        {
            command.args(["-c", &format!("protocol.{protocol}.allow=always")]);
        }
        for setting in [
            "core.hooksPath=/dev/null",
            "core.symlinks=false",
            "core.fsmonitor=false",
            "credential.helper=",
            "transfer.fsckObjects=true",
            "submodule.recurse=false",
            "advice.detachedHead=false",
        ] {
            command.args(["-c", setting]);
        }
        command.args(args);
        command.env_clear();
        for keep in ["PATH", "HOME", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR"] {
            if let Some(value) = std::env::var_os(keep) {
                command.env(keep, value);
            }
        }
        command
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_PROTOCOL_FROM_USER", "0")
            .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group, so a timeout stops its helpers (ssh, remote-https) too.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot run git: {e}"))?;
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let mut last_size_check = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => return Err(format!("waiting for git: {e}")),
            }
            let stop = if Instant::now() > self.deadline {
                Some(format!(
                    "stopped after {}s (the operator's git timeout)",
                    self.limits.timeout.as_secs()
                ))
            } else if last_size_check.elapsed() > Duration::from_millis(300) {
                last_size_check = Instant::now();
                let size = dir_size(self.dir);
                (size > self.limits.max_bytes).then(|| {
                    format!(
                        "stopped at {} MiB: the repository is larger than the operator's limit \
                         of {} MiB",
                        size >> 20,
                        self.limits.max_bytes >> 20
                    )
                })
            } else {
                None
            };
            if let Some(why) = stop {
                // SAFETY: signalling the process group we created for this child.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.wait();
                return Err(why);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let out = stdout.join().unwrap_or_default();
        let err = stderr.join().unwrap_or_default();
        if status.success() {
            Ok(String::from_utf8_lossy(&out).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&err).trim().to_string())
        }
    }
}

/// Reads a pipe to its end on its own thread, so a chatty child never blocks on it.
fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buffer = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = std::io::Read::read_to_end(&mut pipe, &mut buffer);
        }
        buffer
    })
}

/// Bytes under `dir` (files only; links not followed).
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => dir_size(&entry.path()),
            Ok(t) if t.is_file() => entry.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(extra: &[&str]) -> GitLimits {
        GitLimits {
            extra_protocols: extra.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn urls_that_are_options_or_other_transports_are_refused() {
        let none = with(&[]);
        for good in [
            "https://github.com/acme/models.git",
            "ssh://git@github.com/acme/models.git",
            "ssh://git@git.example.com:2222/acme/models",
        ] {
            assert_eq!(check_url(good, &none), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("--upload-pack=touch /tmp/x #", "spaces"),
            ("--upload-pack=touch", "must be a URL"),
            ("-oProxyCommand=x", "must be a URL"),
            ("ext::sh -c touch% /tmp/x", "spaces"),
            ("ext::sh", "must be a URL"),
            ("git@github.com:acme/models.git", "scp-like"),
            ("file:///srv/repo", "--git-allow-protocol file"),
            ("http://example.com/repo", "--git-allow-protocol http"),
            ("fd::17", "must be a URL"),
            ("ssh://-oProxyCommand=touch/x", "must not start with '-'"),
            ("ssh://git@-oProxyCommand=x/y", "must not start with '-'"),
            ("https:///path", "must name a host"),
            ("", "1 to 2048"),
        ] {
            let error = check_url(bad, &none).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
        assert_eq!(check_url("file:///srv/repo", &with(&["file"])), Ok(()));
        assert!(check_url("file://relative", &with(&["file"])).is_err());
    }

    #[test]
    fn revisions_are_names_never_options() {
        for good in [
            "main",
            "release-1",
            "v1.2.3",
            "feature/x",
            "_tmp",
            &"a".repeat(40),
        ] {
            assert_eq!(check_revision(good), Ok(()), "{good}");
        }
        for bad in [
            "--upload-pack=touch /tmp/x #",
            "-x",
            "main..evil",
            "a b",
            "ref.lock",
            "x/",
            "HEAD@{1}",
            "",
        ] {
            assert!(check_revision(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_refused_source_names_the_field_and_runs_nothing() {
        let marker = tempfile::tempdir().unwrap().path().join("ran");
        let source = GitSource {
            url: format!("--upload-pack=touch {} #", marker.display()),
            revision: "main".into(),
            path: None,
        };
        let error = clone(&source, &GitLimits::default()).err().unwrap();
        assert!(error.is_stalled());
        assert!(
            error.to_string().starts_with("spec.source.git.url: "),
            "{error}"
        );
        let source = GitSource {
            url: "https://example.com/repo".into(),
            revision: format!("--upload-pack=touch {}", marker.display()),
            path: None,
        };
        let error = clone(&source, &GitLimits::default()).err().unwrap();
        assert!(
            error.to_string().starts_with("spec.source.git.revision: "),
            "{error}"
        );
        assert!(!marker.exists());
    }

    #[test]
    fn links_in_a_repository_are_checked_out_as_plain_files() {
        let repo = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let out = Command::new("git")
                .arg("-C")
                .arg(repo.path())
                .args(args)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}: {out:?}");
        };
        run(&["init", "-q", "-b", "main"]);
        std::os::unix::fs::symlink("/etc/passwd", repo.path().join("seed.csv")).unwrap();
        run(&["add", "."]);
        run(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "-m",
            "link",
        ]);
        let source = GitSource {
            url: format!("file://{}", repo.path().display()),
            revision: "main".into(),
            path: None,
        };
        let fetched = clone(&source, &with(&["file"])).unwrap();
        let seed = fetched.root.join("seed.csv");
        assert!(!seed.symlink_metadata().unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(seed).unwrap(), "/etc/passwd");
    }
}
