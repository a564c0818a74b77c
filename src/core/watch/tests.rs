use super::*;
use crate::core::watch::PolicyConfig;

fn nova_ok() -> NovaFacts {
    NovaFacts {
        enabled: true,
        up: true,
        forced_down: false,
        disabled_reason: None,
    }
}

fn facts(nova: NovaFacts, net: Option<HostVerdict>, node: NodeLocal) -> HostFacts {
    HostFacts {
        nova,
        network: net.map(|v| (v, format!("network {v}"))),
        node_local: (node, format!("node {}", node.as_str())),
    }
}

fn healthy() -> HostFacts {
    facts(nova_ok(), Some(HostVerdict::Healthy), NodeLocal::Passing)
}

fn storage_cut() -> HostFacts {
    facts(nova_ok(), Some(HostVerdict::Failed), NodeLocal::Passing)
}

fn policy() -> PolicyConfig {
    PolicyConfig::default()
}

const WINDOW: f64 = 600.0;

#[test]
fn assess_follows_the_seed_matrix() {
    assert_eq!(assess(&healthy()), Evidence::Healthy);
    assert!(matches!(
        assess(&storage_cut()),
        Evidence::Failed {
            kind: FailureKind::Network,
            ..
        }
    ));
    // Management or tenant only: notify, never act.
    assert!(matches!(
        assess(&facts(
            nova_ok(),
            Some(HostVerdict::Degraded),
            NodeLocal::Passing
        )),
        Evidence::Warn(_)
    ));
    // nova-compute crashed on a live node.
    assert!(matches!(
        assess(&facts(
            nova_ok(),
            Some(HostVerdict::Healthy),
            NodeLocal::Critical
        )),
        Evidence::Failed {
            kind: FailureKind::Service,
            ..
        }
    ));
    let down = NovaFacts {
        up: false,
        ..nova_ok()
    };
    // Nova lost the heartbeat, the node says it runs: wait and warn.
    assert!(matches!(
        assess(&facts(
            down.clone(),
            Some(HostVerdict::Healthy),
            NodeLocal::Passing
        )),
        Evidence::Warn(_)
    ));
    // ... or it is alive in every network with no node-local data: still wait.
    assert!(matches!(
        assess(&facts(
            down.clone(),
            Some(HostVerdict::Healthy),
            NodeLocal::NoData
        )),
        Evidence::Warn(_)
    ));
    // Without Consul, Nova's word is all there is.
    assert!(matches!(
        assess(&facts(down, None, NodeLocal::NoData)),
        Evidence::Failed {
            kind: FailureKind::Nova,
            ..
        }
    ));
}

#[test]
fn a_failure_is_confirmed_only_after_n_consecutive_observations() {
    let p = PolicyConfig {
        confirmations: 3,
        ..policy()
    };
    let mut m = Memory::default();
    let t = observe(&mut m, "c1", &storage_cut(), &p, WINDOW, 0.0).unwrap();
    assert_eq!((t.from, t.to), (HostState::Healthy, HostState::Suspect));
    let t = observe(&mut m, "c1", &storage_cut(), &p, WINDOW, 10.0).unwrap();
    assert_eq!(t.to, HostState::Suspect);
    assert!(t.reason.contains("seen 2/3"), "{}", t.reason);
    // One healthy observation resets the count.
    let t = observe(&mut m, "c1", &healthy(), &p, WINDOW, 20.0).unwrap();
    assert_eq!(t.to, HostState::Healthy);
    observe(&mut m, "c1", &storage_cut(), &p, WINDOW, 30.0);
    observe(&mut m, "c1", &storage_cut(), &p, WINDOW, 40.0);
    let t = observe(&mut m, "c1", &storage_cut(), &p, WINDOW, 50.0).unwrap();
    assert_eq!(t.to, HostState::Failed);
    assert!(t.reason.contains("3 consecutive"), "{}", t.reason);
}

