//! ServiceAccounts: stored as given, with a `token` subresource whose TokenRequest bodies
//! (`kubectl create token`) may come as protobuf. Tokens are issued in `serviceaccounts`.

use k8s_pb::api::authentication::v1 as authn;
use k8s_pb::api::core::v1 as core;

use super::{BuiltinKind, Facts, Protobuf};
use crate::protobuf::decode_as;

pub struct ServiceAccount;

impl BuiltinKind for ServiceAccount {
    fn facts(&self) -> Facts {
        Facts::new("", "v1", "ServiceAccount", "serviceaccounts")
            .short(&["sa"])
            .token()
    }

    fn protobuf(&self) -> &'static [Protobuf] {
        &[
            Protobuf {
                api_version: "v1",
                kind: "ServiceAccount",
                decode: decode_as::<core::ServiceAccount>,
            },
            Protobuf {
                api_version: "authentication.k8s.io/v1",
                kind: "TokenRequest",
                decode: decode_as::<authn::TokenRequest>,
            },
        ]
    }
}
