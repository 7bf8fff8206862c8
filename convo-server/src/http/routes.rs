//! The API's route table: its path templates and their methods, read from
//! the operations' own metadata (no OpenAPI document is rendered, so no
//! engine or keys are needed to build it). The middleware uses it for the
//! `Allow` header of a 405 and for the metrics' route label.

use std::sync::OnceLock;

use poem_openapi::registry::MetaApi;
use poem_openapi::OpenApi;

/// A path template and its methods.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RouteInfo {
    /// `/api/chat/{chat_session_id}/message`.
    template: String,
    segments: Vec<String>,
    /// `GET, POST`, as an `Allow` header says it.
    methods: String,
}

/// The path templates of an API and their methods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable {
    routes: Vec<RouteInfo>,
}

impl RouteTable {
    /// The table of Convo's REST API, built once.
    pub fn api() -> &'static RouteTable {
        static TABLE: OnceLock<RouteTable> = OnceLock::new();
        TABLE.get_or_init(Self::of::<crate::api::Api>)
    }

    /// The table of any poem-openapi API type.
    pub fn of<T: OpenApi>() -> Self {
        Self::from_meta(T::meta())
    }

    fn from_meta(apis: Vec<MetaApi>) -> Self {
        let mut routes: Vec<RouteInfo> = Vec::new();
        for path in apis.into_iter().flat_map(|api| api.paths) {
            let template = openapi_template(&path.path);
            let methods: Vec<String> = path
                .operations
                .iter()
                .map(|op| op.method.as_str().to_owned())
                .collect();
            match routes.iter_mut().find(|r| r.template == template) {
                Some(route) => {
                    let mut all: Vec<String> =
                        route.methods.split(", ").map(str::to_owned).collect();
                    all.extend(methods);
                    route.methods = all.join(", ");
                }
                None => routes.push(RouteInfo {
                    segments: template.split('/').map(str::to_owned).collect(),
                    methods: methods.join(", "),
                    template,
                }),
            }
        }
        Self { routes }
    }

    /// The template `path` falls under (`{param}` matches one segment; the
    /// most specific template wins, as in the router: `/api/projects/import`
    /// is that path, not `/api/projects/{project_id}`).
    fn route_of(&self, path: &str) -> Option<&RouteInfo> {
        let segments: Vec<&str> = path.split('/').collect();
        self.routes
            .iter()
            .filter(|r| {
                r.segments.len() == segments.len()
                    && r.segments
                        .iter()
                        .zip(&segments)
                        .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
            })
            .min_by_key(|r| r.segments.iter().filter(|t| t.starts_with('{')).count())
    }

    /// The methods the API offers at `path`, as an `Allow` header value.
    pub fn allowed_methods(&self, path: &str) -> Option<String> {
        self.route_of(path).map(|r| r.methods.clone())
    }

    /// The route label of `path` for metrics: its template, one of the
    /// fixed surfaces outside the document, or `other` (never the raw
    /// path, whose ids would make a series per object).
    pub fn label(&'static self, path: &str) -> &'static str {
        if let Some(route) = self.route_of(path) {
            return route.template.as_str();
        }
        match path {
            "/metrics" => "/metrics",
            "/openapi.json" => "/openapi.json",
            "/v1/models" => "/v1/models",
            "/v1/chat/completions" => "/v1/chat/completions",
            p if p == "/docs" || p.starts_with("/docs/") => "/docs",
            _ => "other",
        }
    }
}

/// poem's `:name` path parameters in OpenAPI's `{name}` spelling.
fn openapi_template(path: &str) -> String {
    path.split('/')
        .map(|s| match s.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_matches_the_checked_in_document() {
        let table = RouteTable::api();
        let spec: serde_json::Value =
            serde_json::from_str(&crate::openapi_json()).expect("the document parses");
        let paths = spec["paths"].as_object().expect("paths");
        assert_eq!(table.routes.len(), paths.len());
        for (template, ops) in paths {
            let route = table
                .routes
                .iter()
                .find(|r| &r.template == template)
                .unwrap_or_else(|| panic!("{template} is in the table"));
            let mut expected: Vec<String> = ops
                .as_object()
                .map(|o| o.keys().map(|m| m.to_uppercase()).collect())
                .unwrap_or_default();
            let mut got: Vec<String> = route.methods.split(", ").map(str::to_owned).collect();
            expected.sort();
            got.sort();
            assert_eq!(got, expected, "{template}");
        }
    }

    #[test]
    fn paths_get_their_most_specific_template_or_a_fixed_label() {
        let table = RouteTable::api();
        assert_eq!(
            table.label("/api/chat/0192aaaa-0000-7000-8000-000000000000/message"),
            "/api/chat/{chat_session_id}/message"
        );
        assert_eq!(table.label("/api/projects/import"), "/api/projects/import");
        assert_eq!(table.label("/v1/models"), "/v1/models");
        assert_eq!(table.label("/nope/123"), "other");
        assert_eq!(
            table.allowed_methods("/api/projects").as_deref().map(|m| {
                let mut v: Vec<&str> = m.split(", ").collect();
                v.sort();
                v.join(",")
            }),
            Some("GET,POST".to_owned())
        );
    }
}