#[test]
fn a_suspicion_from_long_ago_is_not_a_consecutive_observation() {
    let p = policy();
    let mut m = Memory::default();
    observe(&mut m, "c1", &storage_cut(), &p, WINDOW, 1000.0);
    // The watch was stopped for longer than the flapping window: seen 1/2 again, not failed.
    let later = 1000.0 + WINDOW + 60.0;
    let t = observe(&mut m, "c1", &storage_cut(), &p, WINDOW, later).unwrap();
    assert_eq!(t.to, HostState::Suspect);
    assert!(t.reason.contains("seen 1/2"), "{}", t.reason);
    assert!(t.reason.contains("last observation was"), "{}", t.reason);
    // Still the same episode (no flapping from a pause).
    assert_eq!(m.episodes.len(), 1);
    let t = observe(&mut m, "c1", &storage_cut(), &p, WINDOW, later + 10.0).unwrap();
    assert_eq!(t.to, HostState::Failed);
    // A journal written before `last_seen` existed (0) is not stale.
    let mut old = Memory::default();
    observe(&mut old, "c1", &storage_cut(), &p, WINDOW, 1000.0);
    old.last_seen = 0.0;
    let t = observe(
        &mut old,
        "c1",
        &storage_cut(),
        &p,
        WINDOW,
        1000.0 + 2.0 * WINDOW,
    )
    .unwrap();
    assert_eq!(t.to, HostState::Failed);
}

#[test]
fn a_flapping_host_is_held_until_the_failure_outlasts_the_window() {
    let p = policy();
    let mut m = Memory::default();
    let mut now = 0.0;
    for _ in 0..2 {
        observe(&mut m, "c1", &storage_cut(), &p, WINDOW, now);
        now += 10.0;
        observe(&mut m, "c1", &healthy(), &p, WINDOW, now);
        now += 10.0;
    }
    assert_eq!(m.state(), HostState::Healthy);
    observe(&mut m, "c1", &storage_cut(), &p, WINDOW, now);
    now += 10.0;
    // Third episode, confirmed by count, but flapping: held as suspect.
    assert!(observe(&mut m, "c1", &storage_cut(), &p, WINDOW, now).is_none());
    assert_eq!(m.state(), HostState::Suspect);
    assert!(is_flapping(&m, &p, WINDOW, now));
    assert!(m.reason.contains("flapping"), "{}", m.reason);
    // Still failing once the old episodes leave the window: confirmed.
    now += WINDOW;
    let t = observe(&mut m, "c1", &storage_cut(), &p, WINDOW, now).unwrap();
    assert_eq!(t.to, HostState::Failed);
}

#[test]
fn maintenance_and_our_own_marker() {
    let p = policy();
    let mut m = Memory::default();
    let maint = NovaFacts {
        enabled: false,
        disabled_reason: Some("replacing a DIMM".into()),
        ..nova_ok()
    };
    let t = observe(
        &mut m,
        "c1",
        &facts(
            maint.clone(),
            Some(HostVerdict::Failed),
            NodeLocal::Critical,
        ),
        &p,
        WINDOW,
        0.0,
    )
    .unwrap();
    assert_eq!(t.to, HostState::Maintenance);
    assert!(t.reason.contains("replacing a DIMM"), "{}", t.reason);
    // Hands off: no failure is ever counted.
    assert!(
        observe(
            &mut m,
            "c1",
            &facts(maint, Some(HostVerdict::Failed), NodeLocal::Critical),
            &p,
            WINDOW,
            10.0
        )
        .is_none()
    );
    // Disabled by evacctl (another controller, a lost journal): resume after isolation.
    let mut m = Memory::default();
    let ours = NovaFacts {
        enabled: false,
        up: false,
        forced_down: true,
        disabled_reason: Some("evacctl: evacuated 2026-11-22T03:12:09Z".into()),
    };
    let t = observe(
        &mut m,
        "c1",
        &facts(ours, Some(HostVerdict::Failed), NodeLocal::Critical),
        &p,
        WINDOW,
        0.0,
    )
    .unwrap();
    assert_eq!(t.to, HostState::Isolated);
}

