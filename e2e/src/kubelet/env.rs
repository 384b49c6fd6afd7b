//! What reaches a container process: its environment (`env` with `valueFrom`, `envFrom`,
//! `$(VAR)` expansion) and its volumes. ConfigMap, Secret and emptyDir volumes are written to
//! the pod directory; each `volumeMount` is symlinked under `$SLUICE_POD_ROOT` and its
//! `mountPath` is rewritten to the real directory in command, args, env values and workingDir.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;

use crate::api::Cluster;
use crate::table::json_path;

/// Why a container cannot start yet (`CreateContainerConfigError`).
pub type ConfigError = String;

fn lookup(cluster: &Cluster, plural: &str, ns: &str, name: &str) -> Option<Value> {
    let res = cluster.resource("", "v1", plural).ok()?;
    cluster.get(&res, ns, name).ok()
}

/// Key/value pairs of a ConfigMap or Secret (decoded), or `None` if it does not exist.
fn data_of(
    cluster: &Cluster,
    plural: &str,
    ns: &str,
    name: &str,
) -> Option<Vec<(String, Vec<u8>)>> {
    let obj = lookup(cluster, plural, ns, name)?;
    let mut out = Vec::new();
    for (k, v) in obj["data"].as_object().into_iter().flatten() {
        let s = v.as_str().unwrap_or_default();
        let bytes = if plural == "secrets" {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .unwrap_or_default()
        } else {
            s.as_bytes().to_vec()
        };
        out.push((k.clone(), bytes));
    }
    for (k, v) in obj["binaryData"].as_object().into_iter().flatten() {
        out.push((
            k.clone(),
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap_or_default())
                .unwrap_or_default(),
        ));
    }
    Some(out)
}

