use super::*;
use crate::core::records::Kind;

fn snapshot() -> Snapshot {
    Snapshot {
        version: "0.1.0".into(),
        commit: "abc1234".into(),
        config_hash: "e3b0c442".into(),
        hosts: vec![
            ("compute-1".into(), "healthy".into()),
            ("compute-3".into(), "alert".into()),
        ],
        gate: "mass-failure".into(),
        leader: true,
        cycle_duration: Some(0.25),
        last_cycle: Some(1_795_317_129.5),
        last_success: Some(1_795_317_129.0),
        counters: Counters {
            evacuations: [("accepted".to_string(), 3), ("failed".to_string(), 1)].into(),
            fencing: [("ok".to_string(), 2)].into(),
            observe_errors: [("cloud".to_string(), 4)].into(),
        },
        leader_errors: 0,
    }
}

#[test]
fn renders_the_text_exposition_format() {
    let text = render(&snapshot());
    for line in [
        "# TYPE evacctl_build_info gauge",
        "evacctl_build_info{version=\"0.1.0\",commit=\"abc1234\"} 1",
        "evacctl_config_info{hash=\"e3b0c442\"} 1",
        "evacctl_host_state{host=\"compute-3\",state=\"alert\"} 1",
        "evacctl_gate_active{gate=\"mass-failure\"} 1",
        "evacctl_gate_active{gate=\"standby\"} 0",
        "evacctl_leader 1",
        "evacctl_cycle_duration_seconds 0.25",
        "evacctl_last_cycle_timestamp_seconds 1795317129.5",
        "evacctl_last_cycle_success_timestamp_seconds 1795317129",
        "# TYPE evacctl_evacuations_total counter",
        "evacctl_evacuations_total{result=\"accepted\"} 3",
        "evacctl_evacuations_total{result=\"failed\"} 1",
        "evacctl_fencing_total{result=\"ok\"} 2",
        "evacctl_observe_errors_total{source=\"cloud\"} 4",
        "evacctl_observe_errors_total{source=\"leader-lock\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    assert!(text.ends_with('\n'));
    // Every family has its HELP and TYPE once, before its samples.
    let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
    let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
    assert_eq!((types, helps), (11, 11));

    // Before the first cycle: no duration or time samples, the families still declared.
    let text = render(&Snapshot::default());
    assert!(text.contains("# TYPE evacctl_cycle_duration_seconds gauge\n# HELP"));
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("evacctl_cycle_duration_seconds "))
    );
}

#[test]
fn label_values_are_escaped() {
    assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
    assert_eq!(escape_label("a\nb"), "a\\nb");
    let mut s = snapshot();
    s.hosts = vec![("odd\"host\\\n".into(), "healthy".into())];
    let text = render(&s);
    assert!(
        text.contains("evacctl_host_state{host=\"odd\\\"host\\\\\\n\",state=\"healthy\"} 1\n"),
        "{text}"
    );
    assert_eq!(number(f64::NAN), "NaN");
    assert_eq!(number(f64::INFINITY), "+Inf");
    assert_eq!(number(-3.0), "-3");
}

#[test]
fn counters_come_from_the_journal() {
    let rec =
        |kind, action: &str, status: &str| crate::core::testkit::record(kind, action, None, status);
    let records = [
        rec(Kind::Intent, "evacuate", "sending"),
        rec(Kind::Result, "evacuate", "accepted"),
        rec(Kind::Result, "evacuate", "accepted"),
        rec(Kind::Result, "evacuate", "failed"),
        rec(Kind::Intent, "fence", "sending"),
        rec(Kind::Result, "fence", "ok"),
        rec(Kind::Event, "observe", "failed"),
        rec(Kind::Event, "observe", "ok"),
        rec(Kind::Result, "force-down", "ok"),
    ];
    let c = Counters::from_records(&records);
    assert_eq!(
        c.evacuations,
        [("accepted".to_string(), 2), ("failed".to_string(), 1)].into()
    );
    assert_eq!(c.fencing, [("ok".to_string(), 1)].into());
    assert_eq!(c.observe_errors, [("cloud".to_string(), 1)].into());
}

#[test]
fn a_sample_is_read_back_and_the_textfile_is_replaced_whole() {
    let text = render(&snapshot());
    assert_eq!(
        sample_value(&text, "evacctl_last_cycle_success_timestamp_seconds"),
        Some(1_795_317_129.0)
    );
    assert_eq!(sample_value(&text, "evacctl_nothing"), None);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evacctl.prom");
    write_textfile(&path, "a 1\n").unwrap();
    write_textfile(&path, &text).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    // No temporary file left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1);
    // A directory that does not exist: an error, nothing written.
    assert!(write_textfile(&dir.path().join("no/such.prom"), &text).is_err());
}
