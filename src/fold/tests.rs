//! The fold's rules on hand-made journals, and the property a take-over relies on: a fold
//! seeded with any prefix of a journal (read back from its file) and then fed the rest equals
//! the fold of the whole journal and the fold fed each event as it was written.

use chrono::{DateTime, TimeDelta, Utc};
use indexmap::IndexMap;
use proptest::prelude::*;

use super::*;
use crate::engine::state::{Decision, ManualOutcome, StepOutcome};
use crate::journal::event::{RunbookAbout, ServiceInfo};
use crate::journal::{JournalWriter, ManualClock, read_journal};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T08:00:00Z")
        .expect("a valid time")
        .with_timezone(&Utc)
}

fn sid(s: &str) -> ServiceId {
    ServiceId::new(s)
}

fn info(id: &str, rto_min: u64) -> ServiceInfo {
    ServiceInfo {
        id: sid(id),
        name: id.into(),
        tier: 1,
        rto_ms: Some(rto_min * 60_000),
        depends_on: Vec::new(),
        checks: Vec::new(),
    }
}

/// web depends on db: an undo of db with `--cascade` undoes web first.
fn web_on_db() -> ServiceInfo {
    ServiceInfo {
        depends_on: vec![sid("db")],
        ..info("web", 10)
    }
}

fn started(incident_start: Option<DateTime<Utc>>) -> Event {
    Event::RunStarted {
        executor: None,
        runbook: "r".into(),
        runbook_sha256: String::new(),
        operator: "alice".into(),
        vars: IndexMap::new(),
        version: "0".into(),
        mode: Mode::Incident,
        services: vec![info("dns", 2), info("db", 30), web_on_db()],
        about: Box::new(RunbookAbout::default()),
        incident_start,
        scenario: None,
    }
}

fn state(service: &str, to: ServiceState) -> Event {
    Event::ServiceState {
        service: sid(service),
        from: ServiceState::Unknown,
        to,
        reason: None,
    }
}

/// A fold fed `(seconds after t0, event)` in order, seq from 1.
fn fold(events: &[(i64, Event)]) -> RunFold {
    let mut f = RunFold::default();
    for (i, (secs, e)) in events.iter().enumerate() {
        f.push_event(i as u64 + 1, t0() + TimeDelta::seconds(*secs), e);
    }
    f
}

fn resumed() -> Event {
    Event::Resumed {
        key: None,
        from_seq: 0,
        forced: false,
        runbook_sha256: None,
        operator: None,
        identity: None,
        previous: None,
        reason: None,
    }
}

#[test]
fn outages_across_a_take_over_are_measured_per_outage_from_the_journal() {
    // db found down in the sweep, restored after the take-over; web up, then a regression
    // after the take-over; dns healthy all along.
    let events = vec![
        (0, started(None)),
        (5, state("dns", ServiceState::Healthy)),
        (5, state("db", ServiceState::Down)),
        (6, state("web", ServiceState::Healthy)),
        (60, resumed()),
        (65, state("dns", ServiceState::Healthy)),
        (65, state("db", ServiceState::Down)),
        (65, state("web", ServiceState::Healthy)),
        (300, state("web", ServiceState::Down)),
        (420, state("web", ServiceState::Restored)),
        (900, state("db", ServiceState::Restored)),
    ];
    let f = fold(&events);
    assert_eq!(f.resumed, 1);
    assert!(f.outages(&sid("dns")).is_empty(), "dns was never down");
    let db = f.outages(&sid("db"));
    assert_eq!(
        db.len(),
        1,
        "the re-check after the take-over is the same outage"
    );
    assert_eq!(db[0].cause, OutageCause::FoundDown);
    assert_eq!(
        db[0].started,
        t0(),
        "from the run's start, not the take-over's"
    );
    assert_eq!(db[0].time_to_detect_ms, Some(5_000));
    assert_eq!(db[0].time_to_restore_ms, Some(900_000));
    assert_eq!(db[0].rto, Rto::Met);
    let web = f.outages(&sid("web"));
    assert_eq!(web.len(), 1);
    assert_eq!(web[0].cause, OutageCause::Regression);
    assert_eq!(web[0].started, t0() + TimeDelta::seconds(300));
    assert_eq!(web[0].time_to_restore_ms, Some(120_000));
    // What a screen shows at 20 minutes: each outage's own length; zero for dns.
    let now = t0() + TimeDelta::minutes(20);
    assert_eq!(f.time_against_rto_ms(&sid("dns"), now), 0);
    assert_eq!(f.time_against_rto_ms(&sid("db"), now), 900_000);
    assert_eq!(f.time_against_rto_ms(&sid("web"), now), 120_000);
}

