//! Rejections of a plan digest, kept where deleting a Promotion does not erase them: a digest
//! someone allowed to approve rejected stays rejected, for every Promotion of it, until the
//! plan changes (a new digest) or an approver lifts the rejection.

use serde::{Deserialize, Serialize};
use sluice_engine::snapshot::quote_literal;

use super::{Result, StateStore, decode_record, encode};

/// A rejection of one plan digest in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRejection {
    pub user: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    pub reason: String,
    /// Where it was written (`<namespace>/<promotion>`).
    pub promotion: String,
    /// RFC 3339.
    pub at: String,
    /// Who lifted it, with their comment, and when; a lifted rejection no longer counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifted_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifted_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lift_comment: Option<String>,
}

impl RecordedRejection {
    pub fn standing(&self) -> bool {
        self.lifted_by.is_none()
    }
}

impl StateStore<'_> {
    /// The rejection recorded for `digest` in `environment`, lifted or not.
    pub fn rejection(
        &mut self,
        environment: &str,
        digest: &str,
    ) -> Result<Option<RecordedRejection>> {
        let rows = self.db().query(&format!(
            "SELECT digest, record FROM sluice.rejections WHERE environment = {} AND digest = {}",
            quote_literal(environment),
            quote_literal(digest)
        ))?;
        rows.first()
            .map(|row| decode_record("rejection", row))
            .transpose()
    }

    /// Records a rejection of `digest`, unless a standing one is recorded already (the first
    /// stands; a rejection after a lift replaces the lifted one).
    pub fn record_rejection(
        &mut self,
        environment: &str,
        digest: &str,
        rejection: &RecordedRejection,
    ) -> Result<()> {
        if self
            .rejection(environment, digest)?
            .is_some_and(|r| r.standing())
        {
            return Ok(());
        }
        self.write_rejection(environment, digest, rejection)
    }

    /// Lifts the standing rejection of `digest` (nothing happens when there is none).
    pub fn lift_rejection(
        &mut self,
        environment: &str,
        digest: &str,
        by: &str,
        at: &str,
        comment: Option<&str>,
    ) -> Result<()> {
        let Some(mut rejection) = self
            .rejection(environment, digest)?
            .filter(|r| r.standing())
        else {
            return Ok(());
        };
        rejection.lifted_by = Some(by.to_string());
        rejection.lifted_at = Some(at.to_string());
        rejection.lift_comment = comment.map(str::to_string);
        self.write_rejection(environment, digest, &rejection)
    }

    fn write_rejection(
        &mut self,
        environment: &str,
        digest: &str,
        rejection: &RecordedRejection,
    ) -> Result<()> {
        let record = encode("rejection", digest, rejection)?;
        self.db().execute(&format!(
            "INSERT INTO sluice.rejections (environment, digest, record) VALUES ({}, {}, {})
             ON CONFLICT (environment, digest) DO UPDATE SET record = EXCLUDED.record",
            quote_literal(environment),
            quote_literal(digest),
            quote_literal(&record)
        ))?;
        Ok(())
    }
}
