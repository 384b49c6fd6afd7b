//! Conversion between what is stored and what a resource serves: a built-in kind converts as
//! it says (`events.k8s.io/v1` Events are stored as `core/v1` Events), and custom resources
//! get their schema defaults applied when read.

use serde_json::Value;

use crate::resources::ResourceInfo;

/// The stored object as `res` serves it.
pub fn to_served(res: &ResourceInfo, stored: &Value) -> Value {
    if let Some(kind) = res.builtin {
        return kind.to_served(stored);
    }
    let mut v = stored.clone();
    if let Some(schema) = res.custom.as_ref().and_then(|c| c.schema_for(&v)) {
        crate::schema::defaults::apply(schema, &mut v);
    }
    v
}

/// An object written through `res` as it is stored.
pub fn to_storage(res: &ResourceInfo, served: Value) -> Value {
    match res.builtin {
        Some(kind) => kind.to_storage(served),
        None => served,
    }
}
