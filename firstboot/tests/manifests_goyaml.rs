//! firstboot's YAML writer reproduces go-yaml v2.4.0's JSON→YAML output byte for byte
//! (vectors generated with the real Go library, see tests/fixtures/go-yaml-v2.4.0/README.md).

use std::path::PathBuf;

use firstboot::manifests::goyaml;

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/go-yaml-v2.4.0")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn matches_go_yaml_vectors() {
    let cases = fixture("cases.jsonl");
    let expected = fixture("expected.txt");
    let outputs: Vec<&str> = expected.split("#---\n").collect();
    let inputs: Vec<&str> = cases.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(outputs.len(), inputs.len() + 1, "one output per case");
    let mut failures = Vec::new();
    for (i, (input, want)) in inputs.iter().zip(&outputs).enumerate() {
        let v: serde_json::Value = serde_json::from_str(input).unwrap();
        let got = goyaml::to_string(&v);
        if got != *want {
            failures.push(format!(
                "case {} {input}\n--- go-yaml\n{want}--- firstboot\n{got}",
                i + 1
            ));
        }
    }
    if !failures.is_empty() {
        if let Ok(dir) = std::env::var("GOYAML_DIFF_DIR") {
            std::fs::write(format!("{dir}/failures.txt"), failures.join("\n")).unwrap();
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        inputs.len(),
        failures.join("\n")
    );
}
