#![allow(clippy::unwrap_used)]
//! The attestation-condition operators (timing lives in `benches/admission.rs`).

#[test]
fn conditions_operators() {
    use serde_json::json;
    use trustswap::admission::conditions::AnyAll;
    let ctx = json!({"a": {"b": 3, "s": "hello", "l": ["x", "y"]}});
    let cases = [
        (
            json!({"all": [{"key": "{{ a.b }}", "operator": "Equals", "value": 3}]}),
            true,
        ),
        (
            json!({"all": [{"key": "{{ a.s }}", "operator": "Equals", "value": "hel*"}]}),
            true,
        ),
        (
            json!({"all": [{"key": "{{ a.s }}", "operator": "NotEquals", "value": "hello"}]}),
            false,
        ),
        (
            json!({"all": [{"key": "{{ a.l }}", "operator": "AllIn", "value": ["x", "y", "z"]}]}),
            true,
        ),
        (
            json!({"all": [{"key": "{{ a.l }}", "operator": "AnyIn", "value": ["y"]}]}),
            true,
        ),
        (
            json!({"all": [{"key": "{{ a.l }}", "operator": "AnyNotIn", "value": ["x"]}]}),
            true,
        ),
        (
            json!({"all": [{"key": "{{ a.l }}", "operator": "AllNotIn", "value": ["z"]}]}),
            true,
        ),
        (
            json!({"all": [{"key": "x", "operator": "In", "value": ["x"]}]}),
            true,
        ),
        (
            json!({"all": [{"key": "x", "operator": "NotIn", "value": ["x"]}]}),
            false,
        ),
        (
            json!({"all": [{"key": "{{ a.b }}", "operator": "GreaterThanOrEquals", "value": "3"}]}),
            true,
        ),
        (
            json!({"all": [{"key": "{{ a.l[1] }}", "operator": "Equals", "value": "y"}]}),
            true,
        ),
        (
            json!({"any": [{"key": 1, "operator": "Equals", "value": 2}, {"key": 1, "operator": "LessThan", "value": 2}]}),
            true,
        ),
        (
            json!({"any": [{"key": 1, "operator": "Equals", "value": 2}]}),
            false,
        ),
    ];
    for (c, want) in cases {
        let aa = AnyAll::compile(&c, "t", "c").unwrap();
        assert_eq!(aa.eval(&ctx).unwrap(), want, "{c}");
    }
    let missing = AnyAll::compile(
        &json!({"all": [{"key": "{{ nope }}", "operator": "Equals", "value": 1}]}),
        "t",
        "c",
    )
    .unwrap();
    assert!(missing.eval(&ctx).is_err());
    assert!(
        AnyAll::compile(
            &json!({"all": [{"key": 1, "operator": "Sorta", "value": 1}]}),
            "t",
            "c"
        )
        .is_err()
    );
}
