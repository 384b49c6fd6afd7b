//! Kinds the server only stores: nothing beyond the generic API machinery applies to them.

use super::{BuiltinKind, Facts};

pub struct Stored(pub Facts);

impl BuiltinKind for Stored {
    fn facts(&self) -> Facts {
        self.0
    }
}

pub static ENDPOINTS: Stored =
    Stored(Facts::new("", "v1", "Endpoints", "endpoints").short(&["ep"]));

pub static LEASE: Stored = Stored(Facts::new("coordination.k8s.io", "v1", "Lease", "leases"));

pub static POD_DISRUPTION_BUDGET: Stored = Stored(
    Facts::new(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
    )
    .short(&["pdb"])
    .status(),
);

pub static NETWORK_POLICY: Stored = Stored(
    Facts::new(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
    )
    .short(&["netpol"])
    .generation(),
);
