//! Conversion between what is stored and what a resource serves: `events.k8s.io/v1` Events are
//! stored as `core/v1` Events (one store, as upstream), and custom resources get their schema
//! defaults applied when read.

use serde_json::{Map, Value};

use crate::resources::ResourceInfo;

/// `(events.k8s.io/v1 field, core/v1 field)` pairs that differ only in name.
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

fn is_new_event(res: &ResourceInfo) -> bool {
    res.group == "events.k8s.io" && res.plural == "events"
}

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

/// The stored object as `res` serves it.
pub fn to_served(res: &ResourceInfo, stored: &Value) -> Value {
    if is_new_event(res) {
        let mut v = rename(stored, EVENT_FIELDS.iter().map(|(n, o)| (*o, *n)));
        v["apiVersion"] = Value::String("events.k8s.io/v1".into());
        return v;
    }
    match &res.custom {
        Some(custom) => {
            let mut v = stored.clone();
            if let Some(schema) = custom.schema_for(&v) {
                crate::schema::defaults::apply(schema, &mut v);
            }
            v
        }
        None => stored.clone(),
    }
}

/// An object written through `res` as it is stored.
pub fn to_storage(res: &ResourceInfo, served: Value) -> Value {
    if is_new_event(res) {
        let mut v = rename(&served, EVENT_FIELDS.iter().copied());
        if v.is_object() {
            v["apiVersion"] = Value::String("v1".into());
        }
        return v;
    }
    served
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_round_trip_between_groups() {
        let registry = crate::resources::Registry::default();
        let new = registry.find("events.k8s.io", "v1", "events").unwrap();
        let served = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "note": "hi", "regarding": {"name": "x"}, "reportingController": "c", "reason": "R"});
        let stored = to_storage(new, served.clone());
        assert_eq!(stored["message"], "hi");
        assert_eq!(stored["involvedObject"]["name"], "x");
        assert_eq!(stored["reportingComponent"], "c");
        assert_eq!(stored["apiVersion"], "v1");
        assert_eq!(to_served(new, &stored), served);
    }
}
