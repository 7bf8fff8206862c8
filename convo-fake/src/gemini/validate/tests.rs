//! Requests the real API refuses, refused with its messages.

use super::tools::valid_function_name;
use super::*;
use crate::models::{resolve, Resolved};
use serde_json::json;

fn spec(id: &str) -> Spec {
    match resolve(id, &[]) {
        Resolved::Served { spec, .. } => spec,
        other => panic!("{id}: {other:?}"),
    }
}

fn check(body: Value) -> Result<(), String> {
    request(
        &body,
        &spec("gemini-3.8-flash"),
        false,
        &Signer::random(),
        &[],
    )
}

#[test]
fn empty_parts_texts_and_contents_are_refused_with_the_real_messages() {
    let e = check(json!({"contents": [{"role": "user", "parts": [{"text": "a"}]}, {"role": "model", "parts": [{"text": ""}]}, {"role": "user", "parts": [{"text": "b"}]}]})).unwrap_err();
    assert!(
        e.contains("contents[1].parts[0].data: required oneof field 'data'"),
        "{e}"
    );
    let e = check(json!({"contents": [{"role": "user", "parts": []}]})).unwrap_err();
    assert!(
        e.contains("contents[0].parts: contents.parts must not be empty"),
        "{e}"
    );
    let e = check(json!({"contents": []})).unwrap_err();
    assert!(e.contains("contents is not specified"), "{e}");
    let e = check(json!({"contents": [{"role": "system", "parts": [{"text": "a"}]}]})).unwrap_err();
    assert_eq!(e, "Please use a valid role: user, model.");
}

