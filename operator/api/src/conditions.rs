//! Status conditions as kstatus (and so Argo CD, Flux and `kubectl wait`) read them.
//!
//! The invariants, checked by the tests below and kept by going through [`Conditions`]:
//! `Ready` is always present; `Reconciling` and `Stalled` are present only when true and never
//! together; while either is true, `Ready` is False. `lastTransitionTime` changes only when a
//! condition's status changes, so rewriting the same status does not trigger another reconcile.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";

/// Longest message kept in a condition; longer ones are cut with an ellipsis.
const MAX_MESSAGE: usize = 2_000;

/// One condition, shaped like `metav1.Condition`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// CamelCase reason, for machines.
    pub reason: String,
    /// What happened, for people.
    #[serde(default)]
    pub message: String,
    /// RFC 3339.
    pub last_transition_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// The condition list of one status, edited through kstatus-preserving operations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conditions {
    pub list: Vec<Condition>,
    generation: Option<i64>,
    now: String,
}

impl Conditions {
    /// Starts from the conditions the object has, for an update at `now` (RFC 3339) of
    /// `generation`.
    pub fn new(existing: &[Condition], generation: Option<i64>, now: &str) -> Conditions {
        Conditions {
            list: existing.to_vec(),
            generation,
            now: now.to_string(),
        }
    }

    pub fn get(&self, type_: &str) -> Option<&Condition> {
        self.list.iter().find(|c| c.type_ == type_)
    }

    pub fn is_true(&self, type_: &str) -> bool {
        self.get(type_).is_some_and(|c| c.status == "True")
    }

    /// Sets a condition, keeping its transition time when its status does not change.
    pub fn set(&mut self, type_: &str, status: bool, reason: &str, message: &str) {
        let status = if status { "True" } else { "False" };
        let message = trim(message);
        let transition = match self.get(type_) {
            Some(c) if c.status == status => c.last_transition_time.clone(),
            _ => self.now.clone(),
        };
        let condition = Condition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: reason.to_string(),
            message,
            last_transition_time: transition,
            observed_generation: self.generation,
        };
        match self.list.iter_mut().find(|c| c.type_ == type_) {
            Some(existing) => *existing = condition,
            None => self.list.push(condition),
        }
    }

    pub fn remove(&mut self, type_: &str) {
        self.list.retain(|c| c.type_ != type_);
    }

    /// Work is under way: Reconciling=True, Stalled removed, Ready=False.
    pub fn mark_reconciling(&mut self, reason: &str, message: &str) {
        self.remove(STALLED);
        self.set(RECONCILING, true, reason, message);
        self.set(READY, false, reason, message);
    }

    /// Stuck until something outside changes: Stalled=True, Reconciling removed, Ready=False.
    pub fn mark_stalled(&mut self, reason: &str, message: &str) {
        self.remove(RECONCILING);
        self.set(STALLED, true, reason, message);
        self.set(READY, false, reason, message);
    }

    /// Done (for now): Ready=True, neither Reconciling nor Stalled.
    pub fn mark_ready(&mut self, reason: &str, message: &str) {
        self.remove(RECONCILING);
        self.remove(STALLED);
        self.set(READY, true, reason, message);
    }

    /// The list to store: kstatus's conditions first, in a fixed order (Ready, Reconciling,
    /// Stalled), then the kind's own in the order they were first set.
    pub fn into_ordered(mut self) -> Vec<Condition> {
        let rank = |c: &Condition| match c.type_.as_str() {
            READY => 0,
            RECONCILING => 1,
            STALLED => 2,
            _ => 3,
        };
        self.list.sort_by_key(rank);
        self.list
    }

    /// Finished without success but nothing to wait for (a terminal failure): Ready=False,
    /// neither Reconciling nor Stalled.
    pub fn mark_failed(&mut self, reason: &str, message: &str) {
        self.remove(RECONCILING);
        self.remove(STALLED);
        self.set(READY, false, reason, message);
    }
}

fn trim(message: &str) -> String {
    if message.len() <= MAX_MESSAGE {
        return message.to_string();
    }
    let mut end = MAX_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}

/// Now, as Kubernetes writes times.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// kstatus: Ready always there; Reconciling and Stalled never both; Ready False while either.
    fn assert_kstatus(c: &Conditions) {
        assert!(c.get(READY).is_some(), "{c:?}");
        assert!(
            !(c.get(RECONCILING).is_some() && c.get(STALLED).is_some()),
            "{c:?}"
        );
        if c.is_true(RECONCILING) || c.is_true(STALLED) {
            assert!(!c.is_true(READY), "{c:?}");
        }
        for cond in &c.list {
            if cond.type_ != READY {
                assert_eq!(
                    cond.status, "True",
                    "abnormal-true conditions only: {cond:?}"
                );
            }
        }
    }

    #[test]
    fn every_transition_keeps_the_kstatus_invariants() {
        let mut c = Conditions::new(&[], Some(1), "2024-01-01T00:00:00Z");
        c.mark_reconciling("Planning", "computing the plan");
        assert_kstatus(&c);
        c.mark_stalled("SecretNotFound", "secret warehouse not found");
        assert_kstatus(&c);
        assert!(c.get(RECONCILING).is_none());
        c.mark_reconciling("Planning", "again");
        assert_kstatus(&c);
        assert!(c.get(STALLED).is_none());
        c.mark_ready("Ready", "done");
        assert_kstatus(&c);
        c.mark_failed("JobFailed", "boom");
        assert_kstatus(&c);
        assert!(!c.is_true(READY));
    }

    #[test]
    fn transition_time_moves_only_when_the_status_changes() {
        let mut c = Conditions::new(&[], Some(1), "t1");
        c.mark_ready("Ready", "ok");
        let mut later = Conditions::new(&c.list, Some(2), "t2");
        later.mark_ready("Ready", "still ok, new words");
        assert_eq!(later.get(READY).unwrap().last_transition_time, "t1");
        assert_eq!(later.get(READY).unwrap().observed_generation, Some(2));
        later.mark_reconciling("Planning", "x");
        assert_eq!(later.get(READY).unwrap().last_transition_time, "t2");
    }

    #[test]
    fn kstatus_conditions_come_first_in_a_fixed_order() {
        let mut c = Conditions::new(&[], None, "t");
        c.set("Planned", true, "Planned", "");
        c.mark_stalled("JobFailed", "x");
        c.set("Audited", false, "AuditFailed", "");
        let types: Vec<String> = c.into_ordered().into_iter().map(|c| c.type_).collect();
        assert_eq!(types, ["Ready", "Stalled", "Planned", "Audited"]);
    }

    #[test]
    fn long_messages_are_trimmed() {
        let mut c = Conditions::new(&[], None, "t");
        c.mark_failed("X", &"é".repeat(5_000));
        assert!(c.get(READY).unwrap().message.len() <= MAX_MESSAGE + 3);
    }
}
