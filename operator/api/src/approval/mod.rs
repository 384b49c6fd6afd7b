//! Approvals as the API carries them: the grammar of the signed annotations (`grammar`) and
//! which of them count under an Environment's policy (`tally`). The operator decides with
//! these and the kubectl plugin writes and previews with them, so both read approvals the same
//! way the admission policy admits them.

pub mod grammar;
pub mod tally;

pub use grammar::{
    APPROVE_PREFIX, CREATED_BY, LIFT_PREFIX, REJECT_PREFIX, Rejection, Signature, abbreviate,
    can_sign, parse_rejection, parse_signature, rejection_value, signature_value,
};
pub use tally::{ApprovalTally, Authors, Ballot, may_approve, tally};
