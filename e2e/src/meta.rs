//! Small metadata helpers: timestamps, uids, generated names and name validation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// RFC 3339 UTC with second precision, the format of `metav1.Time`.
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    s.parse().ok()
}

/// Seconds since a `metav1.Time`, if it parses.
pub fn age_seconds(s: &str) -> Option<i64> {
    parse_time(s).map(|t| jiff::Timestamp::now().as_second() - t.as_second())
}

fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let mut x = nanos
        ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        ^ (std::process::id() as u64) << 32;
    // splitmix64 finaliser: spreads the counter and clock bits.
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A random version-4 style UUID.
pub fn uid() -> String {
    let (a, b) = (random_u64(), random_u64());
    let h = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// Five lowercase alphanumerics, the suffix `generateName` and controllers use.
pub fn suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut x = random_u64();
    (0..5)
        .map(|_| {
            let c = ALPHABET[(x % ALPHABET.len() as u64) as usize] as char;
            x /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// DNS-1123 subdomain (most object names); `label` additionally limits to 63 chars, no dots.
pub fn invalid_name(name: &str, label: bool) -> Option<String> {
    let max = if label { 63 } else { 253 };
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (!label && c == '.'));
    let ok_ends = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !name.is_empty() && name.len() <= max && ok_chars && ok_ends {
        return None;
    }
    let what = if label {
        "RFC 1123 label"
    } else {
        "RFC 1123 subdomain"
    };
    Some(format!(
        "Invalid value: {name:?}: a lowercase {what} must consist of lower case alphanumeric characters, '-'{} and must start and end with an alphanumeric character",
        if label { "" } else { " or '.'" }
    ))
}

/// Names that only need to be a URL path segment (RBAC objects): not `.` or `..`, no `/`
/// or `%`.
pub fn invalid_path_segment(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("Required value: name or generateName is required".into());
    }
    if name == "." || name == ".." {
        return Some(format!("Invalid value: {name:?}: may not be '{name}'"));
    }
    ["/", "%"]
        .iter()
        .find(|c| name.contains(**c))
        .map(|c| format!("Invalid value: {name:?}: may not contain '{c}'"))
}

/// Kubernetes' `HumanDuration`, used for AGE cells.
pub fn human_duration(secs: i64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    match secs {
        s if s < 0 => "0s".into(),
        s if s < 120 => format!("{s}s"),
        _ if m < 10 => match secs % 60 {
            0 => format!("{m}m"),
            s => format!("{m}m{s}s"),
        },
        _ if m < 180 => format!("{m}m"),
        _ if h < 8 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if h < 192 => format!("{d}d{}h", h % 24),
        _ if d < 730 => format!("{d}d"),
        _ => format!("{}y{}d", d / 365, d % 365),
    }
}

const NAME_PART: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const PREFIX_PART: &str = "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

fn label_chars(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Upstream's `IsQualifiedName`: `[prefix/]name`, as label and annotation keys are.
fn qualified_name_errors(key: &str) -> Vec<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let mut errs = Vec::new();
    if name.is_empty() {
        errs.push("name part must be non-empty".into());
    } else {
        if name.len() > 63 {
            errs.push("name part must be no more than 63 characters".into());
        }
        if !label_chars(name) {
            errs.push(NAME_PART.into());
        }
    }
    if let Some(p) = prefix {
        if p.is_empty() {
            errs.push("prefix part must be non-empty".into());
        } else if invalid_name(p, false).is_some() || p.chars().any(|c| c.is_ascii_uppercase()) {
            errs.push(PREFIX_PART.into());
        }
    }
    errs
}

/// Label and annotation keys and values, as upstream's ObjectMeta validation checks them.
pub fn validate_metadata(meta: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in meta["labels"].as_object().into_iter().flatten() {
        for e in qualified_name_errors(k) {
            out.push((
                "metadata.labels".into(),
                format!("Invalid value: {k:?}: {e}"),
            ));
        }
        let value = v.as_str().unwrap_or_default();
        if value.len() > 63 {
            out.push((
                "metadata.labels".into(),
                format!("Invalid value: {value:?}: must be no more than 63 characters"),
            ));
        }
        if !value.is_empty() && !label_chars(value) {
            out.push((
                "metadata.labels".into(),
                format!("Invalid value: {value:?}: {LABEL_VALUE}"),
            ));
        }
    }
    let mut total = 0;
    for (k, v) in meta["annotations"].as_object().into_iter().flatten() {
        for e in qualified_name_errors(&k.to_lowercase()) {
            out.push((
                "metadata.annotations".into(),
                format!("Invalid value: {k:?}: {e}"),
            ));
        }
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > 256 * 1024 {
        out.push((
            "metadata.annotations".into(),
            "Too long: may not be more than 262144 bytes".into(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_and_annotation_keys_and_values() {
        assert!(validate_metadata(&json!({"labels": {"app.kubernetes.io/name": "web", "x": ""}, "annotations": {"approve.sluice.dev/alice": "alice@sha256:abc"}})).is_empty());
        let errs = validate_metadata(
            &json!({"labels": {"bad key": "ok", "k": "bad value!"}, "annotations": {"UPPER.example.com/x": "v", "/x": "v"}}),
        );
        let fields: Vec<&str> = errs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            ["metadata.labels", "metadata.labels", "metadata.annotations"],
            "{errs:?}"
        );
        assert!(errs[1].1.contains("a valid label must be an empty string"));
    }
}
