//! Differential mode (`--compare embedded`): the same hypotheses on the
//! embedded engine and on a real cluster, and every observation where the
//! two disagree. Zero disagreements is the fidelity bar of the embedded
//! engine; each disagreement found is a test to write.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::runner::{Observation, ScenarioResult, Status, StepOutcome};

/// One step (or matrix cell) observed differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Disagreement {
    pub scenario: String,
    pub engine: String,
    /// The vendor (`policy→signer` for a matrix cell).
    pub vendor: String,
    pub step: String,
    pub embedded: String,
    pub cluster: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// The backend compared with the embedded engine.
    pub backend: String,
    /// Observations compared (steps and matrix cells).
    pub compared: usize,
    /// Of those, admission decisions (what `trustswap fidelity` counts as
    /// cases; a step that creates an exception is compared, not a case).
    #[serde(skip)]
    pub decisions: usize,
    /// Runs not compared, with why (not applicable or errored on one side).
    pub skipped: Vec<String>,
    /// Disagreements not in the known list: findings.
    pub disagreements: Vec<Disagreement>,
    /// Disagreements the known list explains (with real Kyverno's source line).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub known: Vec<Known>,
    /// Listed but not seen: fixed, so the entry must go (the list only shrinks).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale: Vec<Known>,
    /// Disagreements seen once that did not reproduce when their case ran
    /// again on the cluster (or seen only in that second run): real Kyverno
    /// decided the same inputs both ways. Reported, never hidden; they do not
    /// count against agreement.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unconfirmed: Vec<Disagreement>,
}

/// One (scenario, engine, vendor) run, or a matrix of one engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub scenario: String,
    pub engine: String,
    /// The vendor; for a matrix, empty (every vendor runs again).
    pub vendor: String,
}

impl Case {
    fn of(d: &Disagreement) -> Case {
        Case {
            scenario: d.scenario.clone(),
            engine: d.engine.clone(),
            vendor: if d.step == MATRIX_STEP {
                String::new()
            } else {
                d.vendor.clone()
            },
        }
    }
}

const MATRIX_STEP: &str = "matrix";

impl Comparison {
    /// No unexplained disagreement and no stale entry in the known list.
    pub fn agrees(&self) -> bool {
        self.disagreements.is_empty() && self.stale.is_empty()
    }

    /// The cases of the unexplained disagreements, each once, in order.
    pub fn cases_to_confirm(&self) -> Vec<Case> {
        let mut cases: Vec<Case> = Vec::new();
        for d in &self.disagreements {
            let c = Case::of(d);
            if !cases.contains(&c) {
                cases.push(c);
            }
        }
        cases
    }

    /// `rerun`: the comparison of `case` run again. The case's disagreements
    /// seen again stay; the others, and any seen only in the rerun, move to
    /// `unconfirmed`.
    pub fn confirm(&mut self, case: &Case, rerun: &Comparison) {
        let (mine, others): (Vec<_>, Vec<_>) = self
            .disagreements
            .drain(..)
            .partition(|d| Case::of(d) == *case);
        self.disagreements = others;
        for d in mine {
            if rerun.disagreements.contains(&d) {
                self.disagreements.push(d);
            } else {
                self.unconfirmed.push(d);
            }
        }
        for d in &rerun.disagreements {
            if Case::of(d) == *case
                && !self.disagreements.contains(d)
                && !self.unconfirmed.contains(d)
            {
                self.unconfirmed.push(d.clone());
            }
        }
    }

    /// Moves each disagreement the list explains to `known`, and records the
    /// list's entries that no disagreement matched as `stale`.
    pub fn apply_known(&mut self, list: &[Known]) {
        let mut used = vec![false; list.len()];
        let mut rest = Vec::new();
        for d in self.disagreements.drain(..) {
            match list.iter().position(|k| k.matches(&d)) {
                Some(i) => {
                    used[i] = true;
                    self.known.push(list[i].clone());
                }
                None => rest.push(d),
            }
        }
        self.disagreements = rest;
        self.stale = list
            .iter()
            .zip(used)
            .filter(|(_, u)| !u)
            .map(|(k, _)| k.clone())
            .collect();
    }
}