#[test]
fn an_open_outage_is_measured_to_the_screens_clock_and_a_missed_rto_is_missed() {
    let events = vec![
        (0, started(Some(t0() - TimeDelta::minutes(10)))),
        (30, state("dns", ServiceState::Down)),
        (40, resumed()),
    ];
    let f = fold(&events);
    let now = t0() + TimeDelta::minutes(1);
    assert_eq!(f.time_against_rto_ms(&sid("dns"), now), 11 * 60_000);
    assert_eq!(f.outages_at(&sid("dns"), Some(now))[0].rto, Rto::Missed);
    // A service not checked yet counts from the incident's start.
    assert_eq!(f.time_against_rto_ms(&sid("web"), now), 11 * 60_000);
}

#[test]
fn auto_mode_is_the_journaled_one_and_a_take_over_starts_it_off() {
    let auto = |action| Event::OperatorAction {
        operator: "bob".into(),
        service: None,
        action,
        reason: None,
        provenance: crate::journal::event::Provenance::default(),
    };
    let mut events = vec![(0, started(None)), (1, auto(OperatorActionKind::AutoOn))];
    assert_eq!(fold(&events).auto, Auto::On);
    assert!(fold(&events).operators.contains("bob"));
    events.push((2, auto(OperatorActionKind::AutoOff)));
    assert_eq!(fold(&events).auto, Auto::Off);
    events.push((3, auto(OperatorActionKind::AutoOn)));
    events.push((4, resumed()));
    assert_eq!(fold(&events).auto, Auto::Off);
}

#[test]
fn questions_wait_until_answered_and_a_manual_step_overtaken_by_a_healthy_check_is_unconfirmed() {
    let asked = |service: &str, step: &str, question| Event::Asked {
        service: sid(service),
        step: step.into(),
        phase: None,
        question,
    };
    let events = vec![
        (0, started(None)),
        (1, state("db", ServiceState::Down)),
        (2, asked("db", "move the VIP", QuestionKind::Manual)),
        (3, asked("web", "restart", QuestionKind::Approval)),
        (4, asked("dns", "flush", QuestionKind::Manual)),
        (
            5,
            Event::Approval {
                service: sid("web"),
                step: "restart".into(),
                phase: None,
                decision: Decision::Approved,
                operator: "kim".into(),
                provenance: crate::journal::event::Provenance::default(),
            },
        ),
        (
            6,
            Event::Manual {
                service: sid("dns"),
                step: "flush".into(),
                outcome: ManualOutcome::Done,
                operator: "kim".into(),
                provenance: crate::journal::event::Provenance::default(),
            },
        ),
    ];
    let f = fold(&events);
    assert_eq!(f.questions.len(), 1);
    let q = f.question(&sid("db")).expect("db's manual step waits");
    assert_eq!(
        (q.step.as_str(), q.kind, q.since),
        (
            "move the VIP",
            QuestionKind::Manual,
            t0() + TimeDelta::seconds(2)
        )
    );
    // Taken over: asked again (same question, same "since"), then found healthy.
    let mut more = events.clone();
    more.push((60, resumed()));
    more.push((61, asked("db", "move the VIP", QuestionKind::Manual)));
    assert_eq!(fold(&more).questions, f.questions);
    more.push((62, state("db", ServiceState::Healthy)));
    let f = fold(&more);
    assert!(f.questions.is_empty());
    assert_eq!(
        f.unconfirmed,
        vec![Unconfirmed {
            service: sid("db"),
            step: "move the VIP".into(),
            seq: 3,
        }]
    );
}

fn undo_asked(operator: &str, service: &str, cascade: bool) -> Event {
    Event::OperatorAction {
        operator: operator.into(),
        service: Some(sid(service)),
        action: OperatorActionKind::Undo,
        reason: cascade.then(|| CASCADE.to_string()),
        provenance: crate::journal::event::Provenance::default(),
    }
}

fn undo_step(service: &str, step: &str, host: &str, outcome: StepOutcome) -> Event {
    Event::StepFinished {
        service: sid(service),
        phase: Phase::Undo,
        step: step.into(),
        host: HostId::new(host),
        attempt: 1,
        outcome,
        exit_code: Some(i32::from(outcome != StepOutcome::Ok)),
        duration_ms: 5,
        error: None,
    }
}

