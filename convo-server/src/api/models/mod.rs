//! The API's JSON shapes (`docs/api.md`). Doc comments here are the
//! descriptions Swagger UI shows; the examples (`examples.rs`) fill its
//! "Try it out" forms.

pub use crate::http::text::Text;

mod agents;
mod chat;
mod context;
mod health;
mod keys;
mod lists;
mod projects;
mod tool_outputs;
mod tools;
mod users;

pub use agents::*;
pub use chat::*;
pub use context::*;
pub use health::*;
pub use keys::*;
pub use lists::*;
pub use projects::*;
pub use tool_outputs::*;
pub use tools::*;
pub use users::*;

#[cfg(test)]
mod tests {
    use super::*;
    use poem_openapi::types::{Example, ToJSON};

    /// The body written with serde (`JsonOut`) must be what the OpenAPI
    /// document describes (the poem-openapi view of the same type).
    fn same_json<T: Example + ToJSON + serde::Serialize>() {
        let value = T::example();
        let serde = serde_json::to_value(&value).expect("serialises");
        assert_eq!(
            Some(serde),
            value.to_json(),
            "{}",
            std::any::type_name::<T>()
        );
    }

    #[test]
    fn serde_and_openapi_agree_on_every_response_shape() {
        same_json::<User>();
        same_json::<TokenResponse>();
        same_json::<Project>();
        same_json::<Agent>();
        same_json::<CreatedAgent>();
        same_json::<WebhookSecret>();
        same_json::<ChatSession>();
        same_json::<Message>();
        same_json::<TurnResponse>();
        same_json::<ToolOutputsResponse>();
        let user_message = TurnResponse::example().user_message;
        assert_eq!(
            Some(serde_json::to_value(&user_message).expect("json")),
            user_message.to_json(),
            "absent fields are left out alike"
        );
        let list = MessageList::from_page(convo_core::Page {
            data: vec![Message::example()],
            has_more: true,
        });
        assert_eq!(
            Some(serde_json::to_value(&list).expect("json")),
            list.to_json()
        );
        let empty = ProjectList::from_page(convo_core::Page::<Project> {
            data: vec![],
            has_more: false,
        });
        assert_eq!(
            Some(serde_json::to_value(&empty).expect("json")),
            empty.to_json(),
            "null first_id/last_id"
        );
    }
}
