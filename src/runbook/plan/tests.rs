//! The planner: tiers as barriers, waves by dependency depth, and the ordering property over
//! random graphs.

use std::collections::BTreeSet;
use std::path::PathBuf;

use indexmap::IndexMap;
use proptest::prelude::*;

use super::Plan;
use crate::runbook::model::{Defaults, Runbook, Service, ServiceId};

fn runbook(services: &[(&str, u32, &[&str])]) -> Runbook {
    Runbook {
        notice: crate::runbook::model::Notice::default(),
        notify: Vec::new(),
        name: "t".into(),
        description: String::new(),
        path: PathBuf::from("t.toml"),
        sha256: String::new(),
        defaults: Defaults::default(),
        vars: IndexMap::new(),
        secret_vars: BTreeSet::new(),
        hosts: IndexMap::new(),
        groups: IndexMap::new(),
        services: services
            .iter()
            .map(|(id, tier, deps)| Service {
                id: ServiceId::new(*id),
                name: id.to_uppercase(),
                tier: *tier,
                rto: None,
                hosts: Vec::new(),
                depends_on: deps.iter().map(|d| ServiceId::new(*d)).collect(),
                checks: Vec::new(),
                restores: Vec::new(),
                injects: Vec::new(),
                min_healthy: None,
                on_fail: crate::runbook::model::OnFail::Stop,
            })
            .collect(),
        drills: crate::runbook::drill::Drills::default(),
        sites: crate::runbook::sites::Sites::default(),
        operators: crate::runbook::model::Operators::default(),
        witnesses: Vec::new(),
    }
}

fn ids(wave: &[ServiceId]) -> Vec<&str> {
    wave.iter().map(ServiceId::as_str).collect()
}

#[test]
fn tiers_come_out_ascending_whatever_the_file_order() {
    let rb = runbook(&[("mail", 6, &[]), ("auth", 1, &[]), ("msg", 2, &["auth"])]);
    let plan = Plan::build(&rb);
    let tiers: Vec<u32> = plan.tiers.iter().map(|t| t.tier).collect();
    assert_eq!(tiers, [1, 2, 6]);
}

#[test]
fn services_wait_for_same_tier_dependencies_in_a_later_wave() {
    let rb = runbook(&[
        ("auth", 1, &["db", "dns"]),
        ("db", 1, &[]),
        ("dns", 1, &[]),
        ("cache", 1, &["auth"]),
        ("kafka", 1, &[]),
    ]);
    let plan = Plan::build(&rb);
    let waves: Vec<Vec<&str>> = plan.tiers[0].waves.iter().map(|w| ids(w)).collect();
    assert_eq!(
        waves,
        vec![vec!["db", "dns", "kafka"], vec!["auth"], vec!["cache"]]
    );
}

#[test]
fn a_lower_tier_dependency_does_not_delay_the_wave() {
    // The tier barrier already orders them; msg starts in its tier's first wave.
    let rb = runbook(&[
        ("auth", 1, &[]),
        ("msg", 2, &["auth"]),
        ("media", 2, &["msg"]),
    ]);
    let plan = Plan::build(&rb);
    let tier2: Vec<Vec<&str>> = plan.tiers[1].waves.iter().map(|w| ids(w)).collect();
    assert_eq!(tier2, vec![vec!["msg"], vec!["media"]]);
}

#[test]
fn a_cycle_that_slipped_past_validation_is_kept_not_lost() {
    let rb = runbook(&[("a", 1, &["b"]), ("b", 1, &["a"]), ("c", 1, &[])]);
    let plan = Plan::build(&rb);
    assert_eq!(plan.order().count(), 3);
}

#[test]
fn renderers_name_every_service_and_edge() {
    let rb = runbook(&[("auth", 1, &[]), ("msg-send", 2, &["auth"])]);
    let plan = Plan::build(&rb);
    let text = plan.render_text(&rb);
    assert!(text.contains("TIER 1"), "{text}");
    assert!(
        text.contains("msg-send") && text.contains("after auth"),
        "{text}"
    );
    let mermaid = plan.render_mermaid(&rb);
    assert!(mermaid.starts_with("flowchart LR"), "{mermaid}");
    assert!(mermaid.contains("subgraph tier2[\"Tier 2\"]"), "{mermaid}");
    assert!(mermaid.contains("s0 --> s1"), "{mermaid}");
    let dot = plan.render_dot(&rb);
    assert!(dot.contains("subgraph cluster_tier_1"), "{dot}");
    assert!(dot.contains("\"auth\" -> \"msg-send\";"), "{dot}");
}

