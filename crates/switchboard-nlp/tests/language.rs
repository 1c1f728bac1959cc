//! How often short English customer messages are identified as English: every request of the
//! shipped BANKING77 and Bitext data (all English), against the detector.

use switchboard_nlp::dataset::{load, Columns, Format};
use switchboard_nlp::language::identify;

#[test]
fn short_english_requests_are_read_as_english() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../packs/data");
    for (file, floor) in [("banking77.csv", 0.97), ("ecommerce-bitext.csv", 0.84)] {
        let lists = load(
            &std::path::Path::new(root).join(file),
            Format::Csv,
            &Columns::default(),
        )
        .unwrap();
        let texts = &lists[0].1;
        let trigrams_alone = texts
            .iter()
            .filter(|e| {
                whatlang::detect(&e.text)
                    .is_some_and(|i| i.lang().code() == "eng" && i.confidence() >= 0.25)
            })
            .count();
        let mut eng = 0;
        let mut und = 0;
        let mut other = std::collections::BTreeMap::<&str, usize>::new();
        for e in texts {
            match identify(&e.text).code {
                "eng" => eng += 1,
                "und" => und += 1,
                code => *other.entry(code).or_default() += 1,
            }
        }
        let share = eng as f64 / texts.len() as f64;
        let mut wrong: Vec<_> = other.into_iter().collect();
        wrong.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        wrong.truncate(5);
        println!(
            "{file}: eng {eng}/{} ({share:.3}), und {und}, other languages (top 5) {wrong:?}; whatlang alone: eng {trigrams_alone} ({:.3})",
            texts.len(),
            trigrams_alone as f64 / texts.len() as f64
        );
        assert!(share >= floor, "{file}: {share}");
    }
}
