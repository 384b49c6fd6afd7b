//! Environments, environment owners and releases.

use sluice_engine::snapshot::{EnvironmentRecord, Release, quote_literal};

use super::{Result, StateError, StateStore, decode_record, encode, integer};

impl StateStore<'_> {
    // ---- environments ----

    pub fn environment(&mut self, name: &str) -> Result<Option<EnvironmentRecord>> {
        let rows = self.db().query(&format!(
            "SELECT name, record FROM sluice.environments WHERE name = {}",
            quote_literal(name)
        ))?;
        rows.first()
            .map(|row| decode_record("environment", row))
            .transpose()
    }

    /// Every environment, ordered by name.
    pub fn environments(&mut self) -> Result<Vec<EnvironmentRecord>> {
        let rows = self
            .db()
            .query("SELECT name, record FROM sluice.environments ORDER BY name")?;
        rows.iter()
            .map(|row| decode_record("environment", row))
            .collect()
    }

    pub fn delete_environment(&mut self, name: &str) -> Result<()> {
        self.db().execute(&format!(
            "DELETE FROM sluice.environments WHERE name = {}",
            quote_literal(name)
        ))?;
        Ok(())
    }

    /// Writes `record` (whose `revision` is the new one, normally `expected_revision + 1`)
    /// provided the stored revision is still `expected_revision` (`None`: the environment must
    /// not exist yet); otherwise fails with [`StateError::Conflict`] and writes nothing.
    ///
    /// The check and the write are one conditional statement, so two promotions racing inside
    /// their own transactions cannot both succeed. Transactions are the caller's: this never
    /// begins or commits one.
    pub fn write_environment(
        &mut self,
        record: &EnvironmentRecord,
        expected_revision: Option<i64>,
    ) -> Result<()> {
        let name = quote_literal(&record.name);
        let json = quote_literal(&encode("environment", &record.name, record)?);
        let sql = match expected_revision {
            None => format!(
                "INSERT INTO sluice.environments (name, revision, record)
                 VALUES ({name}, {}, {json})
                 ON CONFLICT (name) DO NOTHING RETURNING name",
                record.revision
            ),
            Some(expected) => format!(
                "UPDATE sluice.environments SET revision = {}, record = {json}
                 WHERE name = {name} AND revision = {expected} RETURNING name",
                record.revision
            ),
        };
        if !self.db().query(&sql)?.is_empty() {
            return Ok(());
        }
        let rows = self.db().query(&format!(
            "SELECT revision FROM sluice.environments WHERE name = {name}"
        ))?;
        let found = match rows.first() {
            Some(row) => Some(integer(row[0].as_deref(), "environment revision")?),
            None => None,
        };
        Err(StateError::Conflict {
            environment: record.name.clone(),
            expected: expected_revision,
            found,
        })
    }

    /// Marks activity on an environment (a scheduled run finished): an ephemeral one expires
    /// its ttl after this, not after its last promotion. What it serves is unchanged, so its
    /// revision stays; if a promotion moved it meanwhile, that promotion already counted.
    pub fn touch_environment(&mut self, name: &str, now: i64) -> Result<()> {
        let Some(mut record) = self.environment(name)? else {
            return Ok(());
        };
        if now <= record.updated_at {
            return Ok(());
        }
        let ttl = record.expires_at.map(|at| at - record.updated_at);
        record.updated_at = now;
        record.expires_at = ttl.map(|ttl| now + ttl);
        let json = quote_literal(&encode("environment", name, &record)?);
        self.db().execute(&format!(
            "UPDATE sluice.environments SET record = {json} WHERE name = {} AND revision = {}",
            quote_literal(name),
            record.revision
        ))?;
        Ok(())
    }

    // ---- owners ----

    /// Claims `environment` for `owner` (the operator: `<namespace>/<Environment name>`) unless
    /// someone else holds it. Returns the current owner: `owner` itself, or the other one.
    pub fn claim_environment(&mut self, environment: &str, owner: &str) -> Result<String> {
        self.db().execute(&format!(
            "INSERT INTO sluice.environment_owners (name, owner) VALUES ({}, {})
             ON CONFLICT (name) DO NOTHING",
            quote_literal(environment),
            quote_literal(owner)
        ))?;
        let rows = self.db().query(&format!(
            "SELECT owner FROM sluice.environment_owners WHERE name = {}",
            quote_literal(environment)
        ))?;
        rows.first().and_then(|r| r[0].clone()).ok_or_else(|| {
            StateError::Malformed(format!("no owner of {environment:?} after claiming it"))
        })
    }

    /// Gives up `owner`'s claim on `environment` (nothing happens if someone else holds it).
    pub fn release_environment_claim(&mut self, environment: &str, owner: &str) -> Result<()> {
        self.db().execute(&format!(
            "DELETE FROM sluice.environment_owners WHERE name = {} AND owner = {}",
            quote_literal(environment),
            quote_literal(owner)
        ))?;
        Ok(())
    }

    // ---- releases ----

    /// The number the next release of `environment` gets: one more than any release it ever
    /// had, so ids stay unique after the environment is dropped and recreated.
    pub fn next_release_number(&mut self, environment: &str) -> Result<i64> {
        let rows = self.db().query(&format!(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM sluice.releases WHERE environment = {}",
            quote_literal(environment)
        ))?;
        integer(rows.first().and_then(|r| r[0].as_deref()), "release number")
    }

    /// Records a release. Releases are immutable evidence: an id that already exists is an
    /// error, never silently skipped.
    pub fn insert_release(&mut self, release: &Release) -> Result<()> {
        let json = encode("release", &release.id, release)?;
        let request = release
            .request_id
            .as_deref()
            .map_or("NULL".to_string(), quote_literal);
        // `seq` orders releases made within the same second.
        self.db().execute(&format!(
            "INSERT INTO sluice.releases (id, environment, number, request_id, seq, created_at, record)
             SELECT {}, {}, {}, {request}, COALESCE(MAX(seq), 0) + 1, {}, {} FROM sluice.releases",
            quote_literal(&release.id),
            quote_literal(&release.environment),
            release.number,
            release.created_at,
            quote_literal(&json)
        ))?;
        Ok(())
    }

    /// An environment's releases, newest first.
    pub fn releases(&mut self, environment: &str) -> Result<Vec<Release>> {
        self.latest_releases(environment, i64::MAX)
    }

    /// The newest `limit` releases of `environment`, newest first.
    pub fn latest_releases(&mut self, environment: &str, limit: i64) -> Result<Vec<Release>> {
        let rows = self.db().query(&format!(
            "SELECT id, record FROM sluice.releases WHERE environment = {}
             ORDER BY seq DESC, created_at DESC, id DESC LIMIT {limit}",
            quote_literal(environment)
        ))?;
        rows.iter()
            .map(|row| decode_record("release", row))
            .collect()
    }

    pub fn release(&mut self, id: &str) -> Result<Option<Release>> {
        self.release_where(&format!("id = {}", quote_literal(id)))
    }

    /// The release made for a caller's idempotency key, if any.
    pub fn release_for_request(&mut self, request_id: &str) -> Result<Option<Release>> {
        self.release_where(&format!("request_id = {}", quote_literal(request_id)))
    }

    fn release_where(&mut self, predicate: &str) -> Result<Option<Release>> {
        let rows = self.db().query(&format!(
            "SELECT id, record FROM sluice.releases WHERE {predicate}"
        ))?;
        rows.first()
            .map(|row| decode_record("release", row))
            .transpose()
    }
}