#[test]
fn unknown_fields_and_bad_thinking_settings_are_refused() {
    let e =
        check(json!({"contents": [{"parts": [{"text": "a"}]}], "generationConfig": {"bogus": 1}}))
            .unwrap_err();
    assert_eq!(e, "Invalid JSON payload received. Unknown name \"bogus\" at 'generation_config': Cannot find field.");
    let e = check(json!({"contents": [{"parts": [{"text": "a"}]}], "generationConfig": {"thinkingConfig": {"thinkingLevel": "minimal"}}})).unwrap_err();
    assert!(
        e.starts_with("Thinking level MINIMAL is not supported"),
        "{e}"
    );
    let e = check(json!({"contents": [{"parts": [{"text": "a"}]}], "generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW", "thinkingBudget": 10}}})).unwrap_err();
    assert!(e.starts_with("You can only set only one"), "{e}");
    let e = request(&json!({"contents": [{"parts": [{"text": "a"}]}], "generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}}}), &spec("gemini-2.5-flash-lite"), false, &Signer::random(), &[]).unwrap_err();
    assert_eq!(e, "thinking_level is not supported by this model.");
    assert!(check(json!({"contents": [{"parts": [{"text": "a"}]}], "generation_config": {"max_output_tokens": 5, "thinking_config": {"thinking_level": "high"}}})).is_ok());
}

#[test]
fn tools_are_checked_for_unknown_fields_names_and_modes() {
    let with = |tools: Value, config: Value| {
        check(
            json!({"contents": [{"parts": [{"text": "a"}]}], "tools": tools, "toolConfig": config}),
        )
    };
    let ok = json!([{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT"}}]}]);
    assert!(with(
        ok.clone(),
        json!({"functionCallingConfig": {"mode": "ANY"}})
    )
    .is_ok());
    let e = with(
        json!([{"functionDeclarations": [{"name": "9lives"}]}]),
        json!({}),
    )
    .unwrap_err();
    assert!(
        e.contains("tools[0].function_declarations[0].name: Invalid function name."),
        "{e}"
    );
    let e = with(json!([{"bogus": {}}]), json!({})).unwrap_err();
    assert!(e.contains("Unknown name \"bogus\" at 'tools[0]'"), "{e}");
    let e = with(ok, json!({"functionCallingConfig": {"mode": "SOMETIMES"}})).unwrap_err();
    assert!(
        e.starts_with("Invalid value at 'tool_config.function_calling_config.mode'"),
        "{e}"
    );
    assert!(
        valid_function_name("default_api:get-time.v2") && !valid_function_name(&"a".repeat(65))
    );
}

#[test]
fn wrong_types_and_unknown_safety_enums_are_invalid_values() {
    let e = check(json!({"contents": [{"parts": [{"text": "a"}]}], "generationConfig": {"temperature": "hot"}})).unwrap_err();
    assert_eq!(
        e,
        "Invalid value at 'generation_config.temperature' (TYPE_FLOAT), \"hot\""
    );
    let e = check(
        json!({"contents": [{"parts": [{"text": "a"}]}], "generationConfig": {"top_k": 1.5}}),
    )
    .unwrap_err();
    assert!(
        e.starts_with("Invalid value at 'generation_config.top_k' (TYPE_INT32)"),
        "{e}"
    );
    let ok = json!([{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]);
    assert!(check(json!({"contents": [{"parts": [{"text": "a"}]}], "safetySettings": ok})).is_ok());
    let e = check(json!({"contents": [{"parts": [{"text": "a"}]}], "safetySettings": [{"category": "HARM_CATEGORY_RUDENESS"}]})).unwrap_err();
    assert!(
        e.starts_with("Invalid value at 'safety_settings[0].category'"),
        "{e}"
    );
}

#[test]
fn signatures_must_be_ours_and_a_call_of_the_current_turn_must_carry_one() {
    let signer = Signer::random();
    let s = spec("gemini-3.8-flash");
    let ours = signer.issue();
    let ok = json!({"contents": [{"parts": [{"text": "a"}]}, {"role": "model", "parts": [{"text": "b", "thoughtSignature": ours}]}, {"parts": [{"text": "c"}]}]});
    assert!(request(&ok, &s, false, &signer, &[]).is_ok());
    let not_bytes = json!({"contents": [{"parts": [{"text": "a"}]}, {"role": "model", "parts": [{"text": "b", "thoughtSignature": "not base64!"}]}, {"parts": [{"text": "c"}]}]});
    let e = request(&not_bytes, &s, false, &signer, &[]).unwrap_err();
    assert!(
        e.starts_with("Invalid value at 'contents[1].parts[0].thought_signature' (TYPE_BYTES)"),
        "{e}"
    );
    let forged = json!({"contents": [{"parts": [{"text": "a"}]}, {"role": "model", "parts": [{"text": "b", "thoughtSignature": Signer::random().issue()}]}, {"parts": [{"text": "c"}]}]});
    assert_eq!(
        request(&forged, &s, false, &signer, &[]).unwrap_err(),
        "Corrupted thought signature."
    );
    let unsigned = json!({"contents": [{"parts": [{"text": "weather?"}]}, {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]}, {"parts": [{"functionResponse": {"name": "get_weather", "response": {}}}]}]});
    let e = request(&unsigned, &s, false, &signer, &[]).unwrap_err();
    assert!(e.contains("`default_api:get_weather` , position 2."), "{e}");
    let trailing = json!({"contents": [{"parts": [{"text": "a"}]}, {"role": "model", "parts": [{"text": "b"}]}]});
    assert_eq!(
        request(&trailing, &s, false, &signer, &[]).unwrap_err(),
        "Requests ending with a model turn are not supported."
    );
}

#[test]
fn a_function_response_must_answer_a_call_of_the_model_turn_before_it() {
    let s = spec("gemini-2.5-flash-lite");
    let signer = Signer::random();
    let ask = json!({"parts": [{"text": "weather?"}]});
    let calls = json!({"role": "model", "parts": [
        {"functionCall": {"id": "c1", "name": "get_weather", "args": {}}},
        {"functionCall": {"name": "get_time", "args": {}}}
    ]});
    let answer = |name: &str, id: Option<&str>| {
        let mut r = json!({"name": name, "response": {}});
        if let Some(id) = id {
            r["id"] = json!(id);
        }
        json!({"functionResponse": r})
    };
    let results = |parts: Vec<Value>| json!({"parts": parts});
    let cases = [
        (
            "both answered, by id and by name",
            vec![
                ask.clone(),
                calls.clone(),
                results(vec![
                    answer("get_weather", Some("c1")),
                    answer("get_time", Some("t9")),
                ]),
            ],
            None,
        ),
        (
            "a response with no call before it",
            vec![ask.clone(), results(vec![answer("get_weather", None)])],
            Some("comes immediately after a function call turn"),
        ),
        (
            "a response to a call of an older turn",
            vec![
                ask.clone(),
                calls.clone(),
                results(vec![answer("get_weather", None), answer("get_time", None)]),
                json!({"role": "model", "parts": [{"text": "ok"}]}),
                results(vec![answer("get_weather", None)]),
            ],
            Some("comes immediately after a function call turn"),
        ),
        (
            "a wrong id",
            vec![
                ask.clone(),
                calls.clone(),
                results(vec![
                    answer("get_weather", Some("c2")),
                    answer("get_time", None),
                ]),
            ],
            Some("`get_weather` (id \"c2\")"),
        ),
        (
            "a name nothing called",
            vec![
                ask.clone(),
                calls.clone(),
                results(vec![answer("get_weather", None), answer("get_news", None)]),
            ],
            Some("`get_news`"),
        ),
    ];
    for (case, contents, error) in cases {
        let result = request(&json!({"contents": contents}), &s, false, &signer, &[]);
        match error {
            None => assert!(result.is_ok(), "{case}: {result:?}"),
            Some(text) => assert!(
                result.as_ref().is_err_and(|e| e.contains(text)),
                "{case}: {result:?}"
            ),
        }
    }
}
