//! The OpenAPI documents kubectl reads: `v3` per group version (server-side field validation
//! for single objects, `kubectl explain`) and `v2` whole (client-side validation of the items
//! of a `kind: List`), the latter also in the protobuf form client-go asks for (`proto`).

mod proto;
pub mod v2;
pub mod v3;
