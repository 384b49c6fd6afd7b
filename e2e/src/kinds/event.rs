//! Events: `core/v1` and `events.k8s.io/v1` Events are one store (as upstream), the latter
//! converted field by field, so events recorded through either appear in both (and in
//! `kubectl get events`, with upstream's columns).

use serde_json::{Map, Value, json};

use super::{BuiltinKind, Facts};
use crate::meta;
use crate::table::{Column, column};

/// core/v1 Events.
pub struct Event;

/// events.k8s.io/v1 Events, stored as core/v1 ones.
pub struct EventsV1;

impl BuiltinKind for Event {
    fn facts(&self) -> Facts {
        Facts::new("", "v1", "Event", "events").short(&["ev"])
    }

    fn columns(&self) -> Vec<Column> {
        columns()
    }
}

impl BuiltinKind for EventsV1 {
    fn facts(&self) -> Facts {
        Facts::new("events.k8s.io", "v1", "Event", "events")
            .short(&["ev"])
            .stored_as("")
    }

    fn columns(&self) -> Vec<Column> {
        columns()
    }

    fn to_served(&self, stored: &Value) -> Value {
        let mut v = rename(stored, FIELDS.iter().map(|(new, old)| (*old, *new)));
        v["apiVersion"] = Value::String("events.k8s.io/v1".into());
        v
    }

    fn to_storage(&self, served: Value) -> Value {
        let mut v = rename(&served, FIELDS.iter().copied());
        if v.is_object() {
            v["apiVersion"] = Value::String("v1".into());
        }
        v
    }
}

/// `(events.k8s.io/v1 field, core/v1 field)` pairs that differ only in name.
const FIELDS: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

fn rename(obj: &Value, pairs: impl Iterator<Item = (&'static str, &'static str)>) -> Value {
    let Some(map) = obj.as_object() else {
        return obj.clone();
    };
    let mut out: Map<String, Value> = map.clone();
    for (from, to) in pairs {
        if let Some(v) = out.remove(from) {
            out.insert(to.into(), v);
        }
    }
    Value::Object(out)
}

/// `kubectl get events`: when, what kind, why, about what, and the message.
fn columns() -> Vec<Column> {
    let last_seen = |o: &Value| {
        let when = ["lastTimestamp", "deprecatedLastTimestamp", "eventTime"]
            .iter()
            .find_map(|f| o[*f].as_str())
            .or(o["series"]["lastObservedTime"].as_str())
            .or(o["metadata"]["creationTimestamp"].as_str())
            .unwrap_or_default();
        json!(
            meta::age_seconds(when)
                .map(meta::human_duration)
                .unwrap_or_else(|| "<unknown>".into())
        )
    };
    let object = |o: &Value| {
        let r = if o["involvedObject"].is_object() {
            &o["involvedObject"]
        } else {
            &o["regarding"]
        };
        json!(format!(
            "{}/{}",
            r["kind"].as_str().unwrap_or_default().to_lowercase(),
            r["name"].as_str().unwrap_or_default()
        ))
    };
    vec![
        column("Last Seen", "string", last_seen),
        column("Type", "string", |o| o["type"].clone()),
        column("Reason", "string", |o| o["reason"].clone()),
        column("Object", "string", object),
        column("Message", "string", |o| {
            if o["message"].is_string() {
                o["message"].clone()
            } else {
                o["note"].clone()
            }
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_between_groups() {
        let served = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "note": "hi", "regarding": {"name": "x"}, "reportingController": "c", "reason": "R"});
        let stored = EventsV1.to_storage(served.clone());
        assert_eq!(stored["message"], "hi");
        assert_eq!(stored["involvedObject"]["name"], "x");
        assert_eq!(stored["reportingComponent"], "c");
        assert_eq!(stored["apiVersion"], "v1");
        assert_eq!(EventsV1.to_served(&stored), served);
    }
}