/// A disagreement explained by real Kyverno's source: real Kyverno is the
/// judge, so the entry says where it decides as it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Known {
    pub scenario: String,
    pub engine: String,
    pub vendor: String,
    pub step: String,
    pub embedded: String,
    pub kyverno: String,
    /// `path/to/file.go:LINE` in Kyverno 1.19.
    pub source: String,
    pub why: String,
}

impl Known {
    fn matches(&self, d: &Disagreement) -> bool {
        self.scenario == d.scenario
            && self.engine == d.engine
            && self.vendor == d.vendor
            && self.step == d.step
            && self.embedded == d.embedded
            && self.kyverno == d.cluster
    }
}

/// Read a known-disagreements file (a YAML list of [`Known`]).
pub fn load_known(path: &Path) -> crate::error::Result<Vec<Known>> {
    let list: Vec<Known> = crate::yaml::parse_file(path)?;
    for (i, k) in list.iter().enumerate() {
        let (file, line) = k.source.rsplit_once(':').unwrap_or((&k.source, ""));
        if !file.ends_with(".go") || line.parse::<u32>().is_err() {
            return Err(crate::error::Error::invalid(
                path,
                None,
                format!("[{i}].source"),
                format!("`{}` is not a Kyverno source line", k.source),
                "give the Go file and line in Kyverno 1.19 that decides it, e.g. pkg/imageverifycache/client.go:42",
            ));
        }
    }
    Ok(list)
}

/// Compares `cluster` (run on `backend`) with `embedded`, run for run.
/// Whether the cluster's step and the embedded engine's observed the same.
/// A decision whose policy reports the cluster did not read (no `reported`
/// expectation: reading them means running the pod and waiting for the
/// reports controller) is compared on the decision alone.
fn same(cluster: &StepOutcome, embedded: &StepOutcome) -> bool {
    let reports_unread = cluster
        .evidence
        .as_ref()
        .is_some_and(|e| e["reportsRead"] == false);
    match (&cluster.observed, &embedded.observed) {
        (Observation::Decision { outcome: a, .. }, Observation::Decision { outcome: b, .. })
            if reports_unread =>
        {
            a == b
        }
        (a, b) => a == b,
    }
}

