//! [`Matching`]: a string that must match a regular expression stated in the
//! OpenAPI document, checked with a regex compiled once.
//!
//! poem-openapi's `#[oai(validator(pattern = …))]` compiles its regex on
//! every check (`Regex::new(…)` inside `Pattern::check`, poem-openapi 5.1).
//! For the Unicode classes our rules use that cost ~250 µs of CPU per
//! request: it cut message sends from 26,600 to 7,700 per second
//! (scripts/bench.sh case 3, perf: regex determinisation at ~50% of CPU) and
//! handed any client a cheap way to burn server CPU. A [`Matching`] field
//! puts the same `pattern` in the document, so clients and schemathesis see
//! the rule, and checks it against a regex built on first use.
//!
//! A failure reads as poem-openapi's own ("field `name` verification
//! failed. pattern(…)" in a body, "verification failed. pattern(…)" in a
//! parameter), so it maps to the same 422 `validation_failed` naming the
//! field.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::LazyLock;

use poem::Request;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use regex::Regex;
use serde_json::Value;

use crate::http::error::ApiError;

/// A rule a [`Matching`] string obeys.
pub trait Rule: Send + Sync + 'static {
    /// The body field it is used for, named in errors (parameters are
    /// named by poem-openapi itself).
    const FIELD: &'static str;
    /// The regular expression, as the OpenAPI document states it.
    const PATTERN: &'static str;
    /// The compiled [`Self::PATTERN`].
    fn regex() -> &'static Regex;
}

/// Declares a [`Rule`] type with its field name and pattern.
macro_rules! rule {
    ($(#[$doc:meta])* $name:ident, field = $field:literal, pattern = $pattern:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name;

        impl Rule for $name {
            const FIELD: &'static str = $field;
            const PATTERN: &'static str = $pattern;

            fn regex() -> &'static Regex {
                static REGEX: LazyLock<Regex> = LazyLock::new(|| {
                    // The patterns are literals, compiled in the tests below.
                    Regex::new($pattern).unwrap_or_else(|e| panic!("bad pattern {}: {e}", $pattern))
                });
                &REGEX
            }
        }
    };
}

rule!(
    /// An e-mail address: one `@`, no spaces or control characters.
    EmailRule,
    field = "email",
    pattern = r"^\s*[^\s@\x00-\x1f\x7f-\x9f]+@[^\s@\x00-\x1f\x7f-\x9f]+\s*$"
);
rule!(
    /// A name that is not blank.
    NameRule,
    field = "name",
    pattern = r"\S"
);
rule!(
    /// A model id: 1–200 characters, no spaces or control characters.
    ModelRule,
    field = "model",
    pattern = r"^[^\s\x00-\x1f\x7f-\x9f]{1,200}$"
);
rule!(
    /// Message content that is not blank.
    ContentRule,
    field = "content",
    pattern = r"\S"
);
rule!(
    /// A list cursor: an object id, or empty for none.
    CursorRule,
    field = "cursor",
    pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
);
rule!(
    /// An end user a project API key acts for: 1–128 visible ASCII characters.
    EndUserRule,
    field = "end_user",
    pattern = r"^[!-~]{1,128}$"
);
rule!(
    /// An `Idempotency-Key`: 1–255 visible ASCII characters.
    IdempotencyKeyRule,
    field = "Idempotency-Key",
    pattern = r"^[!-~]{1,255}$"
);

/// A string matching `R`: in a JSON body only ever a JSON string (as
/// [`crate::http::text::Text`]), or a query or header parameter.
pub struct Matching<R> {
    value: String,
    rule: PhantomData<R>,
}

impl<R: Rule> Matching<R> {
    /// `value`, if it matches the rule.
    pub fn new(value: String) -> Option<Self> {
        R::regex().is_match(&value).then_some(Self {
            value,
            rule: PhantomData,
        })
    }

    /// The string.
    pub fn into_inner(self) -> String {
        self.value
    }

    /// A borrowed view.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    fn failure() -> String {
        format!("verification failed. pattern(\"{}\")", R::PATTERN)
    }

    /// The header parameter `name` as poem-openapi parsed it (`parsed`),
    /// or 422 when the request carries a value of it that poem-openapi
    /// could not read at all.
    ///
    /// poem-openapi reads header parameters through `HeaderValue::to_str`,
    /// which fails on any byte outside visible ASCII, space and tab, and
    /// then skips the value as if it were not sent (`param::Header`,
    /// poem-openapi 5.1). An `Idempotency-Key: clé-1` was therefore dropped
    /// and a retry stored a second turn; such a value breaks the rule like
    /// any other malformed one, and is answered the same way.
    pub fn header(
        req: &Request,
        name: &str,
        parsed: Option<Self>,
    ) -> Result<Option<Self>, ApiError> {
        let unreadable = req
            .headers()
            .get_all(name)
            .iter()
            .any(|value| value.to_str().is_err());
        if unreadable {
            return Err(ApiError::validation(
                name.to_owned(),
                format!("`{name}` does not satisfy pattern(\"{}\")", R::PATTERN),
            ));
        }
        Ok(parsed)
    }
}