#[test]
fn committed_hosts_ignore_observations_until_back_in_service() {
    let p = policy();
    let mut m = at(HostState::Evacuated);
    let ours = NovaFacts {
        enabled: false,
        up: false,
        forced_down: true,
        disabled_reason: Some("evacctl: evacuated 2026-11-22T03:12:09Z".into()),
    };
    assert!(
        observe(
            &mut m,
            "c1",
            &facts(ours, Some(HostVerdict::Healthy), NodeLocal::Passing),
            &p,
            WINDOW,
            0.0
        )
        .is_none()
    );
    // Enabled and up again by hand: forget the episode.
    let t = observe(&mut m, "c1", &healthy(), &p, WINDOW, 1.0).unwrap();
    assert_eq!(t.to, HostState::Healthy);
}

fn ctx(p: &PolicyConfig) -> Context<'_> {
    Context {
        policy: p,
        now: 100.0,
        may_act: true,
        may_start: true,
        has_bmc: true,
        move_volumes: true,
        nova_down: true,
        verified_this_cycle: false,
    }
}

fn at(state: HostState) -> Memory {
    Memory {
        state: Some(state),
        ..Memory::default()
    }
}

fn failed(kind: FailureKind) -> Memory {
    Memory {
        state: Some(HostState::Failed),
        kind: Some(kind),
        ..Memory::default()
    }
}

#[test]
fn recovery_then_fencing_per_seed_003() {
    let p = policy();
    let c = ctx(&p);
    let mut m = failed(FailureKind::Network);
    // Power read first; found off: powered on once.
    assert_eq!(next(&m, &c), Next::Run(Step::ReadPower));
    after(
        &mut m,
        "c1",
        Step::ReadPower,
        Outcome::Power(Some(false)),
        &p,
        100.0,
    );
    assert_eq!(next(&m, &c), Next::Run(Step::PowerOn));
    let t = after(
        &mut m,
        "c1",
        Step::PowerOn,
        Outcome::Done("on".into()),
        &p,
        100.0,
    )
    .unwrap();
    assert_eq!(t.to, HostState::Recovering);
    assert!(matches!(next(&m, &c), Next::Wait(_)));
    // It did not rejoin in time: fencing.
    let late = Context {
        now: 100.0 + p.recovery_timeout.as_secs_f64() + 1.0,
        ..ctx(&p)
    };
    assert_eq!(
        next(&m, &late),
        Next::Go(
            HostState::Fencing,
            format!(
                "did not rejoin within {}: fencing",
                humantime::format_duration(p.recovery_timeout)
            )
        )
    );

    // Powered on and alive, with a repair command: the repair is tried.
    let p = PolicyConfig {
        repair_command: vec!["/bin/true".into()],
        ..policy()
    };
    let c = ctx(&p);
    let mut m = failed(FailureKind::Service);
    after(
        &mut m,
        "c1",
        Step::ReadPower,
        Outcome::Power(Some(true)),
        &p,
        100.0,
    );
    assert_eq!(next(&m, &c), Next::Run(Step::Repair));
    // A failed repair leads on to fencing, never to waiting.
    assert!(
        after(
            &mut m,
            "c1",
            Step::Repair,
            Outcome::Alert("exit 1".into()),
            &p,
            100.0
        )
        .is_none()
    );
    assert_eq!(next(&m, &c), Next::Go(HostState::Fencing, "fencing".into()));
    // Without recovery: straight to fencing.
    let p = PolicyConfig {
        power_on_recovery: false,
        ..policy()
    };
    assert_eq!(
        next(&failed(FailureKind::Nova), &ctx(&p)),
        Next::Go(HostState::Fencing, "fencing".into())
    );
}

#[test]
fn quick_evacuate_levels() {
    let mut p = PolicyConfig {
        power_on_recovery: false,
        ..policy()
    };
    let fenced = at(HostState::Fenced);
    // Level 2 (default): force down after fencing, power confirmed again.
    assert_eq!(
        next(&fenced, &ctx(&p)),
        Next::Run(Step::Isolate {
            force_down: true,
            confirm_power: true
        })
    );
    // Level 1: no fencing at all, the operator's explicit choice.
    p.quick_evacuate_level = QuickEvacuateLevel::ForceDownWithoutPowerOff;
    assert_eq!(
        next(&failed(FailureKind::Nova), &ctx(&p)),
        Next::Run(Step::Isolate {
            force_down: true,
            confirm_power: false
        })
    );
    // Level 3: fenced, then Nova's own heartbeat timeout; no force-down.
    p.quick_evacuate_level = QuickEvacuateLevel::Neither;
    assert_eq!(
        next(&failed(FailureKind::Nova), &ctx(&p)),
        Next::Go(HostState::Fencing, "fencing".into())
    );
    let up = Context {
        nova_down: false,
        ..ctx(&p)
    };
    assert!(matches!(next(&fenced, &up), Next::Wait(w) if w.contains("heartbeat")));
    assert_eq!(
        next(&fenced, &ctx(&p)),
        Next::Run(Step::Isolate {
            force_down: false,
            confirm_power: true
        })
    );
}

