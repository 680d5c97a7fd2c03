//! Hand-checked modifier and condition cases: each rule over a small table whose matching
//! rows were worked out by hand from the Sigma specification.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use vigil::sigma::SigmaRules;

/// Rows of `cols` that the rule with this `detection` block matches.
fn rows(detection: &str, cols: &[(&str, Vec<Option<&str>>)]) -> Vec<usize> {
    let yaml = format!(
        "title: test\nid: t-1\nlevel: high\nlogsource:\n    category: test\ndetection:\n{}\n",
        detection
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let rules = SigmaRules::from_yaml(&yaml).expect("yaml");
    assert!(rules.report().is_empty(), "{:?}", rules.report());
    let fields: Vec<Field> = cols
        .iter()
        .map(|(n, _)| Field::new(*n, DataType::Utf8, true))
        .collect();
    let arrays: Vec<ArrayRef> = cols
        .iter()
        .map(|(_, v)| Arc::new(StringArray::from(v.clone())) as ArrayRef)
        .collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("batch");
    rules
        .match_pairs(&batch)
        .into_iter()
        .map(|(r, _)| r)
        .collect()
}

fn reason(detection: &str) -> String {
    let yaml = format!(
        "title: bad\nid: b-1\nlogsource:\n    category: test\ndetection:\n{}\n",
        detection
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let rules = SigmaRules::from_yaml(&yaml).expect("yaml");
    rules
        .report()
        .first()
        .map(|i| i.reason.kind.to_string())
        .unwrap_or_default()
}

fn c(v: &[Option<&'static str>]) -> Vec<Option<&'static str>> {
    v.to_vec()
}

const CMD: [Option<&str>; 6] = [
    Some(r"C:\Windows\System32\cmd.exe /c whoami"),
    Some(r"c:\windows\system32\CMD.EXE"),
    Some("powershell -enc SQBFAFgA"),
    None,
    Some(""),
    Some("net user /add bob"),
];

#[test]
fn exact_is_case_insensitive_and_cased_is_not() {
    let cols = [("Image", c(&CMD))];
    assert_eq!(
        rows(
            "sel:\n    Image: 'c:\\windows\\system32\\cmd.exe'\ncondition: sel",
            &cols
        ),
        vec![1]
    );
    assert_eq!(
        rows(
            "sel:\n    Image|cased: 'c:\\windows\\system32\\CMD.EXE'\ncondition: sel",
            &cols
        ),
        vec![1]
    );
    assert_eq!(
        rows(
            "sel:\n    Image|cased: 'C:\\windows\\system32\\CMD.EXE'\ncondition: sel",
            &cols
        ),
        Vec::<usize>::new()
    );
}

#[test]
fn contains_startswith_endswith_all() {
    let cols = [("CommandLine", c(&CMD))];
    assert_eq!(
        rows(
            "sel:\n    CommandLine|contains: 'SYSTEM32'\ncondition: sel",
            &cols
        ),
        vec![0, 1]
    );
    assert_eq!(
        rows(
            "sel:\n    CommandLine|startswith: 'powershell'\ncondition: sel",
            &cols
        ),
        vec![2]
    );
    assert_eq!(
        rows(
            "sel:\n    CommandLine|endswith: '.exe'\ncondition: sel",
            &cols
        ),
        vec![1]
    );
    assert_eq!(
        rows(
            "sel:\n    CommandLine|contains|all:\n        - cmd\n        - whoami\ncondition: sel",
            &cols
        ),
        vec![0]
    );
    assert_eq!(
        rows(
            "sel:\n    CommandLine|contains:\n        - whoami\n        - enc\ncondition: sel",
            &cols
        ),
        vec![0, 2]
    );
}

#[test]
fn wildcards_and_escapes() {
    let cols = [(
        "v",
        c(&[
            Some("a*b"),
            Some("axxb"),
            Some("ab"),
            Some("a?b"),
            Some(r"a\b"),
        ]),
    )];
    assert_eq!(
        rows("sel:\n    v: 'a*b'\ncondition: sel", &cols),
        vec![0, 1, 2, 3, 4]
    );
    assert_eq!(
        rows("sel:\n    v: 'a?b'\ncondition: sel", &cols),
        vec![0, 3, 4]
    );
    assert_eq!(rows("sel:\n    v: 'a\\*b'\ncondition: sel", &cols), vec![0]);
    assert_eq!(rows("sel:\n    v: 'a\\?b'\ncondition: sel", &cols), vec![3]);
    // `\\` is one backslash (pySigma); a backslash before a plain character is itself.
    assert_eq!(
        rows("sel:\n    v: 'a\\\\b'\ncondition: sel", &cols),
        vec![4]
    );
    assert_eq!(rows("sel:\n    v: 'a\\b'\ncondition: sel", &cols), vec![4]);
}

#[test]
fn null_exists_and_empty() {
    let cols = [("CommandLine", c(&CMD))];
    assert_eq!(
        rows("sel:\n    CommandLine: null\ncondition: sel", &cols),
        vec![3]
    );
    assert_eq!(
        rows("sel:\n    CommandLine: ''\ncondition: sel", &cols),
        vec![4]
    );
    assert_eq!(
        rows("sel:\n    CommandLine|exists: true\ncondition: sel", &cols),
        vec![0, 1, 2, 4, 5]
    );
    // A missing field: never matches a value, `null` and `exists: false` match it.
    assert_eq!(
        rows("sel:\n    Missing: 'x'\ncondition: sel", &cols),
        Vec::<usize>::new()
    );
    assert_eq!(
        rows("sel:\n    Missing: null\ncondition: sel", &cols),
        vec![0, 1, 2, 3, 4, 5]
    );
    assert_eq!(
        rows("sel:\n    Missing|exists: false\ncondition: sel", &cols),
        vec![0, 1, 2, 3, 4, 5]
    );
    assert_eq!(
        rows(
            "sel:\n    CommandLine|contains: 'whoami'\ncondition: not sel",
            &cols
        ),
        vec![1, 2, 3, 4, 5]
    );
}

#[test]
fn regex_with_flags() {
    let cols = [(
        "v",
        c(&[Some("Hello World"), Some("hello\nworld"), Some("xyz")]),
    )];
    assert_eq!(
        rows("sel:\n    v|re: '^hello'\ncondition: sel", &cols),
        vec![1]
    );
    assert_eq!(
        rows("sel:\n    v|re|i: '^hello'\ncondition: sel", &cols),
        vec![0, 1]
    );
    assert_eq!(
        rows("sel:\n    v|re|m: '^world'\ncondition: sel", &cols),
        vec![1]
    );
    assert_eq!(
        rows("sel:\n    v|re|s: 'hello.world'\ncondition: sel", &cols),
        vec![1]
    );
    assert_eq!(
        rows("sel:\n    v|re|i|s: 'hello.world'\ncondition: sel", &cols),
        vec![0, 1]
    );
}

#[test]
fn cidr_v4_and_v6() {
    let cols = [(
        "ip",
        c(&[
            Some("10.1.2.3"),
            Some("10.2.0.1"),
            Some("fe80::1"),
            Some("2001:db8::5"),
            Some("not an ip"),
        ]),
    )];
    assert_eq!(
        rows("sel:\n    ip|cidr: '10.1.0.0/16'\ncondition: sel", &cols),
        vec![0]
    );
    assert_eq!(
        rows("sel:\n    ip|cidr: '10.0.0.0/8'\ncondition: sel", &cols),
        vec![0, 1]
    );
    assert_eq!(
        rows("sel:\n    ip|cidr: 'fe80::/10'\ncondition: sel", &cols),
        vec![2]
    );
    assert_eq!(
        rows(
            "sel:\n    ip|cidr:\n        - '2001:db8::/32'\n        - '10.2.0.0/24'\ncondition: sel",
            &cols
        ),
        vec![1, 3]
    );
}

#[test]
fn base64_base64offset_utf16() {
    // Python: base64.b64encode(b"whoami") = d2hvYW1p; "whoami".encode("utf-16le") -> base64 dwBoAG8AYQBtAGkA
    let cols = [(
        "v",
        c(&[
            Some("x d2hvYW1p y"),
            Some("dwBoAG8AYQBtAGkA"),
            Some("D2HVYW1P"),
            Some("zzd2hvYW1"),
        ]),
    )];
    // base64 strings are compared case-insensitively like every other value (as rsigma).
    assert_eq!(
        rows(
            "sel:\n    v|base64|contains: 'whoami'\ncondition: sel",
            &cols
        ),
        vec![0, 2]
    );
    assert_eq!(
        rows(
            "sel:\n    v|wide|base64|contains: 'whoami'\ncondition: sel",
            &cols
        ),
        vec![1]
    );
    assert_eq!(
        rows(
            "sel:\n    v|utf16le|base64|contains: 'whoami'\ncondition: sel",
            &cols
        ),
        vec![1]
    );
    // base64offset of "whoami" (pySigma's formula in Python): d2hvYW1p, dob2Fta, 3aG9hbW;
    // row 3 holds a truncated d2hvYW1, so only rows 0 and 2 contain one of the three.
    assert_eq!(
        rows(
            "sel:\n    v|base64offset|contains: 'whoami'\ncondition: sel",
            &cols
        ),
        vec![0, 2]
    );
    // utf16be / utf16 (with BOM) differ from utf16le.
    let be = [(
        "v",
        c(&[Some("AHcAaABvAGEAbQBp"), Some("//53AGgAbwBhAG0AaQA=")]),
    )];
    assert_eq!(
        rows("sel:\n    v|utf16be|base64: 'whoami'\ncondition: sel", &be),
        vec![0]
    );
    assert_eq!(
        rows("sel:\n    v|utf16|base64: 'whoami'\ncondition: sel", &be),
        vec![1]
    );
}

#[test]
fn windash_expands_dashes() {
    let cols = [(
        "v",
        c(&[
            Some("net user /add"),
            Some("net user -add"),
            Some("net user \u{2013}add"),
            Some("net user add"),
        ]),
    )];
    assert_eq!(
        rows(
            "sel:\n    v|windash|contains: ' -add'\ncondition: sel",
            &cols
        ),
        vec![0, 1, 2]
    );
}

#[test]
fn numeric_comparisons() {
    let cols = [(
        "n",
        c(&[Some("5"), Some("10"), Some("10.5"), Some("x"), None]),
    )];
    assert_eq!(rows("sel:\n    n|gt: 5\ncondition: sel", &cols), vec![1, 2]);
    assert_eq!(
        rows("sel:\n    n|gte: 10\ncondition: sel", &cols),
        vec![1, 2]
    );
    assert_eq!(rows("sel:\n    n|lt: 10\ncondition: sel", &cols), vec![0]);
    assert_eq!(
        rows("sel:\n    n|lte: 10\ncondition: sel", &cols),
        vec![0, 1]
    );
}

#[test]
fn fieldref_compares_fields() {
    let cols = [
        ("a", c(&[Some("x.exe"), Some("Y.EXE"), Some("z"), None])),
        (
            "b",
            c(&[Some("x.exe"), Some("y.exe"), Some("q"), Some("w")]),
        ),
    ];
    assert_eq!(
        rows("sel:\n    a|fieldref: b\ncondition: sel", &cols),
        vec![0, 1]
    );
    assert_eq!(
        rows("sel:\n    a|fieldref|cased: b\ncondition: sel", &cols),
        vec![0]
    );
}

#[test]
fn expand_needs_placeholders() {
    assert_eq!(
        reason("sel:\n    v|expand: '%admins%'\ncondition: sel"),
        "placeholder"
    );
    let mut opts = vigil::sigma::LoadOptions::default();
    opts.placeholders
        .insert("admins".into(), vec!["alice".into(), "bob".into()]);
    let rules = SigmaRules::from_sources(
        vec![("x".into(), "title: t\nlogsource: {category: test}\ndetection:\n  sel:\n    v|expand: 'user %admins%'\n  condition: sel\n".into())],
        opts,
    )
    .expect("load");
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("v", DataType::Utf8, true)])),
        vec![Arc::new(StringArray::from(vec![
            "user bob",
            "user eve",
            "user alice",
        ]))],
    )
    .expect("batch");
    let r: Vec<usize> = rules
        .match_pairs(&batch)
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    assert_eq!(r, vec![0, 2]);
}

