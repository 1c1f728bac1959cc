//! Precision and recall of the personal-data detectors per kind, on a small hand-labelled corpus
//! (`tests/data/pii_corpus.jsonl`: synthetic and published test values, with hard negatives
//! such as order numbers, versions, times and prices). The figures are printed (`--nocapture`)
//! and recorded in BENCHMARKS.md; the assertions guard against regressions.

use std::collections::BTreeMap;
use switchboard_nlp::pii::detect;

#[derive(Default, Debug)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

#[test]
fn detectors_meet_their_precision_and_recall_on_the_labelled_corpus() {
    let raw = include_str!("data/pii_corpus.jsonl");
    let mut per_kind: BTreeMap<String, Counts> = BTreeMap::new();
    for (i, line) in raw.lines().enumerate() {
        let row: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
        let text = row["text"].as_str().unwrap();
        let mut gold: Vec<(String, String)> = row["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s[0].as_str().unwrap().to_owned(),
                    s[1].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        for f in detect(text) {
            let kind = serde_json::to_value(f.kind)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned();
            let value = text[f.start..f.end].to_owned();
            let entry = per_kind.entry(kind.clone()).or_default();
            if let Some(pos) = gold.iter().position(|g| g.0 == kind && g.1 == value) {
                gold.remove(pos);
                entry.tp += 1;
            } else {
                eprintln!("false positive on line {}: {kind} {value:?}", i + 1);
                entry.fp += 1;
            }
        }
        for (kind, value) in gold {
            eprintln!("missed on line {}: {kind} {value:?}", i + 1);
            per_kind.entry(kind).or_default().fn_ += 1;
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let mut total = Counts::default();
    eprintln!("kind | precision | recall | found / labelled");
    for (kind, c) in &per_kind {
        eprintln!(
            "{kind} | {:.2} | {:.2} | {} / {}",
            ratio(c.tp, c.tp + c.fp),
            ratio(c.tp, c.tp + c.fn_),
            c.tp,
            c.tp + c.fn_
        );
        total.tp += c.tp;
        total.fp += c.fp;
        total.fn_ += c.fn_;
    }
    let (precision, recall) = (
        ratio(total.tp, total.tp + total.fp),
        ratio(total.tp, total.tp + total.fn_),
    );
    eprintln!(
        "all | {precision:.2} | {recall:.2} | {} / {}",
        total.tp,
        total.tp + total.fn_
    );
    assert!(precision >= 0.95, "precision {precision}");
    assert!(recall >= 0.9, "recall {recall}");
    assert!(per_kind.len() >= 9, "every kind is in the corpus");
}