#[test]
fn never_evacuate_after_failed_fencing() {
    let p = policy();
    let mut m = at(HostState::Fencing);
    let t = after(
        &mut m,
        "c1",
        Step::Fence,
        Outcome::Alert("the BMC still reports power on".into()),
        &p,
        0.0,
    )
    .unwrap();
    assert_eq!(t.to, HostState::Alert);
    assert!(matches!(next(&m, &ctx(&p)), Next::Wait(_)));
}

#[test]
fn gates_and_the_closed_gate() {
    let p = policy();
    let ok = CycleFacts {
        compute_hosts: 10,
        failing: vec!["c1".into()],
        observer_isolated: vec![],
        leader: true,
        leader_error: None,
    };
    assert_eq!(gates(&ok, &p), Gate::Open);
    let two = CycleFacts {
        failing: vec!["c1".into(), "c2".into()],
        ..ok.clone()
    };
    assert!(matches!(gates(&two, &p), Gate::MassFailure(r) if r.contains("c1, c2")));
    // One of three is a third, not more than a third.
    let third = CycleFacts {
        compute_hosts: 3,
        ..ok.clone()
    };
    assert_eq!(gates(&third, &p), Gate::Open);
    let half = CycleFacts {
        compute_hosts: 2,
        ..ok.clone()
    };
    assert!(matches!(gates(&half, &p), Gate::MassFailure(r) if r.contains("50%")));
    let cut = CycleFacts {
        observer_isolated: vec!["cluster management: no leader".into()],
        ..ok.clone()
    };
    assert!(matches!(gates(&cut, &p), Gate::ObserverIsolated(_)));
    let standby = CycleFacts {
        leader: false,
        ..ok
    };
    assert!(matches!(gates(&standby, &p), Gate::Standby(_)));
    // Nobody can hold the lock: a warning, not a quiet standby.
    let no_leader = CycleFacts {
        leader_error: Some("No cluster leader".into()),
        ..standby.clone()
    };
    assert!(matches!(gates(&no_leader, &p), Gate::NoLeader(r) if r.contains("No cluster leader")));
    // A closed gate: nothing runs.
    let c = Context {
        may_act: false,
        ..ctx(&p)
    };
    assert!(matches!(
        next(&failed(FailureKind::Nova), &c),
        Next::Wait(_)
    ));
}

#[test]
fn max_hosts_per_cycle_holds_the_others() {
    let p = PolicyConfig {
        power_on_recovery: false,
        ..policy()
    };
    let c = Context {
        may_start: false,
        ..ctx(&p)
    };
    assert!(
        matches!(next(&failed(FailureKind::Nova), &c), Next::Wait(w) if w.contains("max_hosts_per_cycle"))
    );
    // A host already past fencing goes on.
    let isolated = at(HostState::Isolated);
    assert_eq!(next(&isolated, &c), Next::Run(Step::MoveVolumes));
}

