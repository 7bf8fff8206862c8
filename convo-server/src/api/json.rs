//! [`JsonOut`]: a JSON response body serialised straight from the value.
//!
//! poem-openapi's `Json<T>` first builds a `serde_json::Value` tree (an
//! `IndexMap` per object, since bson turns on serde_json's `preserve_order`)
//! and then serialises that. Under load that tree was a quarter of a list
//! request's CPU time (perf, scripts/bench.sh case 1). `JsonOut<T>` keeps the
//! schema of `T` for the OpenAPI document but writes the body with serde.
//! The `serde` and poem-openapi views of every response type are checked to
//! agree (see the tests in `models.rs`).

use poem::{IntoResponse, Response};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::Serialize;

/// A JSON response body.
#[derive(Debug, Clone)]
pub struct JsonOut<T>(pub T);

impl<T: Type> Payload for JsonOut<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn check_content_type(content_type: &str) -> bool {
        content_type.starts_with("application/json")
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + Serialize + Send> IntoResponse for JsonOut<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::builder()
                .content_type(Self::CONTENT_TYPE)
                .body(body),
            Err(e) => {
                crate::error::ApiError::internal(format!("response serialisation failed: {e}"))
                    .into_response()
            }
        }
    }
}

/// Serialises a timestamp exactly as poem-openapi does (`to_rfc3339`).
pub fn rfc3339<S: serde::Serializer>(
    t: &chrono::DateTime<chrono::Utc>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(&t.to_rfc3339())
}
