//! [`RouterProvider`]: several providers behind one, chosen by the model's
//! prefix, so an agent's `model` picks its provider.
//!
//! A model named `<prefix>:<model>` (e.g. `openai:gpt-4o-mini`) goes to the
//! provider registered for `<prefix>`, which sees only `<model>`. Any other
//! model (`gemini-3.8-flash`, whatever a mock serves) goes to the default
//! provider. A prefix with no provider registered is not served at all:
//! [`supports_model`](LlmProvider::supports_model) says no, so the engine
//! refuses such an agent at creation, and a request fails as a provider error.
//! Only the first `:` splits, so `openai:llama3:8b` asks for `llama3:8b`.

use std::sync::Arc;

use async_trait::async_trait;

use super::{ChunkStream, LlmError, LlmProvider, LlmReply, LlmRequest, ReasoningSupport};

/// Routes requests to providers by model prefix.
pub struct RouterProvider {
    default: Arc<dyn LlmProvider>,
    routes: Vec<(String, Arc<dyn LlmProvider>)>,
}

impl std::fmt::Debug for RouterProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterProvider")
            .field("default", &self.default.name())
            .field(
                "routes",
                &self
                    .routes
                    .iter()
                    .map(|(prefix, p)| format!("{prefix}: -> {}", p.name()))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Where a model goes.
enum Target<'a> {
    /// This provider, with this model name (the prefix stripped).
    Provider(&'a Arc<dyn LlmProvider>, &'a str),
    /// A `<prefix>:` no provider is registered for.
    Unrouted(&'a str),
}

impl RouterProvider {
    /// A router that sends every model without a prefix to `default`.
    pub fn new(default: Arc<dyn LlmProvider>) -> Self {
        Self {
            default,
            routes: Vec::new(),
        }
    }

    /// Sends models named `<prefix>:<model>` to `provider` as `<model>`.
    /// `prefix` is given without the colon, e.g. `openai`; registering a
    /// prefix again replaces its provider.
    pub fn route(mut self, prefix: impl Into<String>, provider: Arc<dyn LlmProvider>) -> Self {
        let prefix = prefix.into();
        self.routes.retain(|(p, _)| *p != prefix);
        self.routes.push((prefix, provider));
        self
    }

    /// The prefixes with a provider, in registration order.
    pub fn prefixes(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|(p, _)| p.as_str())
    }

    fn target<'a>(&'a self, model: &'a str) -> Target<'a> {
        match model.split_once(':') {
            None => Target::Provider(&self.default, model),
            Some((prefix, rest)) => match self.routes.iter().find(|(p, _)| p == prefix) {
                Some((_, provider)) => Target::Provider(provider, rest),
                None => Target::Unrouted(prefix),
            },
        }
    }

    /// The provider for the request, which gets the model without its prefix.
    fn pick(
        &self,
        mut request: LlmRequest,
    ) -> Result<(Arc<dyn LlmProvider>, LlmRequest), LlmError> {
        let (provider, model) = match self.target(&request.model) {
            Target::Provider(provider, model) => (Arc::clone(provider), model.to_owned()),
            Target::Unrouted(prefix) => {
                return Err(LlmError::Provider(format!(
                    "no model provider is configured for `{prefix}:` models"
                )))
            }
        };
        request.model = model;
        Ok((provider, request))
    }
}

#[async_trait]
impl LlmProvider for RouterProvider {
    fn name(&self) -> &str {
        "router"
    }

    fn supports_model(&self, model: &str) -> bool {
        match self.target(model) {
            Target::Provider(provider, model) => {
                !model.is_empty() && provider.supports_model(model)
            }
            Target::Unrouted(_) => false,
        }
    }

    fn reasoning_efforts(&self, model: &str) -> ReasoningSupport {
        match self.target(model) {
            Target::Provider(provider, model) => provider.reasoning_efforts(model),
            Target::Unrouted(_) => ReasoningSupport::Unknown,
        }
    }

    async fn check_model(&self, model: &str) -> Result<(), LlmError> {
        match self.target(model) {
            Target::Provider(provider, model) => provider.check_model(model).await,
            Target::Unrouted(prefix) => Err(LlmError::Provider(format!(
                "no model provider is configured for `{prefix}:` models"
            ))),
        }
    }

    async fn generate(&self, request: LlmRequest) -> Result<LlmReply, LlmError> {
        let (provider, request) = self.pick(request)?;
        provider.generate(request).await
    }

    async fn stream(&self, request: LlmRequest) -> Result<ChunkStream, LlmError> {
        let (provider, request) = self.pick(request)?;
        provider.stream(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;
    use crate::llm::{ChatMessage, MockProvider};

    fn request(model: &str) -> LlmRequest {
        LlmRequest {
            model: model.into(),
            system_prompt: String::new(),
            messages: vec![ChatMessage::new(Role::User, "hi")],
            ..LlmRequest::default()
        }
    }

    fn router() -> (Arc<MockProvider>, Arc<MockProvider>, RouterProvider) {
        let default = Arc::new(MockProvider::new());
        let openai = Arc::new(MockProvider::new());
        let router = RouterProvider::new(default.clone()).route("openai", openai.clone());
        (default, openai, router)
    }

    #[tokio::test]
    async fn prefixed_models_go_to_their_provider_without_the_prefix() {
        let (default, openai, router) = router();

        router
            .generate(request("openai:llama3:8b"))
            .await
            .expect("answers");
        let _stream = router
            .stream(request("gemini-3.8-flash"))
            .await
            .expect("starts");

        let routed: Vec<_> = openai.requests().into_iter().map(|r| r.model).collect();
        assert_eq!(routed, ["llama3:8b"], "only the first colon splits");
        let defaulted: Vec<_> = default.requests().into_iter().map(|r| r.model).collect();
        assert_eq!(defaulted, ["gemini-3.8-flash"]);
    }

    #[tokio::test]
    async fn an_unrouted_prefix_is_unsupported_and_fails_without_a_call() {
        let (default, openai, router) = router();
        let cases = [
            ("gemini-3.8-flash", true),
            ("openai:gpt-4o-mini", true),
            ("openai:", false),
            ("foo:bar", false),
        ];
        for (model, supported) in cases {
            assert_eq!(router.supports_model(model), supported, "{model}");
        }

        let err = router.generate(request("foo:bar")).await;

        assert!(
            matches!(&err, Err(LlmError::Provider(m)) if m.contains("`foo:`")),
            "{err:?}"
        );
        assert_eq!(default.request_count() + openai.request_count(), 0);
        assert_eq!(router.prefixes().collect::<Vec<_>>(), ["openai"]);
    }
}