#[test]
fn evacuation_outcomes() {
    let p = policy();
    let mut m = at(HostState::VolumesMoved);
    let ev = |accepted, failed, fit: Option<&str>| Outcome::Evacuated {
        accepted,
        failed,
        in_flight_or_done: false,
        does_not_fit: fit.map(str::to_string),
        detail: "d".into(),
        skipped: Vec::new(),
    };
    // Some requests failed: evacuating, retried next cycle, alert after three rounds.
    let t = after(&mut m, "c1", Step::Evacuate, ev(3, 1, None), &p, 0.0).unwrap();
    assert_eq!(t.to, HostState::Evacuating);
    assert!(after(&mut m, "c1", Step::Evacuate, ev(0, 1, None), &p, 1.0).is_none());
    let t = after(&mut m, "c1", Step::Evacuate, ev(0, 1, None), &p, 2.0).unwrap();
    assert_eq!(t.to, HostState::Alert);

    // Partial (the default policy): evacuate what fits, verify, then alert.
    let mut m = at(HostState::VolumesMoved);
    let t = after(
        &mut m,
        "c1",
        Step::Evacuate,
        ev(2, 0, Some("1 server(s) do not fit")),
        &p,
        0.0,
    )
    .unwrap();
    assert_eq!(t.to, HostState::Verifying);
    let t = after(&mut m, "c1", Step::Verify, Outcome::Verified, &p, 1.0).unwrap();
    assert_eq!(t.to, HostState::Alert);
    assert!(t.reason.contains("do not fit"), "{}", t.reason);

    // Not partial: nothing evacuated, alert.
    let strict = PolicyConfig {
        partial_evacuation: false,
        ..policy()
    };
    let mut m = at(HostState::VolumesMoved);
    let t = after(
        &mut m,
        "c1",
        Step::Evacuate,
        ev(0, 0, Some("3 do not fit")),
        &strict,
        0.0,
    )
    .unwrap();
    assert_eq!(t.to, HostState::Alert);
    assert!(t.reason.contains("not enough capacity"), "{}", t.reason);
}

#[test]
fn verification_times_out_into_alert() {
    let p = policy();
    let mut m = Memory {
        state: Some(HostState::Verifying),
        deadline: Some(100.0),
        ..Memory::default()
    };
    assert!(
        after(
            &mut m,
            "c1",
            Step::Verify,
            Outcome::VerifyPending("2 running".into()),
            &p,
            50.0
        )
        .is_none()
    );
    let t = after(
        &mut m,
        "c1",
        Step::Verify,
        Outcome::VerifyPending("2 running".into()),
        &p,
        100.0,
    )
    .unwrap();
    assert_eq!(t.to, HostState::Alert);
    assert!(t.reason.contains("timed out"), "{}", t.reason);
    let mut m = at(HostState::Verifying);
    let t = after(&mut m, "c1", Step::Verify, Outcome::Verified, &p, 1.0).unwrap();
    assert_eq!(t.to, HostState::Evacuated);
}

#[test]
fn repeated_step_errors_end_in_alert() {
    let p = policy();
    let mut m = at(HostState::Fenced);
    let isolate = Step::Isolate {
        force_down: true,
        confirm_power: true,
    };
    for _ in 1..MAX_STEP_ERRORS {
        assert!(
            after(
                &mut m,
                "c1",
                isolate,
                Outcome::Retry("HTTP 503".into()),
                &p,
                0.0
            )
            .is_none()
        );
    }
    let t = after(
        &mut m,
        "c1",
        isolate,
        Outcome::Retry("HTTP 503".into()),
        &p,
        0.0,
    )
    .unwrap();
    assert_eq!(t.to, HostState::Alert);
    // Waiting is not an error.
    let mut m = at(HostState::Isolated);
    for _ in 0..10 {
        assert!(
            after(
                &mut m,
                "c1",
                Step::MoveVolumes,
                Outcome::Wait("cinder".into()),
                &p,
                0.0
            )
            .is_none()
        );
    }
    assert_eq!(m.state(), HostState::Isolated);
}

#[test]
fn memory_survives_the_journal() {
    use crate::core::records::{Kind, Record};
    use crate::core::summary::memories_from;
    let mem = Memory {
        state: Some(HostState::Suspect),
        seen: 1,
        episodes: vec![5.0],
        ..Memory::default()
    };
    let rec = |host: &str, status: &str, data: Option<serde_json::Value>| Record {
        ts: "t".into(),
        detail: Some("why".into()),
        data,
        ..crate::core::testkit::record(Kind::Event, STATE_ACTION, Some(host), status)
    };
    let records = vec![
        rec("c1", "healthy", None),
        rec("c1", "suspect", Some(serde_json::to_value(&mem).unwrap())),
        rec("c2", "evacuated", None),
        rec("c3", "evacuated", None),
        rec("c3", RESTORED, None),
    ];
    let m = memories_from(&records);
    assert_eq!(m["c1"], mem);
    assert_eq!(m["c2"].state(), HostState::Evacuated);
    assert!(!m.contains_key("c3"));
}