pub fn compare(
    backend: &str,
    embedded: &[ScenarioResult],
    cluster: &[ScenarioResult],
) -> Comparison {
    let mut c = Comparison {
        backend: backend.to_owned(),
        ..Comparison::default()
    };
    for cs in cluster {
        let Some(es) = embedded.iter().find(|e| e.id == cs.id) else {
            c.skipped
                .push(format!("{}: not run on the embedded engine", cs.id));
            continue;
        };
        for cr in &cs.runs {
            let Some(er) = es
                .runs
                .iter()
                .find(|r| r.engine == cr.engine && r.vendor == cr.vendor)
            else {
                c.skipped.push(format!(
                    "{}/{}/{}: not run on the embedded engine",
                    cs.id, cr.engine, cr.vendor
                ));
                continue;
            };
            let skip = [Status::NotApplicable, Status::Errored];
            if skip.contains(&cr.status) || skip.contains(&er.status) {
                if cr.status != er.status || cr.status == Status::Errored {
                    c.skipped.push(format!(
                        "{}/{}/{}: {} on {backend}, {} embedded",
                        cs.id,
                        cr.engine,
                        cr.vendor,
                        cr.status.id(),
                        er.status.id()
                    ));
                }
                continue;
            }
            if cr.steps.len() != er.steps.len() {
                c.skipped.push(format!(
                    "{}/{}/{}: {} steps on {backend}, {} embedded; the steps both ran are compared",
                    cs.id,
                    cr.engine,
                    cr.vendor,
                    cr.steps.len(),
                    er.steps.len()
                ));
            }
            for (cstep, estep) in cr.steps.iter().zip(&er.steps) {
                // An UPDATE of a pod one side created and the other denied:
                // the create's disagreement is the finding, not this one.
                let not_created = |o: &Observation| matches!(o, Observation::Quiet(w) if *w == super::runner::NOT_CREATED);
                if not_created(&cstep.observed) != not_created(&estep.observed) {
                    c.skipped.push(format!(
                        "{}/{}/{}/{}: the pod it updates was created on one side only",
                        cs.id, cr.engine, cr.vendor, cstep.label
                    ));
                    continue;
                }
                c.compared += 1;
                if matches!(cstep.observed, Observation::Decision { .. }) {
                    c.decisions += 1;
                }
                if !same(cstep, estep) {
                    c.disagreements.push(Disagreement {
                        scenario: cs.id.clone(),
                        engine: cr.engine.id().to_owned(),
                        vendor: cr.vendor.clone(),
                        step: cstep.label.clone(),
                        embedded: estep.observed.word(),
                        cluster: cstep.observed.word(),
                    });
                }
            }
        }
        for cm in &cs.matrices {
            let Some(em) = es.matrices.iter().find(|m| m.engine == cm.engine) else {
                continue;
            };
            for (i, policy) in cm.vendors.iter().enumerate() {
                for (j, signer) in cm.vendors.iter().enumerate() {
                    let (Some(a), Some(b)) = (
                        cm.admitted.get(i).and_then(|r| r.get(j)),
                        em.vendors
                            .iter()
                            .position(|v| v == policy)
                            .zip(em.vendors.iter().position(|v| v == signer))
                            .and_then(|(x, y)| em.admitted.get(x).and_then(|r| r.get(y))),
                    ) else {
                        continue;
                    };
                    c.compared += 1;
                    if a != b {
                        let word = |x: bool| if x { "admitted" } else { "denied" };
                        c.disagreements.push(Disagreement {
                            scenario: cs.id.clone(),
                            engine: cm.engine.id().to_owned(),
                            vendor: format!("{policy}→{signer}"),
                            step: MATRIX_STEP.into(),
                            embedded: word(*b).into(),
                            cluster: word(*a).into(),
                        });
                    }
                }
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(step: &str) -> Disagreement {
        Disagreement {
            scenario: "tag-repush".into(),
            engine: "ivpol".into(),
            vendor: "chainguard".into(),
            step: step.into(),
            embedded: "denied".into(),
            cluster: "admitted".into(),
        }
    }

    fn k(step: &str) -> Known {
        Known {
            scenario: "tag-repush".into(),
            engine: "ivpol".into(),
            vendor: "chainguard".into(),
            step: step.into(),
            embedded: "denied".into(),
            kyverno: "admitted".into(),
            source: "pkg/imageverifycache/client.go:1".into(),
            why: "cached verdict".into(),
        }
    }

    #[test]
    fn listed_disagreements_are_explained_new_ones_fail_and_fixed_ones_must_go() {
        let mut c = Comparison {
            disagreements: vec![d("after re-push")],
            ..Comparison::default()
        };
        c.apply_known(&[k("after re-push")]);
        assert!(c.agrees());
        assert_eq!(c.known.len(), 1);

        let mut c = Comparison {
            disagreements: vec![d("after re-push"), d("other")],
            ..Comparison::default()
        };
        c.apply_known(&[k("after re-push")]);
        assert!(!c.agrees());
        assert_eq!(c.disagreements, vec![d("other")]);

        let mut c = Comparison::default();
        c.apply_known(&[k("after re-push")]);
        assert!(!c.agrees(), "a listed disagreement no longer seen is stale");
        assert_eq!(c.stale.len(), 1);
    }

    fn step(
        outcome: crate::experiment::scenario::Outcome,
        reported: bool,
        read: bool,
    ) -> StepOutcome {
        StepOutcome {
            label: "request 0".into(),
            expected: None,
            observed: Observation::Decision { outcome, reported },
            ok: None,
            detail: None,
            evidence: Some(if read {
                serde_json::json!({})
            } else {
                serde_json::json!({ "reportsRead": false })
            }),
        }
    }

    #[test]
    fn an_update_of_a_pod_created_on_one_side_only_is_skipped_not_a_second_finding() {
        use crate::experiment::runner::{NOT_CREATED, RunResult, ScenarioResult, Status};
        use crate::experiment::scenario::Outcome::{Admitted, Denied};
        let result = |create: crate::experiment::scenario::Outcome, update: Observation| {
            let mut created = step(create, false, true);
            created.label = "create u0".into();
            let mut updated = step(Admitted, false, true);
            updated.label = "update u0".into();
            updated.observed = update;
            ScenarioResult {
                id: "gen-1-0000".into(),
                title: String::new(),
                layer: crate::experiment::scenario::Layer::Trust,
                hypothesis: String::new(),
                status: Status::Held,
                identical_across_vendors: false,
                substitution: Default::default(),
                runs: vec![RunResult {
                    engine: crate::policy::Engine::Cpol,
                    vendor: "chainguard".into(),
                    status: Status::Held,
                    reason: None,
                    steps: vec![created, updated],
                    observations: Vec::new(),
                }],
                matrices: Vec::new(),
                reason: None,
            }
        };
        let cluster = result(
            Admitted,
            Observation::Decision {
                outcome: Denied,
                reported: false,
            },
        );
        let embedded = result(Denied, Observation::Quiet(NOT_CREATED));
        let c = compare("local", &[embedded], &[cluster]);
        assert_eq!(c.disagreements.len(), 1, "{c:#?}");
        assert_eq!(c.disagreements[0].step, "create u0");
        assert_eq!(c.compared, 1);
        assert_eq!(
            c.skipped,
            [
                "gen-1-0000/cpol/chainguard/update u0: the pod it updates was created on one side only"
            ]
        );
    }

    #[test]
    fn a_report_the_cluster_did_not_read_is_not_compared_but_the_decision_is() {
        use crate::experiment::scenario::Outcome::{Admitted, Denied};
        // The embedded engine reports an Audit finding; the cluster's reports
        // controller was not asked.
        assert!(same(
            &step(Admitted, false, false),
            &step(Admitted, true, true)
        ));
        assert!(!same(
            &step(Admitted, false, true),
            &step(Admitted, true, true)
        ));
        assert!(!same(
            &step(Denied, false, false),
            &step(Admitted, true, true)
        ));
    }

    #[test]
    fn a_disagreement_must_reproduce_to_count() {
        let mut c = Comparison {
            disagreements: vec![d("signed"), d("unsigned")],
            ..Comparison::default()
        };
        let cases = c.cases_to_confirm();
        assert_eq!(cases.len(), 1, "one case for both steps");
        // The rerun repeats one step's disagreement and shows a new one.
        let rerun = Comparison {
            disagreements: vec![d("unsigned"), d("audit")],
            ..Comparison::default()
        };
        c.confirm(&cases[0], &rerun);
        assert_eq!(c.disagreements, vec![d("unsigned")]);
        assert_eq!(c.unconfirmed, vec![d("signed"), d("audit")]);
        assert!(!c.agrees());
        // A rerun that agrees leaves nothing to fail on, and says so.
        let mut c = Comparison {
            disagreements: vec![d("signed")],
            ..Comparison::default()
        };
        c.confirm(&c.cases_to_confirm()[0], &Comparison::default());
        assert!(c.agrees());
        assert_eq!(c.unconfirmed, vec![d("signed")]);
    }

    #[test]
    fn an_entry_without_a_kyverno_source_line_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("known.yaml");
        std::fs::write(
            &p,
            "- {scenario: a, engine: ivpol, vendor: dhi, step: s, embedded: denied, kyverno: admitted, source: somewhere, why: x}\n",
        )
        .unwrap();
        let err = load_known(&p).unwrap_err();
        assert_eq!(err.exit_code(), crate::exit::USAGE);
        assert!(err.to_string().contains("[0].source"), "{err}");
        std::fs::write(&p, "[]\n").unwrap();
        assert!(load_known(&p).unwrap().is_empty());
    }
}
