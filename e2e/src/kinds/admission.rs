//! admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy and its binding. They configure
//! admission (`crate::admission`) and, as upstream, are not subject to it themselves.

use super::{BuiltinKind, Facts};

const GROUP: &str = "admissionregistration.k8s.io";

pub struct AdmissionKind(Facts);

impl BuiltinKind for AdmissionKind {
    fn facts(&self) -> Facts {
        self.0
    }

    fn admitted(&self) -> bool {
        false
    }
}

pub static POLICY: AdmissionKind = AdmissionKind(
    Facts::new(
        GROUP,
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
    )
    .cluster()
    .status(),
);

pub static BINDING: AdmissionKind = AdmissionKind(
    Facts::new(
        GROUP,
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
    )
    .cluster()
    .generation(),
);