#[test]
fn level_1_evacuates_with_the_volumes_of_a_live_cinder_volume_left_then_moves_them() {
    let still_up = || Outcome::VolumesLeft("Cinder still shows cinder-volume c1@ceph up".into());
    // Levels 2 and 3: the servers would lose their volumes' service: stop.
    for level in [
        QuickEvacuateLevel::PowerOffThenForceDown,
        QuickEvacuateLevel::Neither,
    ] {
        let p = PolicyConfig {
            quick_evacuate_level: level,
            ..policy()
        };
        let mut m = at(HostState::Isolated);
        let t = after(&mut m, "c1", Step::MoveVolumes, still_up(), &p, 1.0).unwrap();
        assert_eq!(t.to, HostState::Alert);
        assert!(t.reason.contains("servers not evacuated"), "{}", t.reason);
        assert_eq!(m.volumes_left, None);
    }
    // Level 1: on to the evacuation, saying so, the volumes remembered as left.
    let p = PolicyConfig {
        quick_evacuate_level: QuickEvacuateLevel::ForceDownWithoutPowerOff,
        ..policy()
    };
    let mut m = at(HostState::Isolated);
    let t = after(&mut m, "c1", Step::MoveVolumes, still_up(), &p, 1.0).unwrap();
    assert_eq!(t.to, HostState::VolumesMoved);
    assert!(
        t.reason
            .starts_with("quick_evacuate_level 1: Cinder still shows")
            && t.reason.contains("without moving its volumes"),
        "{}",
        t.reason
    );
    assert!(m.volumes_left.is_some());
    // Evacuated: the volume step runs again each cycle, waiting without a deadline.
    m.state = Some(HostState::Evacuated);
    m.reason = "every evacuated server verified on its new host".into();
    assert_eq!(next(&m, &ctx(&p)), Next::Run(Step::MoveVolumes));
    let no_volume_step = Context {
        move_volumes: false,
        ..ctx(&p)
    };
    assert!(matches!(next(&m, &no_volume_step), Next::Wait(_)));
    for o in [Outcome::Wait("waiting".into()), still_up()] {
        assert_eq!(after(&mut m, "c1", Step::MoveVolumes, o, &p, 2.0), None);
        assert_eq!(m.state(), HostState::Evacuated);
        assert!(m.volumes_left.is_some());
    }
    let done = Outcome::Done("ceph: 2 volume(s) moved to c2@ceph".into());
    assert_eq!(after(&mut m, "c1", Step::MoveVolumes, done, &p, 3.0), None);
    assert_eq!(m.state(), HostState::Evacuated);
    assert_eq!(m.volumes_left, None);
    assert!(
        m.reason
            .ends_with("; volumes moved since: ceph: 2 volume(s) moved to c2@ceph")
    );
    assert!(matches!(next(&m, &ctx(&p)), Next::Wait(_)));
}