/// Expands `$(NAME)` references to earlier variables; `$$(NAME)` escapes.
pub fn expand(s: &str, vars: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("$") {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(r) = rest.strip_prefix("$$") {
            out.push('$');
            rest = r;
        } else if let Some((name, r)) = rest.strip_prefix("$(").and_then(|r| r.split_once(')')) {
            match vars.iter().rev().find(|(k, _)| k == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&format!("$({name})")),
            }
            rest = r;
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

fn field_ref(pod: &Value, path: &str) -> String {
    let bracket = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix("']"))
            .map(String::from)
    };
    let v = if let Some(k) = bracket("metadata.labels['") {
        pod["metadata"]["labels"][k].clone()
    } else if let Some(k) = bracket("metadata.annotations['") {
        pod["metadata"]["annotations"][k].clone()
    } else if path == "status.podIP" || path == "status.hostIP" {
        Value::String("127.0.0.1".into())
    } else {
        json_path(pod, &format!(".{path}"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    match v {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The container's environment, in declaration order (`envFrom` first, then `env`).
pub fn environment(
    cluster: &Cluster,
    pod: &Value,
    container: &Value,
) -> Result<Vec<(String, String)>, ConfigError> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let mut vars: Vec<(String, String)> = Vec::new();
    for source in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = source["prefix"].as_str().unwrap_or_default();
        let (plural, r) = if source["secretRef"].is_object() {
            ("secrets", &source["secretRef"])
        } else {
            ("configmaps", &source["configMapRef"])
        };
        let name = r["name"].as_str().unwrap_or_default();
        match data_of(cluster, plural, ns, name) {
            Some(data) => vars.extend(data.into_iter().map(|(k, v)| {
                (
                    format!("{prefix}{k}"),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })),
            None if r["optional"] == true => {}
            None => {
                return Err(format!(
                    "{} \"{name}\" not found",
                    &plural[..plural.len() - 1]
                ));
            }
        }
    }
    for e in container["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap_or_default().to_string();
        let from = &e["valueFrom"];
        let value = if let Some(v) = e["value"].as_str() {
            expand(v, &vars)
        } else if from["fieldRef"].is_object() {
            field_ref(
                pod,
                from["fieldRef"]["fieldPath"].as_str().unwrap_or_default(),
            )
        } else if from["secretKeyRef"].is_object() || from["configMapKeyRef"].is_object() {
            let (plural, r) = if from["secretKeyRef"].is_object() {
                ("secrets", &from["secretKeyRef"])
            } else {
                ("configmaps", &from["configMapKeyRef"])
            };
            let (src, key) = (
                r["name"].as_str().unwrap_or_default(),
                r["key"].as_str().unwrap_or_default(),
            );
            let found =
                data_of(cluster, plural, ns, src).map(|d| d.into_iter().find(|(k, _)| k == key));
            match found {
                Some(Some((_, v))) => String::from_utf8_lossy(&v).into_owned(),
                _ if r["optional"] == true => continue,
                None => {
                    return Err(format!(
                        "{} \"{src}\" not found",
                        &plural[..plural.len() - 1]
                    ));
                }
                Some(None) => {
                    return Err(format!(
                        "couldn't find key {key} in {} {ns}/{src}",
                        &plural[..plural.len() - 1]
                    ));
                }
            }
        } else {
            String::new()
        };
        vars.push((name, value));
    }
    Ok(vars)
}

/// Writes the pod's volumes under `dir` and returns `(mountPath, host path)` for the
/// container's mounts, longest mount path first.
pub fn volumes(
    cluster: &Cluster,
    pod: &Value,
    container: &Value,
    dir: &Path,
) -> Result<Vec<(String, PathBuf)>, ConfigError> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    for vol in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let vdir = dir.join(vol["name"].as_str().unwrap_or_default());
        std::fs::create_dir_all(&vdir).map_err(|e| e.to_string())?;
        let (plural, src, name_field) = if vol["configMap"].is_object() {
            ("configmaps", &vol["configMap"], "name")
        } else if vol["secret"].is_object() {
            ("secrets", &vol["secret"], "secretName")
        } else {
            continue; // emptyDir and anything else: an empty directory.
        };
        let name = src[name_field].as_str().unwrap_or_default();
        let data = match data_of(cluster, plural, ns, name) {
            Some(d) => d,
            None if src["optional"] == true => continue,
            None => {
                return Err(format!(
                    "{} \"{name}\" not found",
                    &plural[..plural.len() - 1]
                ));
            }
        };
        let items = src["items"].as_array();
        for (k, v) in data {
            let target = match items {
                Some(items) => match items.iter().find(|i| i["key"] == k.as_str()) {
                    Some(i) => i["path"].as_str().unwrap_or(&k).to_string(),
                    None => continue,
                },
                None => k.clone(),
            };
            let file = vdir.join(target);
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            std::fs::write(&file, v).map_err(|e| e.to_string())?;
        }
    }
    let mut mounts = Vec::new();
    for m in container["volumeMounts"].as_array().into_iter().flatten() {
        let mut host = dir.join(m["name"].as_str().unwrap_or_default());
        if let Some(sub) = m["subPath"].as_str().filter(|s| !s.is_empty()) {
            host = host.join(sub);
        }
        mounts.push((
            m["mountPath"]
                .as_str()
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_string(),
            host,
        ));
    }
    mounts.sort_by_key(|(m, _)| std::cmp::Reverse(m.len()));
    Ok(mounts)
}

/// Replaces each mount path in `s` by its host directory, where it appears as a path (at the
/// start or after whitespace, `=`, `:` or a quote, and followed by `/`, the end, or a separator).
/// One pass, longest mount first: an inserted host directory is never rewritten again (pod
/// directories live under `/tmp`, itself a common mount path).
pub fn rewrite(s: &str, mounts: &[(String, PathBuf)]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let starts = s[..i]
            .chars()
            .last()
            .is_none_or(|c| c.is_whitespace() || "=:'\"".contains(c));
        let found = starts
            .then(|| {
                mounts.iter().find(|(mount, _)| {
                    !mount.is_empty()
                        && s[i..].starts_with(mount.as_str())
                        && s[i + mount.len()..]
                            .chars()
                            .next()
                            .is_none_or(|c| c == '/' || c.is_whitespace() || ";:'\"&|)".contains(c))
                })
            })
            .flatten();
        match found {
            Some((mount, host)) => {
                out.push_str(&host.to_string_lossy());
                i += mount.len();
            }
            None => {
                let c = s[i..].chars().next().expect("i is a char boundary");
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_and_rewrite() {
        let vars = vec![("A".to_string(), "x".to_string())];
        assert_eq!(expand("$(A)-$(B)-$$(A)", &vars), "x-$(B)-$(A)");
        let mounts = vec![("/etc/cfg".to_string(), PathBuf::from("/tmp/p/cfg"))];
        assert_eq!(
            rewrite("cat /etc/cfg/key; ls /etc/cfgx", &mounts),
            "cat /tmp/p/cfg/key; ls /etc/cfgx"
        );
        assert_eq!(rewrite("--config=/etc/cfg", &mounts), "--config=/tmp/p/cfg");
        // A host directory under a mounted path is not rewritten again.
        let mounts = vec![
            ("/var/run/secrets".to_string(), PathBuf::from("/tmp/pod/sa")),
            ("/tmp".to_string(), PathBuf::from("/tmp/pod/volumes/tmp")),
        ];
        assert_eq!(
            rewrite("/var/run/secrets/token /tmp/x", &mounts),
            "/tmp/pod/sa/token /tmp/pod/volumes/tmp/x"
        );
    }
}