#[test]
fn keywords_search_every_string_column() {
    let cols = [
        ("a", c(&[Some("alpha"), Some("beta"), None])),
        ("b", c(&[Some("x"), Some("y"), Some("Mimikatz here")])),
    ];
    assert_eq!(
        rows(
            "keywords:\n    - mimikatz\n    - ALPHA\ncondition: keywords",
            &cols
        ),
        vec![0, 2]
    );
}

#[test]
fn conditions_of_and_them() {
    let cols = [
        ("a", c(&[Some("1"), Some("1"), Some("0"), Some("0")])),
        ("b", c(&[Some("1"), Some("0"), Some("1"), Some("0")])),
    ];
    let d = "sel_a:\n    a: '1'\nsel_b:\n    b: '1'\n";
    assert_eq!(
        rows(&format!("{d}condition: 1 of sel_*"), &cols),
        vec![0, 1, 2]
    );
    assert_eq!(rows(&format!("{d}condition: all of sel_*"), &cols), vec![0]);
    assert_eq!(
        rows(&format!("{d}condition: 1 of them"), &cols),
        vec![0, 1, 2]
    );
    assert_eq!(rows(&format!("{d}condition: all of them"), &cols), vec![0]);
    assert_eq!(
        rows(&format!("{d}condition: sel_a and not sel_b"), &cols),
        vec![1]
    );
    assert_eq!(
        rows(&format!("{d}condition: not (sel_a or sel_b)"), &cols),
        vec![3]
    );
    // A list of maps is an OR of the maps.
    assert_eq!(
        rows(
            "sel:\n    - a: '1'\n      b: '0'\n    - b: '1'\n      a: '0'\ncondition: sel",
            &cols
        ),
        vec![1, 2]
    );
}

