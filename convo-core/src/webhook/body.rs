//! Reading a webhook's answer within the size limit.
//!
//! The body is read chunk by chunk and reading stops as soon as it passes
//! the limit, so an endless or huge answer costs at most the limit plus one
//! chunk of memory. (The client asks for no compression, so what is counted
//! is what is kept.)

use super::error::innermost_cause;
use super::WebhookError;

/// The body of `response`, at most `limit` bytes.
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, WebhookError> {
    let too_large = || WebhookError::TooLarge { limit };
    // A declared length over the limit is refused without reading.
    let declared = response.content_length().unwrap_or(0);
    if usize::try_from(declared).map_or(true, |n| n > limit) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| WebhookError::BrokenBody(innermost_cause(&e)))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