fn declined(service: &str, step: &str, operator: &str) -> Event {
    Event::Approval {
        service: sid(service),
        step: step.into(),
        phase: None,
        decision: Decision::Declined,
        operator: operator.into(),
        provenance: crate::journal::event::Provenance::default(),
    }
}

#[test]
fn an_undo_declined_at_its_first_step_is_the_operators_rollback_stopped_there() {
    let events = vec![
        (0, started(None)),
        // kim undoes web; its first undo step's approval is declined before it starts.
        (10, undo_asked("kim", "web", false)),
        (11, declined("web", "start", "lee")),
        (12, state("web", ServiceState::Failed)),
        // web's own on_fail later: its own, not kim's.
        (20, state("web", ServiceState::Restoring)),
        (21, undo_step("web", "start", "w1", StepOutcome::Ok)),
        (22, state("web", ServiceState::Failed)),
    ];
    let f = fold(&events);
    let told: Vec<_> = f
        .rollbacks
        .all()
        .iter()
        .map(|r| (r.by.clone(), r.steps.len(), r.failed_step.as_deref(), r.end))
        .collect();
    assert_eq!(
        told,
        vec![
            (
                AskedBy::Operator("kim".into()),
                0,
                Some("start"),
                RollbackEnd::Stopped
            ),
            (AskedBy::OnFail, 1, None, RollbackEnd::Complete),
        ]
    );
}

#[test]
fn rollbacks_say_who_asked_what_was_taken_back_where_and_how_the_undo_ended() {
    use StepOutcome::{Failed, Ok};
    let at = |secs| Some(t0() + TimeDelta::seconds(secs));
    let events = vec![
        (0, started(None)),
        // kim undoes db with --cascade: web, which depends on db, is undone first.
        (10, undo_asked("kim", "db", true)),
        (11, undo_step("web", "start", "w2", Ok)),
        (12, undo_step("web", "start", "w1", Ok)),
        (13, state("web", ServiceState::Undone)),
        (14, undo_step("db", "promote", "d1", Ok)),
        (15, state("db", ServiceState::Undone)),
        // dns's restore fails; its on_fail = "undo" takes back one step, then the next fails.
        (20, state("dns", ServiceState::Restoring)),
        (21, undo_step("dns", "add record", "n1", Ok)),
        (22, undo_step("dns", "open port", "n1", Failed)),
        (23, state("dns", ServiceState::Failed)),
        // lee undoes web again; its first undo step fails: nothing was taken back.
        (30, undo_asked("lee", "web", false)),
        (31, undo_step("web", "start", "w1", Failed)),
        (32, state("web", ServiceState::Failed)),
        // web's own on_fail later: not lee's, whose undo was carried out (and failed).
        (40, state("web", ServiceState::Restoring)),
        (41, undo_step("web", "start", "w1", Ok)),
        (42, state("web", ServiceState::Failed)),
    ];
    let f = fold(&events);
    let all = f.rollbacks.all();
    let told: Vec<_> = all
        .iter()
        .map(|r| {
            (
                r.service.as_str(),
                r.by.clone(),
                r.steps.clone(),
                r.hosts.iter().map(HostId::as_str).collect::<Vec<_>>(),
                r.failed_step.as_deref(),
                r.end,
            )
        })
        .collect();
    let kim = || AskedBy::Operator("kim".into());
    assert_eq!(
        told,
        vec![
            (
                "web",
                kim(),
                vec!["start".to_string()],
                vec!["w1", "w2"],
                None,
                RollbackEnd::Complete
            ),
            (
                "db",
                kim(),
                vec!["promote".to_string()],
                vec!["d1"],
                None,
                RollbackEnd::Complete
            ),
            (
                "dns",
                AskedBy::OnFail,
                vec!["add record".to_string()],
                vec!["n1"],
                Some("open port"),
                RollbackEnd::Stopped
            ),
            (
                "web",
                AskedBy::Operator("lee".into()),
                Vec::new(),
                Vec::new(),
                Some("start"),
                RollbackEnd::Stopped
            ),
            (
                "web",
                AskedBy::OnFail,
                vec!["start".to_string()],
                vec!["w1"],
                None,
                RollbackEnd::Complete
            ),
        ]
    );
    // When: begun and first taken back at the first undo step, ended with the state.
    assert_eq!(
        (all[0].began, all[0].at, all[0].ended),
        (at(11).expect("a time"), at(11), at(13))
    );
    assert_eq!((all[2].at, all[2].ended), (at(21), at(23)));
    // Reports tell what was taken back: lee's undo took nothing back.
    let told: Vec<&Rollback> = all.iter().filter(|r| r.took_back()).collect();
    assert_eq!(f.rollbacks.taken_back().iter().collect::<Vec<_>>(), told);
    assert_eq!(told.len(), 4);
}

