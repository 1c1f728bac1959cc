//! The industry packs' training data (packs/data) loads and holds what packs/README.md says.

use std::collections::BTreeSet;
use switchboard_nlp::dataset::{load, Columns, Format};

#[test]
fn pack_data_loads_with_its_documented_intents() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../packs/data");
    for (file, rows, intents) in [
        ("banking77.csv", 10_003, 77),
        ("ecommerce-bitext.csv", 4_514, 27),
        ("healthcare.csv", 126, 9),
        ("legal.csv", 112, 8),
    ] {
        let lists = load(
            &std::path::Path::new(root).join(file),
            Format::Csv,
            &Columns::default(),
        )
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        let examples = &lists[0].1;
        let labels: BTreeSet<&str> = examples.iter().map(|e| e.label.as_str()).collect();
        assert_eq!((examples.len(), labels.len()), (rows, intents), "{file}");
    }
    let clinc = load(
        &std::path::Path::new(root).join("clinc150.json"),
        Format::Clinc,
        &Columns::default(),
    )
    .unwrap();
    let names: BTreeSet<&str> = clinc.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["oos_train", "oos_val", "train", "val"])
    );
    assert_eq!(clinc.iter().map(|(_, l)| l.len()).sum::<usize>(), 18_200);
}

/// The hand-written packs are small; this shows what they are worth: each intent's first ten
/// requests train, the other four are scored.
#[test]
fn the_hand_written_packs_recognise_requests_they_did_not_see() {
    use switchboard_nlp::intent::{IntentModel, TrainOptions};
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../packs/data");
    for file in ["healthcare.csv", "legal.csv"] {
        let lists = load(
            &std::path::Path::new(root).join(file),
            Format::Csv,
            &Columns::default(),
        )
        .unwrap();
        let (mut train, mut test) = (Vec::new(), Vec::new());
        let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
        for e in &lists[0].1 {
            let n = seen.entry(e.label.clone()).or_default();
            *n += 1;
            if *n <= 10 {
                train.push(e.clone());
            } else {
                test.push(e.clone());
            }
        }
        let model = IntentModel::train(&train, None, &TrainOptions::default()).unwrap();
        let right = test
            .iter()
            .filter(|e| model.predict(&e.text).label == e.label)
            .count();
        let accuracy = right as f64 / test.len() as f64;
        println!(
            "{file}: {right}/{} held-out requests ({accuracy:.2})",
            test.len()
        );
        assert!(accuracy >= 0.6, "{file}: {accuracy}");
    }
}
