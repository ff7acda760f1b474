//! A function URL's request to the node's axum router and its answer back, in Lambda's
//! function URL payload (version 2.0). lambda_http does the same for every event source
//! Lambda has; its answer decodes text in whatever charset the response names, which
//! links encoding_rs's every decoder (0.16 MB) into each function, while our routes
//! answer in UTF-8 or bytes.

use aws_lambda_events::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use axum::body::Body;
use axum::http::HeaderMap;
use axum::http::header::{COOKIE, HeaderValue, SET_COOKIE};
use axum::http::{Method, Request, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use lambda_runtime::tower::ServiceExt;

/// Why a function URL event could not become a request, or its answer a response.
#[derive(Debug, thiserror::Error)]
pub enum FunctionUrlError {
    #[error("function URL event without a method")]
    NoMethod,
    #[error("function URL event with a bad {part}: {reason}")]
    Malformed { part: &'static str, reason: String },
    #[error("the response body could not be read: {0}")]
    Body(String),
}

/// Answers one function URL event with `router`.
pub async fn serve(
    router: axum::Router,
    event: LambdaFunctionUrlRequest,
) -> Result<LambdaFunctionUrlResponse, FunctionUrlError> {
    let request = to_request(event)?;
    let response = match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    to_event_response(response).await
}

/// The HTTP request the event describes: method, raw path and query, headers (cookies,
/// which Lambda lists apart, back in one `Cookie` header) and the body's exact bytes, which
/// a webhook's signature is computed over.
pub fn to_request(event: LambdaFunctionUrlRequest) -> Result<Request<Body>, FunctionUrlError> {
    let malformed = |part: &'static str| {
        move |e: &dyn std::fmt::Display| FunctionUrlError::Malformed {
            part,
            reason: e.to_string(),
        }
    };
    let method = event
        .request_context
        .http
        .method
        .ok_or(FunctionUrlError::NoMethod)?;
    let method = Method::from_bytes(method.as_bytes()).map_err(|e| malformed("method")(&e))?;
    let path = event.raw_path.unwrap_or_else(|| "/".into());
    let uri = match event.raw_query_string.as_deref() {
        Some(query) if !query.is_empty() => format!("{path}?{query}"),
        _ => path,
    };
    let body = match (event.body, event.is_base64_encoded) {
        (None, _) => Vec::new(),
        (Some(text), false) => text.into_bytes(),
        (Some(encoded), true) => BASE64
            .decode(encoded)
            .map_err(|e| malformed("base64 body")(&e))?,
    };
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body))
        .map_err(|e| malformed("path or query")(&e))?;
    *request.headers_mut() = event.headers;
    if let Some(cookies) = event.cookies.filter(|c| !c.is_empty()) {
        let cookie =
            HeaderValue::from_str(&cookies.join("; ")).map_err(|e| malformed("cookie")(&e))?;
        request.headers_mut().insert(COOKIE, cookie);
    }
    Ok(request)
}

/// The event answer for `response`: a UTF-8 body as text, any other as base64; cookies
/// set in a list of their own, as Lambda wants them.
pub async fn to_event_response(
    response: Response<Body>,
) -> Result<LambdaFunctionUrlResponse, FunctionUrlError> {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| FunctionUrlError::Body(e.to_string()))?;
    let mut answer = LambdaFunctionUrlResponse::default();
    answer.status_code = i64::from(parts.status.as_u16());
    (answer.headers, answer.cookies) = one_value_per_header(parts.headers)?;
    (answer.body, answer.is_base64_encoded) = match std::str::from_utf8(&bytes) {
        Ok("") => (None, false),
        Ok(text) => (Some(text.to_owned()), false),
        Err(_) => (Some(BASE64.encode(&bytes)), true),
    };
    Ok(answer)
}

/// The event's headers hold one value per name (the event type serializes the first
/// only), so the values of a repeated header are joined with commas as HTTP allows,
/// except `Set-Cookie`, which cannot be joined and goes to the answer's cookies.
fn one_value_per_header(headers: HeaderMap) -> Result<(HeaderMap, Vec<String>), FunctionUrlError> {
    let unreadable = |e: &dyn std::fmt::Display| FunctionUrlError::Body(format!("header: {e}"));
    let mut joined = HeaderMap::with_capacity(headers.keys_len());
    let mut cookies = Vec::new();
    for name in headers.keys() {
        let values = headers.get_all(name);
        if name == SET_COOKIE {
            for v in values {
                cookies.push(v.to_str().map_err(|e| unreadable(&e))?.to_string());
            }
            continue;
        }
        let value = match values.iter().collect::<Vec<_>>().as_slice() {
            [one] => (*one).clone(),
            many => {
                let parts: Vec<&[u8]> = many.iter().map(|v| v.as_bytes()).collect();
                HeaderValue::from_bytes(&parts.join(&b", "[..])).map_err(|e| unreadable(&e))?
            }
        };
        joined.insert(name.clone(), value);
    }
    Ok((joined, cookies))
}
