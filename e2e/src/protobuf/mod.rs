//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), which kubectl's
//! typed commands send (`create namespace|configmap|secret|job|deployment|role|...`,
//! `create token`, `auth can-i`): the `k8s\0` envelope holds a `runtime.Unknown` whose `raw`
//! bytes are decoded with the `k8s-pb` types and turned into the same JSON a client would send.
//! Which types are understood is up to the caller (the built-in kinds); others are 415.

mod json;

pub use json::ToJson;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};

/// Decodes the `raw` bytes of one message type into its JSON form.
pub type Decoder = fn(&[u8]) -> ApiResult<Value>;

/// The JSON form of a message of type `T`.
pub fn decode_as<T: Message + Default + ToJson>(raw: &[u8]) -> ApiResult<Value> {
    T::decode(raw)
        .map(|m| m.to_json())
        .map_err(|e| ApiError::bad_request(format!("error decoding protobuf body: {e}")))
}

/// The JSON form of a protobuf request body; `decoder_for` picks the decoder for the
/// envelope's `apiVersion` and `kind`.
pub fn decode(
    body: &[u8],
    decoder_for: impl Fn(&str, &str) -> Option<Decoder>,
) -> ApiResult<Value> {
    let unsupported = |what: &str| {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (protobuf is understood for the common built-in kinds only; got {what})"
            ),
        )
    };
    let rest = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| ApiError::bad_request("protobuf body without the k8s envelope"))?;
    let unknown = Unknown::decode(rest)
        .map_err(|e| ApiError::bad_request(format!("error decoding protobuf envelope: {e}")))?;
    let tm = unknown.type_meta.unwrap_or_default();
    let (api_version, kind) = (
        tm.api_version.unwrap_or_default(),
        tm.kind.unwrap_or_default(),
    );
    let raw = unknown.raw.unwrap_or_default();
    let decode = decoder_for(&api_version, &kind)
        .ok_or_else(|| unsupported(&format!("{api_version} {kind}")))?;
    let mut v = decode(&raw)?;
    v["apiVersion"] = json!(api_version);
    v["kind"] = json!(kind);
    if v.get("metadata").is_none() {
        v["metadata"] = json!({});
    }
    Ok(v)
}
