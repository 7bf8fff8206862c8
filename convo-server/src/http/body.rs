//! [`JsonBody`]: a JSON request body whose refusals name the field at fault.
//!
//! poem-openapi's `Json<T>` reports a body it cannot parse with the parser's
//! own words: a missing field reads `Type "string" expects an input value.
//! (occurred while parsing "CreateAgent")`, which names an internal Rust type
//! and not the field. `JsonBody<T>` parses exactly as `Json<T>` does (the
//! OpenAPI document is the same), and when that fails it looks at the body
//! against `T`'s schema to say what is wrong:
//!
//! - a required field absent (or `null`): 422 `validation_failed`, `param`
//!   naming it, as for any other invalid field;
//! - a field of the wrong JSON type (or an integer out of its format's
//!   range): 400 `invalid_request`, `param` naming it;
//! - a body that is not a JSON object: 400 `invalid_request`.
//!
//! A rule stated in the document (`field `x` verification failed`) and
//! malformed JSON keep their existing answers (422 naming the field, 400).

use poem::http::StatusCode;
use poem::{FromRequest, IntoResponse, Request, RequestBody};
use poem_openapi::error::{ContentTypeError, ParseRequestPayloadError};
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde_json::Value;

use crate::http::error::{failed_field, ApiError};

/// A required JSON request body of type `T`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = <Json<T> as Payload>::CONTENT_TYPE;

    fn check_content_type(content_type: &str) -> bool {
        <Json<T> as Payload>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = T::IS_REQUIRED;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let data = <Vec<u8> as FromRequest>::from_request(request, body).await?;
        let value = parse_json(&data)?;
        T::parse_from_json(Some(value))
            .map(Self)
            .map_err(|e| refusal::<T>(&data, e.into_message()))
    }
}

impl<'a, T: ParseFromJSON> ApiExtractor<'a> for JsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: Self::CONTENT_TYPE,
                schema: T::schema_ref(),
            }],
            required: <Self as ParsePayload>::IS_REQUIRED,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        // The same content-type rule as poem-openapi's payloads.
        match request.content_type() {
            Some(ct) if Self::check_content_type(ct) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            Some(ct) => Err(ContentTypeError::NotSupported {
                content_type: ct.to_owned(),
            }
            .into()),
            None => Err(ContentTypeError::ExpectContentType.into()),
        }
    }
}

/// The body as JSON (no bytes: `null`), or 400 for malformed JSON.
fn parse_json(data: &[u8]) -> poem::Result<Value> {
    if data.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(data).map_err(|e| {
        ParseRequestPayloadError {
            reason: e.to_string(),
        }
        .into()
    })
}

/// The error for a body that is JSON but did not parse as a `T`, with
/// poem-openapi's `message` as the fallback.
pub(crate) fn refusal<T: Type>(data: &[u8], message: String) -> poem::Error {
    if failed_field(&message).is_none() {
        if let Some(fault) = parse_json(data).ok().and_then(|v| Fault::of::<T>(&v)) {
            return poem::Error::from_response(ApiError::from(fault).into_response());
        }
    }
    ParseRequestPayloadError {
        reason: without_type_names(&message, &T::name()),
    }
    .into()
}

/// poem-openapi's message without the Rust type it names ("failed to parse
/// \"CreateAgent\": …", "… (occurred while parsing \"CreateAgent\")").
fn without_type_names(message: &str, name: &str) -> String {
    message
        .replace(&format!("failed to parse \"{name}\": "), "")
        .replace(&format!(" (occurred while parsing \"{name}\")"), "")
        .replace(&format!("\"{name}\""), "object")
}

/// What is wrong with a body, found by reading it against the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Not a JSON object at all.
    NotAnObject,
    /// A required field is absent or `null`.
    Missing(String),
    /// A field has another JSON type than the schema's (`expected`), or is
    /// an integer its format cannot hold.
    WrongType {
        /// The field.
        field: String,
        /// What it should be, e.g. "a string", "an integer (uint32)".
        expected: String,
    },
}

impl Fault {
    /// The first fault of `value` as a `T`, in the schema's field order.
    pub(crate) fn of<T: Type>(value: &Value) -> Option<Self> {
        let mut registry = Registry::new();
        T::register(&mut registry);
        let schema_ref = T::schema_ref();
        let schema = resolve(&schema_ref, &registry)?;
        Self::against(schema, &registry, value)
    }

    /// The first fault of `value` against an object `schema`.
    fn against(schema: &MetaSchema, registry: &Registry, value: &Value) -> Option<Self> {
        if schema.ty != "object" {
            return None;
        }
        let Some(object) = value.as_object() else {
            return Some(Self::NotAnObject);
        };
        for (field, property) in &schema.properties {
            let required = schema.required.contains(field);
            match object.get(*field) {
                None | Some(Value::Null) if required => {
                    return Some(Self::Missing((*field).to_owned()))
                }
                None | Some(Value::Null) => {}
                Some(v) => {
                    let Some(property) = resolve(property, registry) else {
                        continue;
                    };
                    if let Some(expected) = expected_type(property, v) {
                        return Some(Self::WrongType {
                            field: (*field).to_owned(),
                            expected,
                        });
                    }
                }
            }
        }
        None
    }
}