#[test]
fn an_undo_cut_short_by_a_take_over_ends_there_and_a_later_one_is_its_own() {
    use StepOutcome::Ok;
    let events = vec![
        (0, started(None)),
        (10, undo_asked("kim", "db", false)),
        (11, undo_step("db", "promote", "d1", Ok)),
        (60, resumed()),
        // The new executor's on_fail undo of db: not kim's, and not the undo cut short.
        (70, state("db", ServiceState::Restoring)),
        (71, undo_step("db", "promote", "d1", Ok)),
        (72, state("db", ServiceState::Failed)),
    ];
    let f = fold(&events);
    let ends: Vec<_> = f
        .rollbacks
        .all()
        .iter()
        .map(|r| (r.by.clone(), r.end))
        .collect();
    assert_eq!(
        ends,
        vec![
            (AskedBy::Operator("kim".into()), RollbackEnd::CutShort),
            (AskedBy::OnFail, RollbackEnd::Complete),
        ]
    );
}

// ---- the take-over property -------------------------------------------------------------

/// One generated event: what it is, on which service, and how long after the previous one.
#[derive(Debug, Clone)]
enum Gen {
    State(usize, ServiceState),
    Inject(usize),
    Asked(usize, QuestionKind),
    Answer(usize),
    Declined(usize),
    StepEnded(usize, StepOutcome),
    Auto(bool),
    Resumed,
    Finished,
    Phase(DrillPhase),
    /// An operator's undo of a service, with its dependents first or not.
    UndoAsked(usize, bool),
    /// An undo step (of two) finished on a host (of two), ok or not.
    Undo(usize, usize, usize, bool),
    /// An approval declined (an undo step's, while one runs).
    UndoDeclined(usize),
}

const SERVICES: [&str; 3] = ["dns", "db", "web"];

fn gen_event() -> impl Strategy<Value = Gen> {
    let svc = 0usize..SERVICES.len();
    prop_oneof![
        6 => (svc.clone(), prop::sample::select(vec![
            ServiceState::Checking,
            ServiceState::Healthy,
            ServiceState::Down,
            ServiceState::Partial,
            ServiceState::Restoring,
            ServiceState::Verifying,
            ServiceState::Restored,
            ServiceState::Failed,
            ServiceState::Skipped,
            ServiceState::Blocked,
            ServiceState::Undone,
        ])).prop_map(|(s, to)| Gen::State(s, to)),
        1 => (svc.clone(), prop::bool::ANY).prop_map(|(s, c)| Gen::UndoAsked(s, c)),
        3 => (svc.clone(), 0usize..2, 0usize..2, prop::bool::weighted(0.8))
            .prop_map(|(s, step, host, ok)| Gen::Undo(s, step, host, ok)),
        1 => svc.clone().prop_map(Gen::UndoDeclined),
        1 => svc.clone().prop_map(Gen::Inject),
        1 => (svc.clone(), prop::bool::ANY).prop_map(|(s, m)| Gen::Asked(
            s,
            if m { QuestionKind::Manual } else { QuestionKind::Approval },
        )),
        1 => svc.clone().prop_map(Gen::Answer),
        1 => svc.clone().prop_map(Gen::Declined),
        1 => (svc, prop::sample::select(vec![
            StepOutcome::Ok,
            StepOutcome::Failed,
            StepOutcome::Timeout,
            StepOutcome::Error,
            StepOutcome::NotRun,
        ])).prop_map(|(s, o)| Gen::StepEnded(s, o)),
        1 => prop::bool::ANY.prop_map(Gen::Auto),
        1 => Just(Gen::Resumed),
        1 => Just(Gen::Finished),
        1 => prop::sample::select(vec![
            DrillPhase::Baseline,
            DrillPhase::Inject,
            DrillPhase::Restore,
            DrillPhase::Finished,
        ]).prop_map(Gen::Phase),
    ]
}