#[test]
fn numbers_match_integer_columns() {
    let yaml = "title: t\nlogsource: {category: test}\ndetection:\n  sel:\n    EventID: 4688\n  condition: sel\n";
    let rules = SigmaRules::from_yaml(yaml).expect("load");
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "EventID",
            DataType::Int64,
            true,
        )])),
        vec![Arc::new(Int64Array::from(vec![Some(4688), Some(1), None]))],
    )
    .expect("batch");
    assert_eq!(rules.match_pairs(&batch), vec![(0, 0)]);
}

#[test]
fn hostile_rules_are_reported_not_panics() {
    // Deep nesting, a huge list, a catastrophic-looking regex, a bad condition, bad YAML.
    let deep = format!(
        "sel:\n    v: {}x{}\ncondition: sel",
        "[".repeat(2000),
        "]".repeat(2000)
    );
    assert!(!reason(&deep).is_empty());
    let huge: String = (0..30_000).map(|i| format!("        - v{i}\n")).collect();
    assert_eq!(
        reason(&format!("sel:\n    v:\n{huge}condition: sel")),
        "limit"
    );
    assert_eq!(
        reason("sel:\n    v|re: '(a{1000}){1000}'\ncondition: sel"),
        "regex"
    );
    assert_eq!(reason("sel:\n    v|re: '(a'\ncondition: sel"), "regex");
    assert_eq!(reason("sel:\n    v: x\ncondition: sel and ("), "condition");
    assert_eq!(reason("sel:\n    v|nosuch: x\ncondition: sel"), "modifier");
    let nested_cond = format!(
        "sel:\n    v: x\ncondition: {}sel{}",
        "(".repeat(1000),
        ")".repeat(1000)
    );
    assert_eq!(reason(&nested_cond), "condition");
    // Evaluating a pathological regex (linear time in the regex crate) stays quick.
    let long = "a".repeat(100_000);
    let cols = [("v", vec![Some(long.as_str())])];
    assert_eq!(
        rows("sel:\n    v|re: '(a+)+$'\ncondition: sel", &cols),
        vec![0]
    );
    let rules = SigmaRules::from_yaml("title: [unclosed\n").expect("whole load never fails");
    assert_eq!(rules.report().len(), 1);
    assert_eq!(rules.report().first().map(|i| i.reason.kind), Some("yaml"));
}