impl<R> std::fmt::Debug for Matching<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

impl<R> Clone for Matching<R> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
            rule: PhantomData,
        }
    }
}

impl<R> PartialEq for Matching<R> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<R> AsRef<str> for Matching<R> {
    fn as_ref(&self) -> &str {
        &self.value
    }
}

impl<R> std::ops::Deref for Matching<R> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.value
    }
}

/// For examples and tests, whose literals are known to match (checked in
/// debug builds); requests are checked when they are parsed.
impl<R: Rule> From<&str> for Matching<R> {
    fn from(s: &str) -> Self {
        debug_assert!(
            R::regex().is_match(s),
            "{s:?} does not match {}",
            R::PATTERN
        );
        Self {
            value: s.to_owned(),
            rule: PhantomData,
        }
    }
}

impl<R> From<Matching<R>> for String {
    fn from(m: Matching<R>) -> Self {
        m.value
    }
}

impl<R: Rule> Type for Matching<R> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            pattern: Some(R::PATTERN.to_owned()),
            ..MetaSchema::new("string")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }

    fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
}

impl<R: Rule> ParseFromJSON for Matching<R> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(s) => Self::new(s).ok_or_else(|| {
                ParseError::custom(format!("field `{}` {}", R::FIELD, Self::failure()))
            }),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl<R: Rule> ToJSON for Matching<R> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.value.clone()))
    }
}

impl<R: Rule> ParseFromParameter for Matching<R> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Self::new(value.to_owned()).ok_or_else(|| ParseError::custom(Self::failure()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_compile<R: Rule>() {
        let _ = R::regex();
    }

    #[test]
    fn every_rule_compiles() {
        all_compile::<EmailRule>();
        all_compile::<NameRule>();
        all_compile::<ModelRule>();
        all_compile::<ContentRule>();
        all_compile::<CursorRule>();
        all_compile::<IdempotencyKeyRule>();
        all_compile::<EndUserRule>();
    }

    #[test]
    fn bodies_accept_matching_strings_only() {
        let ok = Matching::<NameRule>::parse_from_json(Some(Value::String(" a ".into())));
        assert_eq!(ok.ok().map(Matching::into_inner).as_deref(), Some(" a "));
        let blank =
            Matching::<NameRule>::parse_from_json(Some(Value::String(" \t\u{2003}".into())));
        let message = blank
            .err()
            .map(ParseError::into_message)
            .unwrap_or_default();
        assert!(
            message.contains("field `name` verification failed"),
            "{message}"
        );
        assert!(Matching::<NameRule>::parse_from_json(Some(serde_json::json!(5))).is_err());
    }

    #[test]
    fn parameters_fail_like_poem_openapi_validators() {
        assert!(Matching::<CursorRule>::parse_from_parameter("").is_ok());
        assert!(Matching::<CursorRule>::parse_from_parameter(
            "01a21243-a679-7693-baf0-cb34ca50f0b4"
        )
        .is_ok());
        let bad = Matching::<CursorRule>::parse_from_parameter(r#"{"$ne":null}"#);
        let message = bad.err().map(ParseError::into_message).unwrap_or_default();
        assert!(
            message.contains("verification failed. pattern("),
            "{message}"
        );
        assert!(Matching::<IdempotencyKeyRule>::parse_from_parameter("key 1").is_err());
        assert!(Matching::<IdempotencyKeyRule>::parse_from_parameter("key-1").is_ok());
    }

    #[test]
    fn a_header_value_poem_openapi_cannot_read_is_a_broken_rule() {
        let with = |values: &[&[u8]]| {
            let mut req = Request::builder().finish();
            for value in values {
                let value = poem::http::HeaderValue::from_bytes(value).expect("header value");
                req.headers_mut().append("idempotency-key", value);
            }
            req
        };
        let parsed = Matching::<IdempotencyKeyRule>::new("key-1".to_owned());
        let kept = Matching::header(&with(&[b"key-1"]), "Idempotency-Key", parsed);
        assert_eq!(
            kept.ok().flatten().map(Matching::into_inner).as_deref(),
            Some("key-1")
        );
        assert!(matches!(
            Matching::<IdempotencyKeyRule>::header(&with(&[]), "Idempotency-Key", None),
            Ok(None)
        ));
        for values in [&[b"cl\xc3\xa9-1".as_slice()][..], &[b"key-1", b"\xff"]] {
            let refused = Matching::<IdempotencyKeyRule>::header(
                &with(values),
                "Idempotency-Key",
                Matching::new("key-1".to_owned()),
            )
            .expect_err("refused");
            assert_eq!(refused.status.as_u16(), 422);
            assert_eq!(refused.param.as_deref(), Some("Idempotency-Key"));
            assert!(refused.message.contains("pattern("), "{}", refused.message);
        }
    }

    #[test]
    fn the_schema_states_the_pattern() {
        let MetaSchemaRef::Inline(schema) = Matching::<ModelRule>::schema_ref() else {
            panic!("inline schema expected");
        };
        assert_eq!(schema.ty, "string");
        assert_eq!(schema.pattern.as_deref(), Some(ModelRule::PATTERN));
    }
}
