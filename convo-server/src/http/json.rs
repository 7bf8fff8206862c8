//! [`JsonOut`]: a JSON response body serialised straight from the value.
//!
//! poem-openapi's `Json<T>` first builds a `serde_json::Value` tree (an
//! `IndexMap` per object, since bson turns on serde_json's `preserve_order`)
//! and then serialises that. Under load that tree was a quarter of a list
//! request's CPU time (perf, scripts/bench.sh case 1). `JsonOut<T>` keeps the
//! schema of `T` for the OpenAPI document but writes the body with serde.
//! The `serde` and poem-openapi views of every response type are checked to
//! agree (see the tests in `models.rs`).

use poem::{FromRequest, IntoResponse, Request, RequestBody, Response};
use poem_openapi::error::{ContentTypeError, ParseRequestPayloadError};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
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
        // Most bodies fit: growing from empty re-copied them up to ten times.
        let mut body = Vec::with_capacity(2048);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => Response::builder()
                .content_type(Self::CONTENT_TYPE)
                .body(body),
            Err(e) => crate::http::error::ApiError::internal(format!(
                "response serialisation failed: {e}"
            ))
            .into_response(),
        }
    }
}

/// An optional JSON request body: absent (no bytes) is `None`; present, it
/// must be a `T` (a literal `null` is refused like any other wrong type, as
/// the OpenAPI document describes an object). poem-openapi's
/// `Json<Option<T>>` reads `null` as absent, which the document cannot say.
#[derive(Debug, Clone)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T: Type> Payload for OptionalJson<T> {
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

impl<T: ParseFromJSON> ParsePayload for OptionalJson<T> {
    const IS_REQUIRED: bool = false;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let data = <Vec<u8> as FromRequest>::from_request(request, body).await?;
        if data.is_empty() {
            return Ok(Self(None));
        }
        if let Some(content_type) = request.content_type() {
            if !Self::check_content_type(content_type) {
                return Err(ContentTypeError::NotSupported {
                    content_type: content_type.to_owned(),
                }
                .into());
            }
        }
        let malformed = |reason: String| poem::Error::from(ParseRequestPayloadError { reason });
        let value: serde_json::Value =
            serde_json::from_slice(&data).map_err(|e| malformed(e.to_string()))?;
        if value.is_null() {
            return Err(malformed(
                "the body must be a JSON object, or no body at all".into(),
            ));
        }
        T::parse_from_json(Some(value))
            .map(|v| Self(Some(v)))
            .map_err(|e| crate::http::body::refusal::<T>(&data, e.into_message()))
    }
}

impl<'a, T: ParseFromJSON> ApiExtractor<'a> for OptionalJson<T> {
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
            required: false,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<()>,
    ) -> poem::Result<Self> {
        <Self as ParsePayload>::from_request(request, body).await
    }
}

/// Serialises a timestamp exactly as poem-openapi does (`to_rfc3339`:
/// `2026-11-25T10:14:07.123+00:00`, the fraction only when there is one, in
/// 3, 6 or 9 digits), without chrono's general formatter: under load that
/// formatter and the `String` it builds were a tenth of a list request's CPU
/// time (perf, scripts/bench.sh case 2).
pub fn rfc3339<S: serde::Serializer>(
    t: &chrono::DateTime<chrono::Utc>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match Rfc3339::new(t) {
        Some(text) => s.serialize_str(text.as_str()),
        None => s.collect_str(&t.to_rfc3339()),
    }
}

/// [`rfc3339`] for an optional timestamp (`null` when absent).
pub fn rfc3339_opt<S: serde::Serializer>(
    t: &Option<chrono::DateTime<chrono::Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

/// A UTC timestamp spelled as `to_rfc3339` spells it, on the stack.
struct Rfc3339 {
    buf: [u8; 35],
    len: usize,
}

impl Rfc3339 {
    /// `None` for years outside 0..=9999 and leap seconds, which chrono
    /// spells differently.
    fn new(t: &chrono::DateTime<chrono::Utc>) -> Option<Self> {
        use chrono::{Datelike, Timelike};
        // Components of the naive UTC time: asking the `DateTime` for each
        // one re-applies the (zero) offset every time.
        let t = t.naive_utc();
        let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        let nanos = t.nanosecond();
        if nanos >= 1_000_000_000 {
            return None;
        }
        let mut out = Self {
            buf: [0; 35],
            len: 0,
        };
        out.digits(year / 100, 2);
        out.digits(year % 100, 2);
        out.byte(b'-');
        out.digits(t.month(), 2);
        out.byte(b'-');
        out.digits(t.day(), 2);
        out.byte(b'T');
        out.digits(t.hour(), 2);
        out.byte(b':');
        out.digits(t.minute(), 2);
        out.byte(b':');
        out.digits(t.second(), 2);
        if nanos != 0 {
            out.byte(b'.');
            if nanos % 1_000_000 == 0 {
                out.digits(nanos / 1_000_000, 3);
            } else if nanos % 1_000 == 0 {
                out.digits(nanos / 1_000, 6);
            } else {
                out.digits(nanos, 9);
            }
        }
        for b in *b"+00:00" {
            out.byte(b);
        }
        Some(out)
    }

    fn byte(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    fn digits(&mut self, value: u32, width: u32) {
        for place in (0..width).rev() {
            // `value % 10` is below 10, so the cast cannot truncate.
            self.byte(b'0' + (value / 10u32.pow(place) % 10) as u8);
        }
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::Rfc3339;
    use chrono::{TimeZone, Utc};

    #[test]
    fn spells_timestamps_as_chrono_does() {
        let mut seconds: i64 = 0;
        let mut samples = vec![
            Utc.timestamp_opt(0, 0).single(),
            Utc.timestamp_opt(253_402_300_799, 999_999_999).single(), // 9999-12-31T23:59:59.999999999
            Utc.timestamp_opt(1_764_065_647, 123_000_000).single(),
            Utc.timestamp_opt(1_764_065_647, 123_456_000).single(),
            Utc.timestamp_opt(1_764_065_647, 123_456_789).single(),
            Utc.timestamp_opt(-62_135_596_800, 0).single(), // year 1
        ];
        for i in 0..5_000u32 {
            // A spread of dates from 1970 to ~2100 with all fraction shapes.
            seconds = (seconds + 786_431 + i64::from(i) * 7_919) % 4_102_444_800;
            let nanos = match i % 4 {
                0 => 0,
                1 => (i % 1000) * 1_000_000,
                2 => (i * 7) % 1_000_000 * 1_000,
                _ => i * 104_729 % 1_000_000_000,
            };
            samples.push(Utc.timestamp_opt(seconds, nanos).single());
        }
        for t in samples.into_iter().flatten() {
            let ours = Rfc3339::new(&t).expect("in range");
            assert_eq!(ours.as_str(), t.to_rfc3339(), "{t:?}");
        }
    }

    #[test]
    fn out_of_range_years_fall_back_to_chrono() {
        let t = Utc
            .timestamp_opt(253_402_300_800, 0)
            .single()
            .expect("valid"); // year 10000
        assert!(Rfc3339::new(&t).is_none());
        let mut body = Vec::new();
        let mut ser = serde_json::Serializer::new(&mut body);
        super::rfc3339(&t, &mut ser).expect("serialises");
        assert_eq!(body, format!("\"{}\"", t.to_rfc3339()).into_bytes());
    }
}
