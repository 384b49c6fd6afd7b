//! Releasing into a warehouse people are reading (PostgreSQL): a long query on prod neither
//! stalls the short ones behind the flip nor sees a mix; privileges on prod's views survive
//! promotions and rollbacks; declared `grants` reach an environment when it is flipped.

#![cfg(feature = "postgres")]

mod fixture;
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fixture::{Backend, Fixture, model};
use sluice_warehouse::promote::{FlipEvent, FlipPolicy, PromoteError, PromoteMeta, rollback};
use sluice_warehouse::warehouse::{Warehouse, connect};

const MODELS: usize = 6;
const LONG_READ: Duration = Duration::from_secs(20);
const LOCK_TIMEOUT: Duration = Duration::from_secs(1);
/// What a short reader may wait beyond the lock timeout on a loaded test machine.
const MARGIN: Duration = Duration::from_millis(1500);

fn write_models(f: &Fixture, marker: &str, header: &str) {
    for i in 0..MODELS {
        f.write(
            &format!("models/m{i}.sql"),
            &model(
                &format!("s.m{i}"),
                &format!("kind FULL{header}"),
                &format!("SELECT '{marker}' AS release"),
            ),
        );
    }
}

/// One statement reading every view: a consistent snapshot of the environment.
fn sample_sql(schema: &str) -> String {
    let columns: Vec<String> = (0..MODELS)
        .map(|i| format!("(SELECT release FROM {schema}.m{i})"))
        .collect();
    format!("SELECT {}", columns.join(", "))
}

fn markers(wh: &mut dyn Warehouse, schema: &str) -> Result<Vec<String>, String> {
    let rows = wh.query(&sample_sql(schema)).map_err(|e| e.to_string())?;
    let set: std::collections::BTreeSet<String> = rows[0]
        .iter()
        .map(|v| v.clone().unwrap_or_default())
        .collect();
    Ok(set.into_iter().collect())
}

/// What the short readers saw while they ran.
#[derive(Default)]
struct ShortReaders {
    samples: usize,
    mixed: usize,
    worst: Duration,
}