#[test]
fn the_pangyo_runbook_restores_messaging_before_media_before_pc_login_before_mail() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks/pangyo-dc-fire.toml");
    let rb = crate::runbook::load(std::path::Path::new(path), &[]).expect("pangyo validates");
    let plan = Plan::build(&rb);
    let pos = plan.positions();
    let at = |id: &str| pos[&ServiceId::new(id)];
    assert!(at("auth") < at("talk-messaging"));
    assert!(at("talk-messaging") < at("media-transfer"));
    assert!(at("media-transfer") < at("pc-login"));
    assert!(at("pc-login") < at("talk-channel"));
    assert!(at("talk-channel") < at("mail-smtp"));
    assert!(at("pc-login") < at("mail-imap-pop"));
}

/// Random DAGs: service i may depend only on services before it (so no cycles), and only on
/// ones whose tier is not higher than its own.
fn dag() -> impl Strategy<Value = Vec<(u32, Vec<usize>)>> {
    (1usize..40).prop_flat_map(|n| {
        let tiers = proptest::collection::vec(0u32..5, n);
        let deps = proptest::collection::vec(
            proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
            n,
        );
        (tiers, deps).prop_map(|(tiers, deps)| {
            tiers
                .iter()
                .enumerate()
                .map(|(i, &tier)| {
                    let allowed: Vec<usize> = (0..i).filter(|&j| tiers[j] <= tier).collect();
                    let mut ds: Vec<usize> = if allowed.is_empty() {
                        Vec::new()
                    } else {
                        deps[i]
                            .iter()
                            .map(|ix| allowed[ix.index(allowed.len())])
                            .collect()
                    };
                    ds.sort_unstable();
                    ds.dedup();
                    (tier, ds)
                })
                .collect()
        })
    })
}

proptest! {
    #[test]
    fn plan_never_places_a_service_before_its_dependencies_or_a_lower_tier(
        graph in dag(),
        shuffle in any::<prop::sample::Index>(),
    ) {
        // File order is a rotation of the generation order, so dependencies may come later.
        let n = graph.len();
        let rot = shuffle.index(n);
        let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
        let specs: Vec<(String, u32, Vec<String>)> = (0..n)
            .map(|k| (k + rot) % n)
            .map(|i| (names[i].clone(), graph[i].0, graph[i].1.iter().map(|&d| names[d].clone()).collect()))
            .collect();
        let dep_refs: Vec<Vec<&str>> = specs.iter().map(|s| s.2.iter().map(String::as_str).collect()).collect();
        let rows: Vec<(&str, u32, &[&str])> = specs
            .iter()
            .zip(&dep_refs)
            .map(|(s, d)| (s.0.as_str(), s.1, d.as_slice()))
            .collect();
        let rb = runbook(&rows);
        let plan = Plan::build(&rb);
        let pos = plan.positions();

        prop_assert_eq!(plan.order().count(), n, "every service planned exactly once");
        let tiers: Vec<u32> = plan.tiers.iter().map(|t| t.tier).collect();
        prop_assert!(tiers.windows(2).all(|w| w[0] < w[1]), "tiers ascending: {:?}", tiers);
        for s in &rb.services {
            let (t, w) = pos[&s.id];
            prop_assert_eq!(plan.tiers[t].tier, s.tier);
            for d in &s.depends_on {
                let (dt, dw) = pos[d];
                prop_assert!((dt, dw) < (t, w), "{} at {:?} planned before its dependency {} at {:?}", s.id, (t, w), d, (dt, dw));
            }
        }
        // Waves are as early as they can be: a service past wave 1 waits for one in the wave before.
        for s in &rb.services {
            let (t, w) = pos[&s.id];
            if w > 0 {
                prop_assert!(s.depends_on.iter().any(|d| pos[d] == (t, w - 1)), "{} needlessly late", s.id);
            }
        }
    }
}
