//! [`tool_fn`]: a [`Tool`] from an async closure over the tool's own
//! argument type, deserialised with serde.

use std::future::Future;
use std::marker::PhantomData;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Tool, ToolError, ToolInvocation};

/// A [`Tool`] made by [`tool_fn`].
pub struct ToolFn<F, A> {
    f: F,
    // `fn(A)`: the tool takes an `A`, it does not own one (keeps it Send + Sync).
    _args: PhantomData<fn(A)>,
}

impl<F, A> std::fmt::Debug for ToolFn<F, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolFn")
            .field("args", &std::any::type_name::<A>())
            .finish_non_exhaustive()
    }
}

/// A tool from an async function of its arguments' type: the model's
/// arguments are deserialised into `A` (a shape that does not fit is
/// [`ToolError::InvalidArguments`], which the model sees with serde's
/// message), and the output `T` is serialised to JSON.
///
/// ```
/// use convo_core::engine::tools::{tool_fn, ToolError};
/// #[derive(serde::Deserialize)]
/// struct LookupOrder { order_id: String }
/// let tool = tool_fn(|args: LookupOrder| async move {
///     Ok::<_, ToolError>(serde_json::json!({"order_id": args.order_id, "status": "shipped"}))
/// });
/// # let _ = tool;
/// ```
pub fn tool_fn<F, Fut, A, T>(f: F) -> ToolFn<F, A>
where
    F: Fn(A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, ToolError>> + Send + 'static,
    A: DeserializeOwned + Send + 'static,
    T: Serialize,
{
    ToolFn {
        f,
        _args: PhantomData,
    }
}

#[async_trait]
impl<F, Fut, A, T> Tool for ToolFn<F, A>
where
    F: Fn(A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, ToolError>> + Send + 'static,
    A: DeserializeOwned + Send + 'static,
    T: Serialize,
{
    async fn call(&self, call: ToolInvocation) -> Result<serde_json::Value, ToolError> {
        let args: A = serde_json::from_value(serde_json::Value::Object(call.arguments))
            .map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
        let output = (self.f)(args).await?;
        serde_json::to_value(output)
            .map_err(|e| ToolError::Failed(format!("the tool's output is not JSON: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AgentId, SessionId};
    use serde_json::json;

    #[derive(serde::Deserialize)]
    struct Add {
        a: i64,
        b: i64,
    }

    fn invocation(arguments: serde_json::Value) -> ToolInvocation {
        let serde_json::Value::Object(arguments) = arguments else {
            panic!("test arguments are an object");
        };
        ToolInvocation {
            arguments,
            call_id: "call_1".into(),
            name: "add".into(),
            session_id: SessionId::new(),
            agent_id: AgentId::new(),
        }
    }

    #[tokio::test]
    async fn typed_arguments_are_deserialised_and_the_output_serialised() {
        let tool = tool_fn(|args: Add| async move { Ok(args.a + args.b) });
        let out = tool.call(invocation(json!({"a": 2, "b": 3}))).await;
        assert_eq!(out, Ok(json!(5)));
    }

    #[tokio::test]
    async fn arguments_of_the_wrong_shape_are_an_error_naming_the_field() {
        let tool = tool_fn(|args: Add| async move { Ok(args.a + args.b) });
        let out = tool.call(invocation(json!({"a": 2}))).await;
        match out {
            Err(ToolError::InvalidArguments(why)) => assert!(why.contains("`b`"), "{why}"),
            other => panic!("expected invalid arguments, got {other:?}"),
        }
    }
}
