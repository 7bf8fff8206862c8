//! Hostile clients, one module per kind of attack.
//!
//! Tokens, foreign ids, malformed ids, oversized bodies and the failed-login
//! limit are covered in `tokens`, `ownership`, `errors` and `auth`.

use serde_json::Value;

mod cors;
mod enumeration;
mod hostile_input;
mod mass_assignment;
mod slow_clients;

/// The `id` of a JSON object.
fn id(v: &Value) -> &str {
    v["id"].as_str().expect("id")
}

/// The sorted keys of a JSON object.
fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}
