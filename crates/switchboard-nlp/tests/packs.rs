//! The industry packs' training data (packs/data) loads and holds what packs/README.md says.

use std::collections::BTreeSet;
use switchboard_nlp::dataset::{load, Columns, Format};

#[test]
fn pack_data_loads_with_its_documented_intents() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../packs/data");
    for (file, rows, intents) in [
        ("banking77.csv", 10_003, 77),
        ("ecommerce-bitext.csv", 4_514, 27),
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
