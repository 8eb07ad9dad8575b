//! docs/operations.md lists every metric of `switchboard_core::metric::CATALOGUE`, with its
//! kind and labels, and no metric the code does not record.

use switchboard_core::metric::{CATALOGUE, Kind};

#[test]
fn operations_doc_lists_every_metric() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operations.md");
    let doc = std::fs::read_to_string(path).expect("docs/operations.md");
    let rows: Vec<&str> = doc
        .lines()
        .filter(|line| line.starts_with("| `switchboard_"))
        .collect();
    for metric in CATALOGUE {
        let row = rows
            .iter()
            .find(|row| row.starts_with(&format!("| `{}` |", metric.name)))
            .unwrap_or_else(|| panic!("docs/operations.md has no row for {}", metric.name));
        let kind = match metric.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        assert!(
            row.contains(&format!("| {kind} |")),
            "{}: kind {kind} not in `{row}`",
            metric.name
        );
        for label in metric.labels {
            assert!(
                row.contains(&format!("`{label}`")),
                "{}: label {label} not in `{row}`",
                metric.name
            );
        }
    }
    assert_eq!(
        rows.len(),
        CATALOGUE.len(),
        "docs/operations.md lists metrics the code does not record"
    );
}