/// Reads every view in a loop until `stop`, timing each read.
fn short_readers(url: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<ShortReaders> {
    std::thread::spawn(move || {
        let mut wh = connect(&url).unwrap();
        let mut seen = ShortReaders::default();
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            let values = markers(wh.as_mut(), "s")
                .unwrap_or_else(|e| panic!("a short reader failed mid-flip: {e}"));
            seen.worst = seen.worst.max(started.elapsed());
            seen.samples += 1;
            if values.len() != 1 {
                seen.mixed += 1;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        seen
    })
}

/// Starts a query reading `s.m0` that takes [`LONG_READ`], as an analyst's would; returns what
/// it read and when it finished.
fn long_reader(url: String) -> std::thread::JoinHandle<(String, Instant)> {
    let handle = std::thread::spawn(move || {
        let mut wh = connect(&url).unwrap();
        let rows = wh
            .query(&format!(
                "SELECT release, pg_sleep({}) FROM s.m0",
                LONG_READ.as_secs()
            ))
            .unwrap();
        (rows[0][0].clone().unwrap(), Instant::now())
    });
    std::thread::sleep(Duration::from_millis(500));
    handle
}

fn meta(wait_for_readers: Duration, waits: Arc<Mutex<Vec<FlipEvent>>>) -> PromoteMeta {
    PromoteMeta {
        flip: FlipPolicy {
            lock_timeout: LOCK_TIMEOUT,
            wait_for_readers,
            observer: Some(Arc::new(move |e: &FlipEvent| {
                waits.lock().unwrap().push(e.clone())
            })),
            ..FlipPolicy::default()
        },
        ..fixture::tester(0)
    }
}

/// Applies `plan` with the flip allowed to wait two minutes for readers; returns what the flip
/// reported.
fn apply_waiting(f: &Fixture, plan: &sluice_engine::plan::Plan) -> Arc<Mutex<Vec<FlipEvent>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    apply_reporting(f, plan, events.clone());
    events
}

/// Applies `plan` as [`apply_waiting`] does, adding what the flip reports to `events` as it goes.
fn apply_reporting(
    f: &Fixture,
    plan: &sluice_engine::plan::Plan,
    events: Arc<Mutex<Vec<FlipEvent>>>,
) {
    let mut ws = f.workspace();
    let (audits, statements) = (
        ws.project.audits.clone(),
        ws.project.config.statements.clone(),
    );
    sluice_warehouse::apply::apply(
        ws.warehouse.as_mut(),
        plan,
        &audits,
        &statements,
        meta(Duration::from_secs(120), events),
        &mut |_| {},
    )
    .unwrap();
}

#[test]
fn a_long_reader_delays_the_flip_but_stalls_no_short_reader() {
    let f = Fixture::new(Backend::Postgres, &[]);
    write_models(&f, "A", "");
    f.apply("prod", "2024-01-02");
    write_models(&f, "B", "");
    let plan = f.plan("prod", "2024-01-02");

    let stop = Arc::new(AtomicBool::new(false));
    let readers = short_readers(f.url.clone(), stop.clone());

    // A promotion while an analyst's query reads prod: it waits for the query, not the
    // readers behind it.
    let long = long_reader(f.url.clone());
    let events = apply_waiting(&f, &plan);
    let flipped = Instant::now();
    let (read, finished) = long.join().unwrap();
    assert_eq!(read, "A", "the long query kept the release it started with");
    assert!(
        flipped + Duration::from_millis(50) >= finished,
        "the promotion completed only after the long query finished"
    );
    let waits = events.lock().unwrap().clone();
    assert!(
        waits.iter().any(|e| matches!(
            e,
            FlipEvent::Waiting { blocker: Some(b), .. } if b.view == "s.m0" && b.query.contains("pg_sleep")
        )),
        "the flip reported the query it waited for: {waits:?}"
    );
    assert!(
        waits.iter().any(|e| matches!(
            e,
            FlipEvent::Flipped(r) if r.swapped_schemas == 1 && r.in_place_schemas == 0
        )),
        "the schema was swapped whole: {waits:?}"
    );

    // A rollback that may not wait that long gives up, and nothing changes.
    let long = long_reader(f.url.clone());
    let mut wh = f.warehouse();
    let refused = rollback(
        wh.as_mut(),
        "prod",
        Some("prod-r1"),
        meta(Duration::from_secs(3), Default::default()),
    )
    .unwrap_err();
    assert!(
        matches!(refused, PromoteError::ReadersBlocking { .. }),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("nothing was changed"),
        "{refused}"
    );
    assert_eq!(markers(wh.as_mut(), "s").unwrap(), ["B"]);
    let leftovers = f.rows(
        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'sluice\\_next\\_\\_%' \
         OR nspname LIKE 'sluice\\_prev\\_\\_%'",
    );
    assert_eq!(
        leftovers,
        ["0"],
        "a flip that gave up leaves no stage behind"
    );
    // One that may wait completes once the reader is done.
    let release = rollback(
        wh.as_mut(),
        "prod",
        Some("prod-r1"),
        meta(Duration::from_secs(120), Default::default()),
    )
    .unwrap();
    let (read, _) = long.join().unwrap();
    assert_eq!(read, "B");
    assert_eq!(release.restored_release.as_deref(), Some("prod-r1"));
    assert_eq!(markers(wh.as_mut(), "s").unwrap(), ["A"]);

    stop.store(true, Ordering::Relaxed);
    let seen = readers.join().unwrap();
    assert_eq!(
        seen.mixed, 0,
        "{} of {} reads saw a mix",
        seen.mixed, seen.samples
    );
    assert!(
        seen.worst < LOCK_TIMEOUT + MARGIN,
        "a short reader waited {:?} behind a flip (lock timeout {LOCK_TIMEOUT:?})",
        seen.worst
    );
}

/// Only the views whose rows change are locked: a long query on a view of the same schema that
/// keeps its table neither delays the flip nor loses its release.
#[test]
fn a_long_reader_of_an_unchanged_view_does_not_delay_the_flip() {
    let f = Fixture::new(Backend::Postgres, &[]);
    write_models(&f, "A", "");
    f.apply("prod", "2024-01-02");
    f.write(
        &format!("models/m{}.sql", MODELS - 1),
        &model(
            &format!("s.m{}", MODELS - 1),
            "kind FULL",
            "SELECT 'B' AS release",
        ),
    );
    let plan = f.plan("prod", "2024-01-02");

    let long = long_reader(f.url.clone());
    let events = apply_waiting(&f, &plan);
    let flipped = Instant::now();
    let (read, finished) = long.join().unwrap();
    assert_eq!(read, "A", "the long query read the table it started with");
    assert!(
        flipped + LONG_READ / 2 < finished,
        "the flip did not wait for a query on a view whose rows stay the same"
    );
    let waits = events.lock().unwrap().clone();
    assert!(
        waits.iter().any(|e| matches!(
            e,
            FlipEvent::Flipped(r) if r.swapped_schemas == 1 && r.changing_views == 1 && r.attempts == 1
        )),
        "one schema swapped, one view locked, at the first attempt: {waits:?}"
    );
    let now: Vec<String> = (0..MODELS)
        .map(|i| f.rows(&format!("SELECT release FROM s.m{i}")).remove(0))
        .collect();
    assert_eq!(now, ["A", "A", "A", "A", "A", "B"]);
}

/// A login role of this test's own (roles are cluster-wide), and a URL connecting as it.
fn login_role(f: &Fixture, prefix: &str) -> (String, String) {
    let database = f.url.rsplit('/').next().unwrap().to_string();
    let role = format!("{prefix}_{}", &database["sluice_test_".len()..]);
    f.warehouse()
        .execute(&format!("CREATE ROLE {role} LOGIN"))
        .unwrap();
    let url = f.url.replacen("postgres@", &format!("{role}@"), 1);
    (role, url)
}

/// A prod whose views all read "A", and a login role it lets in with `grants` (SQL in which
/// `{role}` stands for the role).
fn prod_read_by(grants: &str) -> (Fixture, String, String) {
    let f = Fixture::new(Backend::Postgres, &[]);
    write_models(&f, "A", "");
    f.apply("prod", "2024-01-02");
    let (role, url) = login_role(&f, "bi");
    f.warehouse()
        .execute(&grants.replace("{role}", &role))
        .unwrap();
    (f, role, url)
}

fn read_as(url: &str, schema: &str) -> Result<Vec<String>, String> {
    markers(connect(url).unwrap().as_mut(), schema)
}

#[test]
fn a_bi_role_keeps_reading_prod_across_promotions_and_rollbacks() {
    // The usual way a BI tool is let in: grants on the schema and its views.
    let (f, _, url) = prod_read_by(
        "GRANT USAGE ON SCHEMA s TO {role}; GRANT SELECT ON ALL TABLES IN SCHEMA s TO {role}; \
         ALTER DEFAULT PRIVILEGES IN SCHEMA s GRANT SELECT ON TABLES TO {role}",
    );
    let default_privileges = || {
        f.rows(
            "SELECT count(*) FROM pg_default_acl d JOIN pg_namespace n \
             ON n.oid = d.defaclnamespace WHERE n.nspname = 's'",
        )
    };
    assert_eq!(read_as(&url, "s").unwrap(), ["A"]);

    write_models(&f, "B", "");
    f.apply("prod", "2024-01-02");
    assert_eq!(read_as(&url, "s").unwrap(), ["B"], "after a promotion");
    assert_eq!(
        default_privileges(),
        ["1"],
        "the schema's default privileges came along with the swap"
    );

    let mut wh = f.warehouse();
    rollback(wh.as_mut(), "prod", Some("prod-r1"), fixture::tester(0)).unwrap();
    assert_eq!(read_as(&url, "s").unwrap(), ["A"], "after a rollback");

    // A schema holding something of a user's is changed in place: the grants survive too, and
    // so does the user's table.
    wh.execute("CREATE TABLE s.notes (note text)").unwrap();
    rollback(wh.as_mut(), "prod", Some("prod-r2"), fixture::tester(0)).unwrap();
    assert_eq!(read_as(&url, "s").unwrap(), ["B"], "after an in-place flip");
    assert_eq!(f.rows("SELECT count(*) FROM s.notes"), ["0"]);
}

#[test]
fn declared_grants_reach_dev_first_and_prod_at_promotion() {
    let f = Fixture::new(Backend::Postgres, &[]);
    write_models(&f, "A", "");
    f.apply("prod", "2024-01-02");
    let (analyst, url) = login_role(&f, "analyst");

    write_models(&f, "A", &format!(",\n  grants ('select' = ['{analyst}'])"));
    let plan = f.plan("dev", "2024-01-02");
    assert!(plan.backfill.is_empty(), "a grant never rebuilds a table");
    f.try_apply_plan(&plan).unwrap();
    assert_eq!(read_as(&url, "s__dev").unwrap(), ["A"], "granted in dev");
    let denied = read_as(&url, "s").unwrap_err();
    assert!(denied.contains("permission denied"), "{denied}");

    f.apply("prod", "2024-01-02");
    assert_eq!(
        read_as(&url, "s").unwrap(),
        ["A"],
        "granted in prod at promotion"
    );

    // Removing the declaration takes the grant away at the next promotion.
    write_models(&f, "A", "");
    f.apply("prod", "2024-01-02");
    let denied = read_as(&url, "s").unwrap_err();
    assert!(denied.contains("permission denied"), "{denied}");
}

/// During a flip: `role` loses `SELECT` on `s.m1` and gains it on `s.m2`.
fn change_privileges(f: &Fixture, role: &str) {
    f.warehouse()
        .execute(&format!(
            "REVOKE SELECT ON s.m1 FROM {role}; GRANT SELECT ON s.m2 TO {role}"
        ))
        .unwrap();
}

/// A prod read by a role granted `s.m0` and `s.m1`, and the project changed so that the next
/// promotion gives every view new rows.
fn prod_before_privileges_change() -> (Fixture, String, String) {
    let read_by =
        prod_read_by("GRANT USAGE ON SCHEMA s TO {role}; GRANT SELECT ON s.m0, s.m1 TO {role}");
    write_models(&read_by.0, "B", "");
    read_by
}

/// After a flip during which [`change_privileges`] ran, what the role of `url` can read.
fn privileges_followed(url: &str, when: &str) {
    let read = |view: &str| {
        connect(url)
            .unwrap()
            .query(&format!("SELECT release FROM s.{view}"))
            .map(|rows| rows[0][0].clone().unwrap_or_default())
            .map_err(|e| e.to_string())
    };
    assert_eq!(read("m0").unwrap(), "B", "granted before the flip");
    assert_eq!(read("m2").unwrap(), "B", "granted {when}");
    let denied = read("m1").unwrap_err();
    assert!(
        denied.contains("permission denied"),
        "revoked {when}: {denied}"
    );
}

/// Privileges changed on prod's views while a flip is under way (after its new views were
/// built: here while it waits for a long reader) follow the release too.
#[test]
fn privileges_changed_during_a_flip_follow_it() {
    let (f, bi, url) = prod_before_privileges_change();
    let plan = f.plan("prod", "2024-01-02");

    let long = long_reader(f.url.clone());
    let events = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        let flip = scope.spawn(|| apply_reporting(&f, &plan, events.clone()));
        let waiting = || {
            events
                .lock()
                .unwrap()
                .iter()
                .any(|e| matches!(e, FlipEvent::Waiting { .. }))
        };
        while !waiting() {
            assert!(!flip.is_finished(), "the flip did not wait for the reader");
            std::thread::sleep(Duration::from_millis(50));
        }
        change_privileges(&f, &bi);
        flip.join().unwrap();
    });
    assert_eq!(long.join().unwrap().0, "A");
    privileges_followed(&url, "while the flip waited");
}

/// A privilege granted (or revoked) in the last moment before the flip commits — here while the
/// flip is frozen holding its locks — is carried to the new views right after the commit.
#[test]
fn privileges_changed_just_before_the_commit_follow_the_flip() {
    use std::io::BufRead;
    let (f, bi, url) = prod_before_privileges_change();
    let mut flip = f
        .command()
        .args(["apply", "prod", "--yes", "--execution-time", "2024-01-02"])
        .env("SLUICE_FAILPOINT", "promote-midway:stop")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(flip.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("failpoint promote-midway: stopping") {
        let before = said.len();
        stderr.read_line(&mut said).unwrap();
        assert!(
            said.len() > before,
            "the flip ended before its midway: {said}"
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    change_privileges(&f, &bi);
    let resumed = std::process::Command::new("kill")
        .args(["-CONT", &flip.id().to_string()])
        .status()
        .unwrap();
    assert!(resumed.success());
    std::io::Read::read_to_string(&mut stderr, &mut said).unwrap();
    assert!(flip.wait().unwrap().success(), "{said}");
    privileges_followed(&url, "just before the commit");
}