#[test]
fn servers_left_behind_are_named_when_the_host_is_evacuated() {
    let p = policy();
    let skipped = vec![Skipped {
        id: "s9".into(),
        name: "db-9".into(),
        reason: "vm_state paused".into(),
    }];
    let mut m = at(HostState::VolumesMoved);
    let ev = Outcome::Evacuated {
        accepted: 2,
        failed: 0,
        in_flight_or_done: false,
        does_not_fit: None,
        detail: "2 evacuation(s) accepted".into(),
        skipped: skipped.clone(),
    };
    after(&mut m, "c1", Step::Evacuate, ev, &p, 1.0).unwrap();
    assert_eq!(m.skipped, skipped);
    let t = after(&mut m, "c1", Step::Verify, Outcome::Verified, &p, 2.0).unwrap();
    assert_eq!(t.to, HostState::Evacuated);
    assert_eq!(
        t.reason,
        "every evacuated server verified on its new host; 1 server(s) not evacuated, left on \
         c1: db-9 (s9): vm_state paused"
    );
    // Nothing sent at all, only servers that cannot go: named as well.
    let mut m = at(HostState::VolumesMoved);
    let ev = Outcome::Evacuated {
        accepted: 0,
        failed: 0,
        in_flight_or_done: false,
        does_not_fit: None,
        detail: "0 evacuation(s) accepted".into(),
        skipped,
    };
    let t = after(&mut m, "c1", Step::Evacuate, ev, &p, 1.0).unwrap();
    assert_eq!(t.to, HostState::Evacuated);
    assert!(
        t.reason.starts_with("nothing evacuated: 1 server(s)"),
        "{}",
        t.reason
    );
    // Not written when empty: a journal line reads the same with or without them.
    let back = serde_json::to_value(Memory::default()).unwrap();
    assert!(back.get("skipped").is_none() && back.get("volumes_left").is_none());
    assert_eq!(
        serde_json::from_value::<Memory>(back).unwrap(),
        Memory::default()
    );
}

fn windowed(window: f64) -> PolicyConfig {
    PolicyConfig {
        confirm_window: Some(Duration::from_secs_f64(window)),
        ..policy()
    }
}

#[test]
fn with_confirm_window_a_failure_is_confirmed_once_seen_that_long() {
    let p = windowed(2.0);
    let mut m = Memory::default();
    let t = observe(&mut m, "c1", &storage_cut(), &p, WINDOW, 100.0).unwrap();
    assert_eq!((t.from, t.to), (HostState::Healthy, HostState::Suspect));
    assert_eq!(m.first_seen, 100.0);
    assert!(t.reason.contains("confirm_window 2s"), "{}", t.reason);
    // The window ends at the first sighting + 2 s: the engine looks again then.
    assert_eq!(confirm_due(&m, &p), Some(102.0));
    // Two observations within the window (early cycles woken by Consul) do not confirm it.
    let t = observe(&mut m, "c1", &storage_cut(), &p, WINDOW, 100.5).unwrap();
    assert_eq!(t.to, HostState::Suspect);
    let t = observe(&mut m, "c1", &storage_cut(), &p, WINDOW, 101.99).unwrap();
    assert_eq!(t.to, HostState::Suspect);
    assert_eq!(m.seen, 3);
    // At the window's end it is.
    let t = observe(&mut m, "c1", &storage_cut(), &p, WINDOW, 102.0).unwrap();
    assert_eq!(t.to, HostState::Failed);
    assert!(
        t.reason.contains("seen continuously for 2.0s"),
        "{}",
        t.reason
    );
    assert_eq!(confirm_due(&m, &p), None, "no longer suspect");
}

#[test]
fn with_confirm_window_one_sighting_never_confirms_however_long_ago() {
    // confirmations = 1 would confirm at the first sighting; a window needs a second one.
    let p = PolicyConfig {
        confirmations: 1,
        ..windowed(2.0)
    };
    let mut m = Memory::default();
    let t = observe(&mut m, "c1", &storage_cut(), &p, WINDOW, 100.0).unwrap();
    assert_eq!(t.to, HostState::Suspect);
    assert!(
        !is_confirmed(&m, &p, 1000.0),
        "one observation is not a window"
    );
    let t = observe(&mut m, "c1", &storage_cut(), &p, WINDOW, 102.5).unwrap();
    assert_eq!(t.to, HostState::Failed);
    // Without a window, confirmations = 1 confirms at once, as before.
    let mut m = Memory::default();
    let t = observe(&mut m, "c1", &storage_cut(), &policy_n(1), WINDOW, 100.0).unwrap();
    assert_eq!(t.to, HostState::Failed);
}

fn policy_n(n: u32) -> PolicyConfig {
    PolicyConfig {
        confirmations: n,
        ..policy()
    }
}

