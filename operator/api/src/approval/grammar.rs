//! The grammar of the annotations people sign a promotion with, written by `kubectl sluice`,
//! admitted by the approval policy (`config/policy/approval-policy.yaml`) and read by the
//! operator. One parser, shared by all three; `config/policy/testdata/annotation-values.yaml`
//! is a table of values checked against both the policy's CEL and this parser.
//!
//! - `approve.sluice.dev/<key>: <user>@sha256:<64 hex>[ groups=<g1>,<g2>][; <comment>]`
//! - `reject.sluice.dev/<key>: <user>[ groups=<g1>,<g2>]: <reason>`
//! - `lift.sluice.dev/<key>: <user>@sha256:<64 hex>[ groups=...][; <comment>]` lifts a
//!   rejection recorded for that plan digest
//!
//! Admission guarantees `<user>` is the writer and every group listed is one the API server
//! verified for them. User names that would make a value ambiguous (containing `;`, `: `,
//! ` groups=`, `@sha256:`, or ending with `:`) cannot sign (`can_sign`): the policy refuses
//! them, so the user this parser reads is always the user admission checked.

/// Annotation keys approvals live under.
pub const APPROVE_PREFIX: &str = "approve.sluice.dev/";
/// Annotation keys rejections live under.
pub const REJECT_PREFIX: &str = "reject.sluice.dev/";
/// Annotation keys that lift a recorded rejection of a plan digest.
pub const LIFT_PREFIX: &str = "lift.sluice.dev/";
/// Who created a Plan or Promotion: admission requires it on create, equal to the requester,
/// and never lets it change.
pub const CREATED_BY: &str = "sluice.dev/created-by";

/// A signed approval (or lift): who, which digest, the verified groups they named, a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub user: String,
    pub digest: String,
    pub groups: Vec<String>,
    pub comment: Option<String>,
}

/// A rejection: who, the verified groups they named, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub user: String,
    pub groups: Vec<String>,
    pub reason: String,
}

/// Whether `user` can sign approvals and rejections unambiguously.
pub fn can_sign(user: &str) -> bool {
    !user.is_empty()
        && !user.contains(';')
        && !user.contains(": ")
        && !user.contains(" groups=")
        && !user.contains("@sha256:")
        && !user.ends_with(':')
}

/// Reads an approval or lift value; `None` if it is not one.
pub fn parse_signature(value: &str) -> Option<Signature> {
    let (head, comment) = match value.split_once(';') {
        Some((head, comment)) => (
            head.trim(),
            Some(comment.trim().to_string()).filter(|c| !c.is_empty()),
        ),
        None => (value.trim(), None),
    };
    let at = head.find("@sha256:")?;
    let user = head[..at].to_string();
    let rest = &head[at + 1..];
    let (digest, groups) = match rest.split_once(char::is_whitespace) {
        Some((digest, tail)) => (digest, parse_groups(tail.trim().strip_prefix("groups=")?)?),
        None => (rest, Vec::new()),
    };
    let hex = digest.strip_prefix("sha256:")?;
    let is_hex = hex.len() == 64 && hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'));
    if !can_sign(&user) || !is_hex {
        return None;
    }
    Some(Signature {
        user,
        digest: digest.to_string(),
        groups,
        comment,
    })
}

/// Reads a rejection value; `None` if it is not one (no reason, or an ambiguous user).
pub fn parse_rejection(value: &str) -> Option<Rejection> {
    let (head, reason) = value.split_once(": ")?;
    let reason = reason.trim().to_string();
    let (user, groups) = match head.split_once(" groups=") {
        Some((user, groups)) => (user, parse_groups(groups)?),
        None => (head, Vec::new()),
    };
    if !can_sign(user) || reason.is_empty() {
        return None;
    }
    Some(Rejection {
        user: user.to_string(),
        groups,
        reason,
    })
}

/// `g1,g2` → the groups; `None` when one is empty.
fn parse_groups(list: &str) -> Option<Vec<String>> {
    let groups: Vec<String> = list.split(',').map(|g| g.trim().to_string()).collect();
    (!groups.iter().any(String::is_empty)).then_some(groups)
}

