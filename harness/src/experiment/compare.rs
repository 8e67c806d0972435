//! Differential mode (`--compare embedded`): the same hypotheses on the
//! embedded engine and on a real cluster, and every observation where the
//! two disagree. Zero disagreements is the fidelity bar of the embedded
//! engine; each disagreement found is a test to write.

use serde::Serialize;

use super::runner::{ScenarioResult, Status};

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
    /// Runs not compared, with why (not applicable or errored on one side).
    pub skipped: Vec<String>,
    pub disagreements: Vec<Disagreement>,
}

impl Comparison {
    pub fn agrees(&self) -> bool {
        self.disagreements.is_empty()
    }
}

/// Compares `cluster` (run on `backend`) with `embedded`, run for run.
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
            for (cstep, estep) in cr.steps.iter().zip(&er.steps) {
                c.compared += 1;
                if cstep.observed != estep.observed {
                    c.disagreements.push(Disagreement {
                        scenario: cs.id.clone(),
                        engine: cr.engine.id().to_owned(),
                        vendor: cr.vendor.clone(),
                        step: cstep.label.clone(),
                        embedded: estep.observed.clone(),
                        cluster: cstep.observed.clone(),
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
                            step: "matrix".into(),
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
