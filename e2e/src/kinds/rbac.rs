//! The rbac.authorization.k8s.io kinds: Role, ClusterRole, RoleBinding, ClusterRoleBinding.
//! Their names need only be URL path segments. Authorization with them is in `crate::rbac`,
//! ClusterRole aggregation in the controllers.

use k8s_pb::api::rbac::v1 as rbac;

use super::{BuiltinKind, Facts, Protobuf};
use crate::protobuf::decode_as;

const GROUP: &str = "rbac.authorization.k8s.io";

pub struct RbacKind {
    facts: Facts,
    protobuf: &'static [Protobuf],
}

impl BuiltinKind for RbacKind {
    fn facts(&self) -> Facts {
        self.facts
    }

    fn invalid_name(&self, name: &str) -> Option<String> {
        crate::meta::invalid_path_segment(name)
    }

    fn protobuf(&self) -> &'static [Protobuf] {
        self.protobuf
    }
}

const fn body(kind: &'static str, decode: crate::protobuf::Decoder) -> Protobuf {
    Protobuf {
        api_version: "rbac.authorization.k8s.io/v1",
        kind,
        decode,
    }
}

pub static ROLE: RbacKind = RbacKind {
    facts: Facts::new(GROUP, "v1", "Role", "roles"),
    protobuf: &[body("Role", decode_as::<rbac::Role>)],
};

pub static ROLE_BINDING: RbacKind = RbacKind {
    facts: Facts::new(GROUP, "v1", "RoleBinding", "rolebindings"),
    protobuf: &[body("RoleBinding", decode_as::<rbac::RoleBinding>)],
};

pub static CLUSTER_ROLE: RbacKind = RbacKind {
    facts: Facts::new(GROUP, "v1", "ClusterRole", "clusterroles").cluster(),
    protobuf: &[body("ClusterRole", decode_as::<rbac::ClusterRole>)],
};

pub static CLUSTER_ROLE_BINDING: RbacKind = RbacKind {
    facts: Facts::new(GROUP, "v1", "ClusterRoleBinding", "clusterrolebindings").cluster(),
    protobuf: &[body(
        "ClusterRoleBinding",
        decode_as::<rbac::ClusterRoleBinding>,
    )],
};
