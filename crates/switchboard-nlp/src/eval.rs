//! Evaluation figures: accuracy, macro-F1 and per-class precision/recall/F1; with out-of-scope
//! examples also in-scope accuracy and out-of-scope recall.

use crate::dataset::{Example, OOS};
use crate::intent::IntentModel;
use serde::Serialize;
use std::collections::BTreeMap;

/// Per-class figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassReport {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// What `switchboard model eval` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    pub n: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_scope_accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oos_recall: Option<f64>,
    pub per_class: BTreeMap<String, ClassReport>,
}

/// Evaluates `model` on `examples` (gold label `oos` means out of scope).
pub fn evaluate(model: &IntentModel, examples: &[Example]) -> Result<EvalReport, crate::NlpError> {
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let predictions = model.predict_many(&texts)?;
    let mut tp: BTreeMap<&str, usize> = BTreeMap::new();
    let mut predicted: BTreeMap<String, usize> = BTreeMap::new();
    let mut support: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut correct, mut in_scope, mut in_scope_ok, mut oos, mut oos_ok) = (0, 0, 0, 0, 0);
    for (e, p) in examples.iter().zip(predictions) {
        *support.entry(e.label.as_str()).or_default() += 1;
        *predicted.entry(p.label.clone()).or_default() += 1;
        let ok = p.label == e.label;
        if ok {
            correct += 1;
            *tp.entry(e.label.as_str()).or_default() += 1;
        }
        if e.label == OOS {
            oos += 1;
            oos_ok += usize::from(ok);
        } else {
            in_scope += 1;
            in_scope_ok += usize::from(ok);
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let per_class: BTreeMap<String, ClassReport> = support
        .iter()
        .map(|(label, &n)| {
            let t = tp.get(label).copied().unwrap_or(0);
            let precision = ratio(t, predicted.get(*label).copied().unwrap_or(0));
            let recall = ratio(t, n);
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            (
                (*label).to_owned(),
                ClassReport {
                    precision,
                    recall,
                    f1,
                    support: n,
                },
            )
        })
        .collect();
    let macro_f1 = if per_class.is_empty() {
        0.0
    } else {
        per_class.values().map(|c| c.f1).sum::<f64>() / per_class.len() as f64
    };
    Ok(EvalReport {
        n: examples.len(),
        accuracy: ratio(correct, examples.len()),
        macro_f1,
        in_scope_accuracy: (oos > 0).then(|| ratio(in_scope_ok, in_scope)),
        oos_recall: (oos > 0).then(|| ratio(oos_ok, oos)),
        per_class,
    })
}
