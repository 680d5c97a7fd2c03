//! Bad input: each case gives a typed error or a documented result, never a panic,
//! and rows in = rows out.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float32Type, Schema};
use vigil::detect::Threshold;
use vigil::{Backend, Error, FittedPipeline, Pipeline, features};

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .expect("batch")
}

fn domains(values: Vec<Option<&str>>) -> RecordBatch {
    batch(vec![("q", Arc::new(StringArray::from(values)))])
}

fn entropy_pipeline() -> Pipeline {
    Pipeline::builder()
        .feature(features::entropy("q"))
        .backend(Backend::Cpu)
        .build()
        .expect("build")
}

fn fitted() -> FittedPipeline {
    entropy_pipeline()
        .fit(&[domains(vec![
            Some("google.com"),
            Some("abc.net"),
            Some("x.org"),
        ])])
        .expect("fit")
}

#[test]
fn missing_column_names_it_and_lists_the_others() {
    let err = fitted()
        .score(&batch(vec![(
            "query",
            Arc::new(StringArray::from(vec!["a"])),
        )]))
        .unwrap_err();
    match &err {
        Error::MissingColumn { column, available } => {
            assert_eq!((column.as_str(), available.as_str()), ("q", "query"))
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("column `q` not found"));
}

#[test]
fn wrong_type_says_expected_and_found() {
    let err = fitted()
        .score(&batch(vec![("q", Arc::new(Int32Array::from(vec![1, 2])))]))
        .unwrap_err();
    assert!(
        matches!(&err, Error::WrongType { column, found: DataType::Int32, .. } if column == "q"),
        "{err:?}"
    );
    let err = Pipeline::builder()
        .feature(features::log1p("q"))
        .build()
        .expect("build")
        .fit(&[domains(vec![Some("a")])])
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::WrongType {
                found: DataType::Utf8,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn all_null_column_fails_fit_and_scores_null_with_a_reason() {
    let all_null = domains(vec![None, None, None]);
    let err = entropy_pipeline()
        .fit(std::slice::from_ref(&all_null))
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput(m) if m.contains("q_entropy")),
        "{err:?}"
    );
    let scored = fitted().score(&all_null).expect("score");
    assert_eq!(scored.num_rows(), 3);
    assert_eq!(
        scored.column_by_name("score").expect("score").null_count(),
        3
    );
    let reason = scored
        .column_by_name("unscored_reason")
        .expect("reason")
        .as_string::<i32>();
    assert!(reason.value(0).contains("null"));
    assert!(
        !scored
            .column_by_name("alert")
            .expect("alert")
            .as_boolean()
            .value(0)
    );
}

#[test]
fn empty_batch_fails_fit_and_scores_to_empty() {
    let empty = domains(vec![]);
    assert!(matches!(
        entropy_pipeline().fit(std::slice::from_ref(&empty)),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        entropy_pipeline().fit(&[]),
        Err(Error::InvalidInput(_))
    ));
    let scored = fitted().score(&empty).expect("score");
    assert_eq!(scored.num_rows(), 0);
    assert!(scored.schema().field_with_name("explanation").is_ok());
}

#[test]
fn nan_and_inf_inputs_become_null_features_and_unscored_rows() {
    let x = |v: Vec<Option<f64>>| batch(vec![("x", Arc::new(Float64Array::from(v)) as ArrayRef)]);
    let fitted = Pipeline::builder()
        .feature(features::log1p("x"))
        .backend(Backend::Cpu)
        .build()
        .expect("build")
        .fit(&[x(vec![Some(1.0), Some(2.0), Some(f64::NAN), Some(4.0)])])
        .expect("NaN in the baseline is skipped")
        .with_feature_columns(true);
    let scored = fitted
        .score(&x(vec![
            Some(f64::NAN),
            Some(f64::INFINITY),
            Some(-1.0),
            Some(-5.0),
            None,
            Some(1.0),
        ]))
        .expect("score");
    assert_eq!(scored.num_rows(), 6, "rows in = rows out");
    let feature = scored
        .column_by_name("x_log1p")
        .expect("feature")
        .as_primitive::<Float32Type>();
    assert_eq!(feature.null_count(), 5);
    assert!((feature.value(5) - 2f32.ln()).abs() < 1e-7);
    assert_eq!(
        scored.column_by_name("score").expect("score").null_count(),
        5
    );
}

#[test]
fn invalid_parameters_are_rejected_at_build() {
    let e = |b: vigil::PipelineBuilder| b.build().unwrap_err();
    assert!(matches!(
        e(Pipeline::builder()),
        Error::InvalidParameter { .. }
    ));
    assert!(
        matches!(e(Pipeline::builder().feature(features::ngrams("q", 6, 64))), Error::InvalidParameter { name, .. } if name == "n")
    );
    assert!(
        matches!(e(Pipeline::builder().feature(features::ngrams("q", 3, 100))), Error::InvalidParameter { name, .. } if name == "dims")
    );
    assert!(matches!(
        e(Pipeline::builder()
            .feature(features::entropy("q"))
            .feature(features::entropy("q"))),
        Error::InvalidParameter { .. }
    ));
    assert!(matches!(
        e(Pipeline::builder()
            .feature(features::entropy("q"))
            .threshold(Threshold::BaselineQuantile { q: 1.5 })),
        Error::InvalidParameter { .. }
    ));
    assert!(matches!(
        e(Pipeline::builder().feature(features::standardize("x").with_mean_std(0.0, 0.0))),
        Error::InvalidParameter { name, .. } if name == "std"
    ));
}

#[test]
fn output_name_clash_with_input_is_an_error() {
    let input = batch(vec![
        ("q", Arc::new(StringArray::from(vec!["a"])) as ArrayRef),
        ("score", Arc::new(Float64Array::from(vec![1.0]))),
    ]);
    assert!(matches!(fitted().score(&input), Err(Error::InvalidInput(m)) if m.contains("`score`")));
}

#[test]
fn models_of_another_version_or_corrupted_are_rejected() {
    let json = fitted().to_json().expect("json");
    let other_version = json.replace("\"version\": 2", "\"version\": 99");
    let err = FittedPipeline::from_json(&other_version).unwrap_err();
    assert!(
        matches!(&err, Error::Model(m) if m.contains("version")),
        "{err:?}"
    );
    for bad in [
        &json[..json.len() / 2],
        "",
        "[]",
        "{\"format\": \"something else\", \"version\": 1}",
        &json.replace("\"center\": [", "\"center\": [1.0, "),
        &json.replace("q_entropy", "other_name"),
        &json.replace("\"top_k\": 3", "\"top_k\": 0"),
        &json.replace(
            "\"kind\": \"entropy\"",
            "\"kind\": \"ngrams\", \"n\": 9, \"dims\": 3, \"normalize\": false",
        ),
    ] {
        let err = FittedPipeline::from_json(bad).unwrap_err();
        assert!(matches!(err, Error::Model(_)), "{bad:?}: {err:?}");
    }
    // A version-1 file (robust z without a detector kind) still loads.
    let v1 = json
        .replace("\"version\": 2", "\"version\": 1")
        .replace("\"kind\": \"robust_z\",", "");
    assert_eq!(FittedPipeline::from_json(&v1).expect("v1 model"), fitted());
    let err = FittedPipeline::load("/nonexistent/model.json").unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
}

#[test]
fn gpu_backend_without_adapter_is_a_typed_error() {
    // Only meaningful where no adapter exists; elsewhere the GPU path simply runs.
    let info = vigil::backend_info(Backend::Gpu).expect("info");
    let result = Pipeline::builder()
        .feature(features::entropy("q"))
        .backend(Backend::Gpu)
        .build()
        .expect("build")
        .fit(&[domains(vec![Some("a.com"), Some("b.com")])]);
    match info.adapter {
        None => assert!(matches!(result, Err(Error::Gpu(_)))),
        Some(_) => assert!(result.is_ok()),
    }
}