fn event_of(g: &Gen) -> Event {
    let svc = |i: &usize| sid(SERVICES[*i]);
    match g {
        Gen::State(s, to) => Event::ServiceState {
            service: svc(s),
            from: ServiceState::Unknown,
            to: *to,
            reason: None,
        },
        Gen::Inject(s) => Event::StepStarted {
            service: svc(s),
            phase: Phase::Inject,
            step: "break it".into(),
            host: crate::runbook::model::HostId::new("h1"),
            attempt: 1,
            command: "true".into(),
        },
        Gen::Asked(s, question) => Event::Asked {
            service: svc(s),
            step: "step".into(),
            phase: None,
            question: *question,
        },
        Gen::Answer(s) => Event::Manual {
            service: svc(s),
            step: "step".into(),
            outcome: ManualOutcome::Done,
            operator: "kim".into(),
            provenance: crate::journal::event::Provenance::default(),
        },
        Gen::Declined(s) => Event::Approval {
            service: svc(s),
            step: "step".into(),
            phase: None,
            decision: Decision::Declined,
            operator: "kim".into(),
            provenance: crate::journal::event::Provenance::default(),
        },
        Gen::StepEnded(s, outcome) => Event::StepFinished {
            service: svc(s),
            phase: Phase::Restore,
            step: "step".into(),
            host: crate::runbook::model::HostId::new("h1"),
            attempt: 1,
            outcome: *outcome,
            exit_code: (*outcome == StepOutcome::Failed).then_some(3),
            duration_ms: 5,
            error: (*outcome == StepOutcome::NotRun).then(|| "failure budget exceeded".into()),
        },
        Gen::Auto(on) => Event::OperatorAction {
            operator: "lee".into(),
            service: None,
            action: if *on {
                OperatorActionKind::AutoOn
            } else {
                OperatorActionKind::AutoOff
            },
            reason: None,
            provenance: crate::journal::event::Provenance::default(),
        },
        Gen::UndoAsked(s, cascade) => undo_asked("kim", SERVICES[*s], *cascade),
        Gen::Undo(s, step, host, ok) => undo_step(
            SERVICES[*s],
            ["first", "second"][*step],
            ["h1", "h2"][*host],
            if *ok {
                StepOutcome::Ok
            } else {
                StepOutcome::Failed
            },
        ),
        Gen::UndoDeclined(s) => Event::Approval {
            service: svc(s),
            step: "second".into(),
            phase: None,
            decision: Decision::Declined,
            operator: "kim".into(),
            provenance: crate::journal::event::Provenance::default(),
        },
        Gen::Resumed => resumed(),
        Gen::Finished => Event::RunFinished {
            outcome: "interrupted".into(),
            services: IndexMap::new(),
            left_down: None,
        },
        Gen::Phase(phase) => Event::DrillPhase {
            scenario: "dc-loss".into(),
            phase: *phase,
            outcome: (*phase == DrillPhase::Finished).then_some(DrillOutcome::Passed),
            reason: None,
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_fold_seeded_with_any_prefix_then_fed_the_rest_equals_the_whole(
        gens in prop::collection::vec((gen_event(), 0i64..120_000_000), 0..40),
        incident_before_ms in prop::option::of(0i64..3_600_000),
    ) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("run.jsonl");
        let clock = ManualClock::new(t0());
        let mut writer = JournalWriter::create_with_clock(&path, &[], Box::new(clock.clone()))
            .expect("a journal");
        let mut live = RunFold::default();
        let mut now = t0();
        let incident = incident_before_ms.map(|ms| t0() - TimeDelta::milliseconds(ms));
        let first = started(incident);
        let appended = writer.append(&first).expect("appended");
        live.push_event(appended.seq, appended.ts, &first);
        for (g, after_us) in &gens {
            now += TimeDelta::microseconds(*after_us);
            clock.set(now);
            let event = event_of(g);
            let appended = writer.append(&event).expect("appended");
            // Fed as the driver's notices feed a screen: one event as it is written.
            live.push_event(appended.seq, appended.ts, &event);
            // Output between events, with text that looks like another event's members.
            let text = format!("{after_us}\n{{\"seq\":1,\"kind\":\"state_changed\"}}\n");
            let (appended, output) = writer
                .append_output_event(&sid("db"), "probe", &HostId::new("h1"), text.into_bytes())
                .expect("appended");
            live.push_event(appended.seq, appended.ts, &output);
        }
        drop(writer);
        let records = read_journal(&path).expect("read back").records;
        let whole = RunFold::of(&records);
        prop_assert_eq!(&whole, &live);
        for k in 0..=records.len() {
            // A take-over: fold what the journal holds, then keep feeding.
            let mut taken = RunFold::of(&records[..k]);
            for r in &records[k..] {
                taken.push(r);
            }
            prop_assert_eq!(&taken, &whole, "restarted at seq {}", k);
        }
        // Every service's times are the same numbers, whoever reads them.
        for s in SERVICES {
            prop_assert_eq!(live.outages(&sid(s)), whole.outages(&sid(s)));
        }
        // `run`'s summary reads the file passing over output unparsed: the same picture.
        let fast = crate::export::picture_file(&path).expect("read back");
        prop_assert_eq!(&fast.infos, &whole.infos);
        prop_assert_eq!(&fast.services, &whole.services);
        prop_assert_eq!(&fast.questions, &whole.questions);
        prop_assert_eq!(fast.incident_start, whole.incident_start);
        prop_assert_eq!(&fast.rollbacks, &whole.rollbacks);
        for s in SERVICES {
            prop_assert_eq!(fast.outages(&sid(s)), whole.outages(&sid(s)));
        }
    }
}

// ---- which failure a service stopped on -------------------------------------------------

fn finished(
    service: &str,
    step: &str,
    host: &str,
    outcome: StepOutcome,
    exit: Option<i32>,
) -> Event {
    Event::StepFinished {
        service: sid(service),
        phase: Phase::Restore,
        step: step.into(),
        host: HostId::new(host),
        attempt: 1,
        outcome,
        exit_code: exit,
        duration_ms: 10,
        error: match outcome {
            StepOutcome::Error => Some("connection refused".into()),
            StepOutcome::NotRun => {
                Some("failure budget exceeded: 2 of 4 hosts failed (max 1)".into())
            }
            _ => None,
        },
    }
}

fn failed(service: &str) -> Event {
    state(service, ServiceState::Failed)
}

/// The cause, step and host the fold says `service` stopped on.
fn stopped(events: &[(i64, Event)], service: &str) -> (FailureCause, String, Option<HostId>) {
    let f = fold(events);
    let failure = f.failure(&sid(service)).expect("a failure").clone();
    (failure.cause, failure.step, failure.host)
}

#[test]
fn a_step_that_failed_timed_out_or_could_not_reach_its_host_is_the_failure() {
    for (outcome, exit, cause) in [
        (
            StepOutcome::Failed,
            Some(32),
            FailureCause::Failed {
                exit_code: Some(32),
            },
        ),
        (StepOutcome::Timeout, None, FailureCause::TimedOut),
        (
            StepOutcome::Error,
            None,
            FailureCause::Unreachable {
                error: Some("connection refused".into()),
            },
        ),
        (StepOutcome::Unknown, None, FailureCause::Unseen),
    ] {
        let events = vec![
            (0, started(None)),
            (1, state("db", ServiceState::Restoring)),
            (2, finished("db", "mount", "db-1", StepOutcome::Ok, Some(0))),
            (3, finished("db", "mount", "db-2", outcome, exit)),
            (4, failed("db")),
        ];
        assert_eq!(
            stopped(&events, "db"),
            (cause, "mount".into(), Some(HostId::new("db-2")))
        );
    }
}

#[test]
fn a_declined_approval_is_the_failure_with_who_declined_it() {
    let events = vec![
        (0, started(None)),
        (1, state("db", ServiceState::Restoring)),
        (
            2,
            Event::Approval {
                service: sid("db"),
                step: "promote".into(),
                phase: None,
                decision: Decision::Declined,
                operator: "kim".into(),
                provenance: crate::journal::event::Provenance::default(),
            },
        ),
        (3, failed("db")),
    ];
    assert_eq!(
        stopped(&events, "db"),
        (
            FailureCause::Declined { by: "kim".into() },
            "promote".into(),
            None
        )
    );
}

#[test]
fn a_manual_step_marked_failed_is_the_failure_with_who_marked_it() {
    let events = vec![
        (0, started(None)),
        // A check that failed before the restore is not what the restore stopped on.
        (
            1,
            Event::StepFinished {
                service: sid("web"),
                phase: Phase::Check,
                step: "health".into(),
                host: HostId::new("w1"),
                attempt: 1,
                outcome: StepOutcome::Failed,
                exit_code: Some(7),
                duration_ms: 10,
                error: None,
            },
        ),
        (
            2,
            Event::Manual {
                service: sid("web"),
                step: "move the VIP".into(),
                outcome: ManualOutcome::Failed,
                operator: "lee".into(),
                provenance: crate::journal::event::Provenance::default(),
            },
        ),
        (3, failed("web")),
    ];
    assert_eq!(
        stopped(&events, "web"),
        (
            FailureCause::ManualFailed { by: "lee".into() },
            "move the VIP".into(),
            None
        )
    );
}

#[test]
fn a_failure_budget_exceeded_is_the_failure_with_the_last_host_that_failed() {
    let events = vec![
        (0, started(None)),
        (1, state("web", ServiceState::Restoring)),
        (
            2,
            finished("web", "deploy", "w1", StepOutcome::Failed, Some(1)),
        ),
        (
            3,
            finished("web", "deploy", "w2", StepOutcome::Failed, Some(2)),
        ),
        (
            4,
            finished("web", "deploy", "w3", StepOutcome::NotRun, None),
        ),
        (
            5,
            finished("web", "deploy", "w4", StepOutcome::NotRun, None),
        ),
        (6, failed("web")),
    ];
    assert_eq!(
        stopped(&events, "web"),
        (
            FailureCause::BudgetExceeded {
                reason: "failure budget exceeded: 2 of 4 hosts failed (max 1)".into(),
                not_run: 2,
            },
            "deploy".into(),
            Some(HostId::new("w2"))
        )
    );
}

#[test]
fn the_rest_after_a_declined_canary_stays_declined() {
    let events = vec![
        (0, started(None)),
        (1, finished("web", "deploy", "w1", StepOutcome::Ok, Some(0))),
        (
            2,
            Event::Approval {
                service: sid("web"),
                step: "deploy".into(),
                phase: None,
                decision: Decision::Declined,
                operator: "kim".into(),
                provenance: crate::journal::event::Provenance::default(),
            },
        ),
        (
            3,
            finished("web", "deploy", "w2", StepOutcome::NotRun, None),
        ),
        (4, failed("web")),
    ];
    assert_eq!(
        stopped(&events, "web").0,
        FailureCause::Declined { by: "kim".into() }
    );
}

#[test]
fn the_run_stopped_on_the_latest_failure_still_failed_and_a_retry_forgets_what_passed() {
    let declined = Event::Approval {
        service: sid("web"),
        step: "restart".into(),
        phase: None,
        decision: Decision::Declined,
        operator: "kim".into(),
        provenance: crate::journal::event::Provenance::default(),
    };
    let mut events = vec![
        (0, started(None)),
        (
            1,
            finished("db", "mount", "db-1", StepOutcome::Failed, Some(32)),
        ),
        (2, failed("db")),
        (3, declined),
        (4, failed("web")),
    ];
    let f = fold(&events);
    let s = f.stopped_on().expect("stopped on a failure");
    assert_eq!((s.failure.service.as_str(), s.failed_seq), ("web", 5));
    // web restored by hand: the run stopped on db's failure.
    events.push((5, state("web", ServiceState::Restored)));
    let f = fold(&events);
    assert!(f.failure(&sid("web")).is_none(), "web is up");
    assert_eq!(
        f.stopped_on().map(|s| s.failure.service.as_str()),
        Some("db")
    );
    // db retried: its mount passed, then it failed for a reason no result gives.
    events.push((6, finished("db", "mount", "db-1", StepOutcome::Ok, Some(0))));
    events.push((
        7,
        Event::ServiceState {
            service: sid("db"),
            from: ServiceState::Restoring,
            to: ServiceState::Failed,
            reason: Some("stopped".into()),
        },
    ));
    assert_eq!(
        stopped(&events, "db").0,
        FailureCause::Other {
            reason: Some("stopped".into())
        }
    );
}

/// `approval` as the run journals it now: with the phase of the step answered.
fn declined_in(phase: Phase, service: &str, step: &str, operator: &str) -> Event {
    Event::Approval {
        service: sid(service),
        step: step.into(),
        phase: Some(phase),
        decision: Decision::Declined,
        operator: operator.into(),
        provenance: crate::journal::event::Provenance::default(),
    }
}

#[test]
fn a_declined_undo_approval_is_told_as_the_undo_it_stopped_not_a_restore() {
    // web's restore failed at `migrate` and its on_fail undoes it: the undo of `deploy` asks
    // first, and kim declines it. No operator asked for that undo, and no undo step ran.
    let events = vec![
        (0, started(None)),
        (1, state("web", ServiceState::Restoring)),
        (2, finished("web", "deploy", "w1", StepOutcome::Ok, Some(0))),
        (
            3,
            finished("web", "migrate", "w1", StepOutcome::Failed, Some(1)),
        ),
        (4, declined_in(Phase::Undo, "web", "deploy", "kim")),
        (5, failed("web")),
    ];
    let f = fold(&events);
    let failure = f.failure(&sid("web")).expect("web failed");
    assert_eq!(
        (failure.phase, failure.step.as_str(), &failure.cause),
        (
            Phase::Undo,
            "deploy",
            &FailureCause::Declined { by: "kim".into() }
        )
    );
    let told: Vec<_> = f
        .rollbacks
        .all()
        .iter()
        .map(|r| (r.by.clone(), r.steps.len(), r.failed_step.as_deref(), r.end))
        .collect();
    assert_eq!(
        told,
        vec![(AskedBy::OnFail, 0, Some("deploy"), RollbackEnd::Stopped)]
    );
}

#[test]
fn a_declined_restore_approval_is_no_rollback_even_while_an_undo_is_asked() {
    // kim asked to undo web, but what lee declines is a restore step of the same name.
    let events = vec![
        (0, started(None)),
        (1, undo_asked("kim", "web", false)),
        (2, declined_in(Phase::Restore, "web", "start", "lee")),
        (3, failed("web")),
    ];
    let f = fold(&events);
    assert!(f.rollbacks.all().is_empty(), "{:?}", f.rollbacks.all());
    assert_eq!(
        f.failure(&sid("web")).map(|x| x.phase),
        Some(Phase::Restore)
    );
}

#[test]
fn an_approval_line_without_a_phase_reads_and_folds_as_it_always_did() {
    // As journals written before `approval.phase` have it.
    let line = r#"{"kind":"approval","service":"web","step":"start","decision":"declined","operator":"lee"}"#;
    let read: Event = serde_json::from_str(line).expect("an approval event");
    assert_eq!(read, declined("web", "start", "lee"));
    assert!(matches!(read, Event::Approval { phase: None, .. }));
    // Written back, it is the same line: its hash does not change.
    assert_eq!(serde_json::to_string(&read).expect("serializes"), line);
    // Folded: the guess of old, an undo's decline when an operator's undo covers it, and
    // told as a restore step for want of a phase.
    let events = vec![
        (0, started(None)),
        (1, undo_asked("kim", "web", false)),
        (2, read),
        (3, failed("web")),
    ];
    let f = fold(&events);
    let told: Vec<_> = f
        .rollbacks
        .all()
        .iter()
        .map(|r| (r.by.clone(), r.failed_step.as_deref(), r.end))
        .collect();
    assert_eq!(
        told,
        vec![(
            AskedBy::Operator("kim".into()),
            Some("start"),
            RollbackEnd::Stopped
        )]
    );
    assert_eq!(
        f.failure(&sid("web")).map(|x| x.phase),
        Some(Phase::Restore)
    );
    // With its phase, the same line says so and reads back as written.
    let now = r#"{"kind":"approval","service":"web","step":"start","phase":"undo","decision":"declined","operator":"lee"}"#;
    let read: Event = serde_json::from_str(now).expect("an approval event");
    assert_eq!(read, declined_in(Phase::Undo, "web", "start", "lee"));
    assert_eq!(serde_json::to_string(&read).expect("serializes"), now);
}

#[test]
fn a_question_is_answered_by_the_answer_about_its_own_phase() {
    let asked = |phase| Event::Asked {
        service: sid("web"),
        step: "start".into(),
        phase: Some(phase),
        question: QuestionKind::Approval,
    };
    let events = vec![
        (0, started(None)),
        (1, asked(Phase::Undo)),
        (2, declined_in(Phase::Restore, "web", "start", "lee")),
    ];
    let f = fold(&events);
    let waiting: Vec<_> = f.questions.iter().map(|q| q.phase).collect();
    assert_eq!(waiting, vec![Some(Phase::Undo)]);
}