/// The schema a reference names (or an inline one).
fn resolve<'r>(schema: &'r MetaSchemaRef, registry: &'r Registry) -> Option<&'r MetaSchema> {
    match schema {
        MetaSchemaRef::Inline(schema) => Some(schema),
        MetaSchemaRef::Reference(name) => registry.schemas.get(name),
    }
}

/// What `value` should have been, when its JSON type does not fit `schema`.
fn expected_type(schema: &MetaSchema, value: &Value) -> Option<String> {
    let fits = match schema.ty {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "integer" => return integer_fault(schema.format, value),
        // A type this check does not know: leave it to the parser.
        _ => true,
    };
    (!fits).then(|| format!("{} {}", article(schema.ty), schema.ty))
}

/// The fault of an integer field: not an integer, or out of its format.
fn integer_fault(format: Option<&str>, value: &Value) -> Option<String> {
    let (min, max): (i128, i128) = match format {
        Some("int8") => (i8::MIN.into(), i8::MAX.into()),
        Some("int16") => (i16::MIN.into(), i16::MAX.into()),
        Some("int32") => (i32::MIN.into(), i32::MAX.into()),
        Some("uint8") => (0, u8::MAX.into()),
        Some("uint16") => (0, u16::MAX.into()),
        Some("uint32") => (0, u32::MAX.into()),
        Some("uint64") => (0, u64::MAX.into()),
        _ => (i64::MIN.into(), i64::MAX.into()),
    };
    let n = value
        .as_i64()
        .map(i128::from)
        .or_else(|| value.as_u64().map(i128::from));
    match (n, format) {
        (Some(n), _) if (min..=max).contains(&n) => None,
        (_, Some(format)) => Some(format!("an integer ({format})")),
        (_, None) => Some("an integer".to_owned()),
    }
}

fn article(ty: &str) -> &'static str {
    if ty.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

impl From<Fault> for ApiError {
    fn from(fault: Fault) -> Self {
        match fault {
            Fault::NotAnObject => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "malformed request body: the body must be a JSON object",
            ),
            Fault::Missing(field) => {
                let message = format!("`{field}` is required");
                ApiError::validation(field, message)
            }
            Fault::WrongType { field, expected } => ApiError {
                param: Some(field.clone()),
                ..ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    format!("malformed request body: `{field}` must be {expected}"),
                )
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem_openapi::Object;
    use serde_json::json;

    /// A body with one of each kind of field.
    #[derive(Debug, Object)]
    struct Sample {
        name: String,
        count: u32,
        ratio: Option<f64>,
        flag: Option<bool>,
    }

    #[test]
    fn finds_the_first_fault_in_field_order() {
        let cases = [
            (json!({"name": "a", "count": 1}), None, "valid"),
            (
                json!({"name": "a", "count": 1, "ratio": null}),
                None,
                "optional null",
            ),
            (
                json!({"count": 1}),
                Some(Fault::Missing("name".into())),
                "name absent",
            ),
            (
                json!({"name": null, "count": 1}),
                Some(Fault::Missing("name".into())),
                "name null",
            ),
            (
                json!({"name": "a"}),
                Some(Fault::Missing("count".into())),
                "count absent",
            ),
            (json!([1]), Some(Fault::NotAnObject), "an array"),
            (Value::Null, Some(Fault::NotAnObject), "no body"),
            (
                json!({"name": 5, "count": 1}),
                Some(Fault::WrongType {
                    field: "name".into(),
                    expected: "a string".into(),
                }),
                "a number for a string",
            ),
            (
                json!({"name": "a", "count": -1}),
                Some(Fault::WrongType {
                    field: "count".into(),
                    expected: "an integer (uint32)".into(),
                }),
                "negative for uint32",
            ),
            (
                json!({"name": "a", "count": 1.5}),
                Some(Fault::WrongType {
                    field: "count".into(),
                    expected: "an integer (uint32)".into(),
                }),
                "a fraction for an integer",
            ),
            (
                json!({"name": "a", "count": 4_294_967_296_u64}),
                Some(Fault::WrongType {
                    field: "count".into(),
                    expected: "an integer (uint32)".into(),
                }),
                "2^32 for uint32",
            ),
            (
                json!({"name": "a", "count": 1, "flag": "yes"}),
                Some(Fault::WrongType {
                    field: "flag".into(),
                    expected: "a boolean".into(),
                }),
                "a string for a boolean",
            ),
            (
                json!({"name": "a", "count": 1, "ratio": "x"}),
                Some(Fault::WrongType {
                    field: "ratio".into(),
                    expected: "a number".into(),
                }),
                "a string for a number",
            ),
        ];
        for (value, expected, case) in cases {
            assert_eq!(Fault::of::<Sample>(&value), expected, "{case}");
        }
    }

    #[test]
    fn the_answers_name_the_field_and_no_type() {
        let missing = ApiError::from(Fault::Missing("count".into()));
        assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(missing.code, "validation_failed");
        assert_eq!(missing.param.as_deref(), Some("count"));
        let wrong = ApiError::from(Fault::WrongType {
            field: "name".into(),
            expected: "a string".into(),
        });
        assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
        assert_eq!(wrong.param.as_deref(), Some("name"));
        let fallback = without_type_names(
            "failed to parse \"Sample\": oops (occurred while parsing \"Sample\")",
            "Sample",
        );
        assert_eq!(fallback, "oops");
    }
}