/// `<user>@<digest>[ groups=<g1>,<g2>][; <comment>]`, for an approval or a lift.
pub fn signature_value(
    user: &str,
    digest: &str,
    groups: &[String],
    comment: Option<&str>,
) -> Result<String, String> {
    let hex = digest.strip_prefix("sha256:").unwrap_or_default();
    if hex.len() != 64 || !hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
        return Err(format!(
            "the plan's digest {digest:?} is not a sha256 digest: approvals bind to \
             sha256:<64 hex digits>"
        ));
    }
    signer(user)?;
    let mut value = format!("{user}@{digest}");
    if !groups.is_empty() {
        value.push_str(&format!(" groups={}", groups.join(",")));
    }
    if let Some(comment) = comment.map(one_line).filter(|c| !c.is_empty()) {
        value.push_str(&format!("; {comment}"));
    }
    Ok(value)
}

/// `<user>[ groups=<g1>,<g2>]: <reason>`.
pub fn rejection_value(user: &str, groups: &[String], reason: &str) -> Result<String, String> {
    let reason = one_line(reason);
    if reason.is_empty() {
        return Err("a rejection needs a reason (--reason)".into());
    }
    signer(user)?;
    Ok(if groups.is_empty() {
        format!("{user}: {reason}")
    } else {
        format!("{user} groups={}: {reason}", groups.join(","))
    })
}

fn signer(user: &str) -> Result<(), String> {
    if can_sign(user) {
        Ok(())
    } else {
        Err(format!(
            "the user name {user:?} cannot sign an approval or rejection unambiguously (it \
             contains ';', ': ', ' groups=' or '@sha256:', or ends with ':')"
        ))
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `sha256:1a2b3c4d5e6f…`, short enough for a message.
pub fn abbreviate(digest: &str) -> String {
    if digest.len() > 19 {
        format!("{}…", &digest[..19])
    } else {
        digest.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn values_round_trip() {
        let value = signature_value(
            "jane@example.com",
            D,
            &["data-owners".into()],
            Some("checked\n the backfill"),
        )
        .unwrap();
        assert_eq!(
            value,
            format!("jane@example.com@{D} groups=data-owners; checked the backfill")
        );
        let parsed = parse_signature(&value).unwrap();
        assert_eq!(parsed.user, "jane@example.com");
        assert_eq!(parsed.digest, D);
        assert_eq!(parsed.groups, ["data-owners"]);
        assert_eq!(parsed.comment.as_deref(), Some("checked the backfill"));

        let value = rejection_value("bob", &["ops".into()], " revenue\ndoubles ").unwrap();
        assert_eq!(value, "bob groups=ops: revenue doubles");
        assert_eq!(
            parse_rejection(&value).unwrap(),
            Rejection {
                user: "bob".into(),
                groups: vec!["ops".into()],
                reason: "revenue doubles".into()
            }
        );
        assert!(rejection_value("bob", &[], "  ").is_err());
        assert!(signature_value("bob", "sha256:abc", &[], None).is_err());
        assert!(signature_value("a; b", D, &[], None).is_err());
    }

    #[test]
    fn ambiguous_values_read_as_nothing() {
        for value in [
            "alice".to_string(),
            "alice@sha256:".to_string(),
            format!("alice@{D} extra"),
            format!("alice@{D} groups="),
            format!("alice@{D}0"),
            format!("@{D}"),
        ] {
            assert_eq!(parse_signature(&value), None, "{value}");
        }
        for value in [
            "alice:no",
            "alice: ",
            "alice:",
            ": reason",
            "alice groups=: x",
        ] {
            assert_eq!(parse_rejection(value), None, "{value}");
        }
        // A service account's name holds colons, never ": ".
        assert_eq!(
            parse_rejection("system:serviceaccount:ci:bot: not: yet")
                .unwrap()
                .user,
            "system:serviceaccount:ci:bot"
        );
    }
}
