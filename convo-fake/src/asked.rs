//! What one request asks for: the server-wide knobs, then the knobs
//! header, then the in-text directive (each overriding the one before), and
//! the fault they choose once `fail_first_n` is counted. The same for both
//! wire formats; each words a refusal of bad knobs its own way.

use serde_json::{json, Map, Value};

use crate::knobs::{self, Fault, Knobs};
use crate::log::{Record, RequestLog};
use crate::server::{App, Inbound, GLOBAL_SCENARIO};

/// The knobs of one request and the `fail_first_n` scenario they count in.
pub struct Asked {
    /// The merged knobs so far.
    pub knobs: Knobs,
    /// Where `fail_first_n` counts: the server's, or the JSON of the
    /// header or directive that set the knobs last.
    scenario: String,
}

impl Asked {
    /// The server-wide knobs.
    pub fn new(app: &App) -> Self {
        Self {
            knobs: app.base_knobs(),
            scenario: GLOBAL_SCENARIO.to_owned(),
        }
    }

    /// Merges the `x-fake-gemini` (or `x-convo-fake`) header's knobs;
    /// `Err` says why they are not valid.
    pub fn header(&mut self, req: &Inbound) -> Result<(), String> {
        let Some(header) = req
            .header("x-fake-gemini")
            .or_else(|| req.header("x-convo-fake"))
        else {
            return Ok(());
        };
        self.knobs = self.knobs.merged(&parse(header.as_bytes())?);
        self.scenario = format!("header:{header}");
        Ok(())
    }

    /// Merges the knobs of the directive in `text` (the user message that
    /// started the turn); `Err` says why they are not valid.
    pub fn directive(&mut self, text: &str) -> Result<(), String> {
        let Some(directive) = knobs::find_directive(text) else {
            return Ok(());
        };
        self.knobs = self.knobs.merged(&parse(directive.json.as_bytes())?);
        self.scenario = format!("text:{}", directive.json);
        Ok(())
    }

    /// The fault to play: the `fail` knob, except that `fail_first_n`
    /// plays it (by default a 503) only on the scenario's first N
    /// requests. Records the knobs and the fault.
    pub fn fault(&self, log: &RequestLog, record: &Record) -> Option<Fault> {
        record.set("knobs", Value::Object(self.knobs.0.clone()));
        let mut fault = self.knobs.fault();
        if let Some(n) = self.knobs.int("fail_first_n") {
            if log.count(&self.scenario) > n {
                fault = None;
            } else if fault.is_none() {
                fault = Some(Fault::Unavailable);
            }
        }
        record.set("fail", fault.map_or(Value::Null, |f| json!(f.name())));
        fault
    }
}

/// Knobs written as JSON (a header, a directive, a `/__config` body).
pub fn parse(json: &[u8]) -> Result<Map<String, Value>, String> {
    serde_json::from_slice::<Value>(json)
        .map_err(|e| e.to_string())
        .and_then(|v| knobs::normalize(&v).map_err(|e| e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::conn::ResetFlag;
    use crate::signature::Signer;

    fn app(knobs: Value) -> App {
        let Value::Object(config) = knobs else {
            panic!("knobs are an object")
        };
        App {
            log: RequestLog::default(),
            signer: Signer::random(),
            extra_models: Vec::new(),
            api_key: None,
            config: Mutex::new(config),
        }
    }

    fn with_header(value: &str) -> Inbound {
        let mut headers = hyper::HeaderMap::new();
        headers.insert("x-convo-fake", value.parse().expect("a valid header value"));
        Inbound {
            method: hyper::Method::POST,
            path: "/".into(),
            query: Default::default(),
            headers,
            body: Default::default(),
            flag: ResetFlag::default(),
        }
    }

    #[test]
    fn the_header_overrides_the_server_and_the_directive_overrides_the_header() {
        let app = app(json!({"reply": "server", "chunks": 2}));
        let mut asked = Asked::new(&app);
        asked
            .header(&with_header(r#"{"reply": "header", "delay_ms": 1}"#))
            .expect("valid header");
        asked
            .directive(r#"hi [[convo-fake:{"reply":"text"}]]"#)
            .expect("valid directive");
        assert_eq!(asked.knobs.text("reply"), Some("text"));
        assert_eq!(
            asked.knobs.int("delay_ms"),
            Some(1),
            "the header's own knob stays"
        );
        assert_eq!(
            asked.knobs.int("chunks"),
            Some(2),
            "the server's own knob stays"
        );
        assert!(asked.directive("[[convo-fake:{\"bogus\":1}]]").is_err());
    }

    #[test]
    fn fail_first_n_fails_the_first_requests_of_each_scenario_only() {
        let app = app(json!({}));
        let fault = |text: &str| {
            let mut asked = Asked::new(&app);
            asked.directive(text).expect("valid directive");
            asked.fault(&app.log, &app.log.record(Map::new()))
        };
        let a = r#"[[convo-fake:{"fail_first_n":1}]]"#;
        let b = r#"[[convo-fake:{"fail_first_n":1,"tag":"b"}]]"#;
        assert_eq!(fault(a), Some(Fault::Unavailable));
        assert_eq!(fault(a), None, "the scenario's second request is answered");
        assert_eq!(
            fault(b),
            Some(Fault::Unavailable),
            "another scenario counts apart"
        );
        assert_eq!(
            fault(r#"[[convo-fake:{"fail":"500"}]]"#),
            Some(Fault::Internal)
        );
        assert_eq!(
            app.log.requests(0, 0)[0]["fail"],
            "503",
            "the fault is recorded"
        );
    }
}