#[test]
fn with_confirm_window_and_confirmations_both_must_hold() {
    let p = PolicyConfig {
        confirmations: 3,
        ..windowed(2.0)
    };
    let mut m = Memory::default();
    observe(&mut m, "c1", &storage_cut(), &p, WINDOW, 100.0);
    // The window passed, but only 2 observations.
    let t = observe(&mut m, "c1", &storage_cut(), &p, WINDOW, 103.0).unwrap();
    assert_eq!(t.to, HostState::Suspect);
    // The third observation confirms it.
    let t = observe(&mut m, "c1", &storage_cut(), &p, WINDOW, 104.0).unwrap();
    assert_eq!(t.to, HostState::Failed);
}

#[test]
fn a_host_that_recovers_within_the_window_is_not_confirmed() {
    let p = windowed(2.0);
    let mut m = Memory::default();
    observe(&mut m, "c1", &storage_cut(), &p, WINDOW, 100.0);
    let t = observe(&mut m, "c1", &healthy(), &p, WINDOW, 101.0).unwrap();
    assert_eq!(t.to, HostState::Healthy);
    assert_eq!(m.first_seen, 0.0);
    // Failing again starts a new window: its start is the new sighting, not the old one.
    observe(&mut m, "c1", &storage_cut(), &p, WINDOW, 101.5);
    assert_eq!(m.first_seen, 101.5);
    let t = observe(&mut m, "c1", &storage_cut(), &p, WINDOW, 102.5).unwrap();
    assert_eq!(t.to, HostState::Suspect, "only 1 s of the new window");
    let t = observe(&mut m, "c1", &storage_cut(), &p, WINDOW, 103.5).unwrap();
    assert_eq!(t.to, HostState::Failed);
}

#[test]
fn with_confirm_window_a_stale_or_old_suspicion_starts_the_window_again() {
    let p = windowed(2.0);
    let mut m = Memory::default();
    observe(&mut m, "c1", &storage_cut(), &p, WINDOW, 1000.0);
    // The watch was stopped for longer than the flapping window.
    let later = 1000.0 + WINDOW + 60.0;
    let t = observe(&mut m, "c1", &storage_cut(), &p, WINDOW, later).unwrap();
    assert_eq!(t.to, HostState::Suspect);
    assert_eq!((m.seen, m.first_seen), (1, later));
    // A suspect memory journaled before `first_seen` existed: the window starts now.
    let mut old = Memory::default();
    observe(&mut old, "c1", &storage_cut(), &policy(), WINDOW, 1000.0);
    old.first_seen = 0.0;
    let t = observe(&mut old, "c1", &storage_cut(), &p, WINDOW, 1001.0).unwrap();
    assert_eq!(t.to, HostState::Suspect);
    assert_eq!(old.first_seen, 1001.0);
    // The field is not written when zero: older readers and journals agree.
    let json = serde_json::to_value(Memory::default()).unwrap();
    assert!(json.get("first_seen").is_none(), "{json}");
}

#[test]
fn with_confirm_window_a_flapping_host_is_still_held() {
    let p = windowed(2.0);
    let mut m = Memory::default();
    let mut now = 0.0;
    for _ in 0..2 {
        observe(&mut m, "c1", &storage_cut(), &p, WINDOW, now);
        observe(&mut m, "c1", &healthy(), &p, WINDOW, now + 1.0);
        now += 10.0;
    }
    observe(&mut m, "c1", &storage_cut(), &p, WINDOW, now);
    // The third episode within the flapping window: seen long enough, but held.
    assert_eq!(
        observe(&mut m, "c1", &storage_cut(), &p, WINDOW, now + 2.0),
        None
    );
    assert_eq!(m.state(), HostState::Suspect);
    assert!(m.reason.starts_with("flapping"), "{}", m.reason);
    assert!(is_flapping(&m, &p, WINDOW, now + 2.0));
    // Without the window having passed, it is not even a confirmation to hold.
    let mut m2 = m.clone();
    m2.first_seen = now + 1.5;
    assert!(!is_flapping(&m2, &p, WINDOW, now + 2.0));
}

#[test]
fn without_confirm_window_nothing_is_due_early() {
    let mut m = Memory::default();
    observe(&mut m, "c1", &storage_cut(), &policy(), WINDOW, 100.0);
    assert_eq!(confirm_due(&m, &policy()), None);
}
