//! Labels and names on what the operator creates, shared by the operator (which sets them) and
//! the kubectl plugin (which selects by them): label keys, label values that stand for any
//! text, and Job names.

use sha2::{Digest, Sha256};

pub const PLAN_LABEL: &str = "sluice.dev/plan";
/// Labels a Job with the engine plan it belongs to (a re-plan starts new Jobs).
pub const PLAN_ID_LABEL: &str = "sluice.dev/plan-id";
pub const MODEL_LABEL: &str = "sluice.dev/model";
pub const ENVIRONMENT_LABEL: &str = "sluice.dev/environment";
pub const RUN_LABEL: &str = "sluice.dev/run";
/// The release an evidence ConfigMap holds.
pub const RELEASE_LABEL: &str = "sluice.dev/release";
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "sluice");

/// A label value that stands for `text`: itself when valid, else a readable prefix and a hash.
pub fn label_value(text: &str) -> String {
    let valid = text.len() <= 63
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text.ends_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        return text.to_string();
    }
    let clean: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    format!("{}-{}", clean.trim_matches('-'), short(text, 10))
        .trim_start_matches('-')
        .to_string()
}

fn short(text: &str, n: usize) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))[..n].to_string()
}

/// The Job name of `model`'s unit for `owner` (a Plan or a run): a DNS label, unique per model.
pub fn job_name(owner: &str, model: &str) -> String {
    let prefix: String = owner
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() { c } else { '-' }
        })
        .take(45)
        .collect();
    format!("{}-{}", prefix.trim_matches('-'), short(model, 12))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_are_valid_for_kubernetes() {
        assert_eq!(label_value("mart.daily_revenue"), "mart.daily_revenue");
        let odd = label_value("\"Weird Schema\".\"tablé\"");
        assert!(
            odd.len() <= 63 && odd.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{odd}"
        );
        let name = job_name(&"x".repeat(200), "mart.daily");
        assert!(name.len() <= 63, "{name}");
        assert_ne!(job_name("p", "a.b"), job_name("p", "a.c"));
    }
}
