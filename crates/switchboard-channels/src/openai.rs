//! The OpenAI-compatible chat-completions adapter (OpenAI, Azure OpenAI's compatible endpoint,
//! vLLM, Ollama, llama.cpp's server, …): `POST {base_url}/chat/completions` with one forced
//! function tool, read either as one JSON response or as a stream of server-sent events whose
//! `delta.tool_calls` carry the arguments in pieces. Addresses are vetted like webhook targets
//! (a tenant chooses the URL), no redirects are followed, and at most 1 MiB is read.

use async_trait::async_trait;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::Arc;
use switchboard_core::ai::{ChatCall, ChatError, ChatModel, ToolCall};
use switchboard_webhooks::client::{vetted_builder, BuildError};
use switchboard_webhooks::{AddressPolicy, Lookup};

/// Most bytes of a response read.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// A chat-completions client held to an address policy.
#[derive(Debug, Clone)]
pub struct OpenAiChat {
    http: reqwest::Client,
    policy: Arc<AddressPolicy>,
}

impl OpenAiChat {
    pub fn new(policy: AddressPolicy, lookup: Arc<dyn Lookup>) -> Result<Self, BuildError> {
        let policy = Arc::new(policy);
        let http = vetted_builder(policy.clone(), lookup)
            .user_agent(concat!("Switchboard/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(5))
            .build()
            .map_err(|e| BuildError::from(e.to_string()))?;
        Ok(Self { http, policy })
    }
}

/// The request body of a call.
pub fn request_body(call: &ChatCall<'_>) -> Value {
    let messages: Vec<Value> = call
        .messages
        .iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    let mut body = json!({
        "model": call.model,
        "messages": messages,
        "tools": [{"type": "function", "function": {
            "name": call.tool_name,
            "description": call.tool_description,
            "parameters": call.tool_parameters,
        }}],
        "tool_choice": {"type": "function", "function": {"name": call.tool_name}},
        "max_tokens": call.max_tokens,
        "temperature": 0,
        "stream": call.stream,
    });
    if call.stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

fn tokens_of(usage: Option<&Value>) -> i64 {
    usage
        .and_then(|u| u.get("total_tokens"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Reads a whole (non-streamed) response.
pub fn read_response(body: &[u8], tool: &str) -> Result<ToolCall, ChatError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ChatError::Malformed(e.to_string()))?;
    let call = v
        .pointer("/choices/0/message/tool_calls/0/function")
        .ok_or(ChatError::NoToolCall)?;
    if call.get("name").and_then(Value::as_str) != Some(tool) {
        return Err(ChatError::NoToolCall);
    }
    let arguments = call
        .get("arguments")
        .and_then(Value::as_str)
        .ok_or_else(|| ChatError::Malformed("the tool call has no arguments".into()))?;
    Ok(ToolCall {
        arguments: arguments.to_owned(),
        tokens: tokens_of(v.get("usage")),
    })
}

/// Reads a streamed response: `data: {chunk}` lines until `data: [DONE]`; the first tool
/// call's name and argument pieces are joined, and the usage chunk counted.
pub fn read_stream(body: &[u8], tool: &str) -> Result<ToolCall, ChatError> {
    let text = std::str::from_utf8(body).map_err(|e| ChatError::Malformed(e.to_string()))?;
    let (mut name, mut arguments, mut tokens, mut done) = (String::new(), String::new(), 0, false);
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data:").map(str::trim) else {
            continue;
        };
        if data == "[DONE]" {
            done = true;
            break;
        }
        let chunk: Value =
            serde_json::from_str(data).map_err(|e| ChatError::Malformed(e.to_string()))?;
        if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
            tokens = tokens_of(Some(u));
        }
        let calls = chunk
            .pointer("/choices/0/delta/tool_calls")
            .and_then(Value::as_array);
        for c in calls.into_iter().flatten() {
            if c.get("index").and_then(Value::as_i64).unwrap_or(0) != 0 {
                continue;
            }
            if let Some(n) = c.pointer("/function/name").and_then(Value::as_str) {
                name.push_str(n);
            }
            if let Some(a) = c.pointer("/function/arguments").and_then(Value::as_str) {
                arguments.push_str(a);
            }
        }
    }
    if !done {
        return Err(ChatError::Malformed(
            "the stream ended before [DONE]".into(),
        ));
    }
    if name != tool {
        return Err(ChatError::NoToolCall);
    }
    Ok(ToolCall { arguments, tokens })
}

#[async_trait]
impl ChatModel for OpenAiChat {
    async fn call_tool(&self, call: ChatCall<'_>) -> Result<ToolCall, ChatError> {
        if !matches!(call.base_url.scheme(), "http" | "https") {
            return Err(ChatError::Blocked("only http(s)".into()));
        }
        let literal: Option<IpAddr> = match call.base_url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal {
            if let Err(reason) = self.policy.check(ip) {
                return Err(ChatError::Blocked(format!("{ip} is {reason}")));
            }
        }
        let url = format!(
            "{}/chat/completions",
            call.base_url.as_str().trim_end_matches('/')
        );
        let mut req = self.http.post(url).json(&request_body(&call));
        if let Some(key) = call.api_key {
            req = req.bearer_auth(key);
        }
        let work = async {
            let mut response = req.send().await.map_err(|e| {
                if e.is_timeout() {
                    ChatError::Timeout
                } else {
                    // The chain names a blocked address; never the key.
                    ChatError::Transport(format!("{e:#}"))
                }
            })?;
            let status = response.status().as_u16();
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| ChatError::Transport(e.to_string()))?
            {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_RESPONSE_BYTES {
                    return Err(ChatError::Malformed(
                        "the response is larger than 1 MiB".into(),
                    ));
                }
            }
            if !(200..300).contains(&status) {
                let start: String = String::from_utf8_lossy(&body).chars().take(300).collect();
                return Err(ChatError::Status {
                    status,
                    body: start,
                });
            }
            if call.stream {
                read_stream(&body, call.tool_name)
            } else {
                read_response(&body, call.tool_name)
            }
        };
        tokio::time::timeout(call.timeout, work)
            .await
            .map_err(|_| ChatError::Timeout)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_responses_give_the_tool_arguments_and_usage() {
        let body = json!({"id": "c1", "object": "chat.completion", "choices": [{"index": 0,
            "message": {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "respond", "arguments": "{\"action\":\"reply\",\"text\":\"Hi\",\"citations\":[1]}"}}]},
            "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 90, "completion_tokens": 12, "total_tokens": 102}});
        let t = read_response(body.to_string().as_bytes(), "respond").unwrap();
        assert_eq!(t.tokens, 102);
        assert!(t.arguments.contains("reply"));
        assert!(matches!(
            read_response(body.to_string().as_bytes(), "other"),
            Err(ChatError::NoToolCall)
        ));
        let prose =
            json!({"choices": [{"message": {"role": "assistant", "content": "reply: sure"}}]});
        assert!(matches!(
            read_response(prose.to_string().as_bytes(), "respond"),
            Err(ChatError::NoToolCall)
        ));
        assert!(matches!(
            read_response(b"not json", "respond"),
            Err(ChatError::Malformed(_))
        ));
    }

    #[test]
    fn streams_join_argument_pieces() {
        let chunks = [
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "respond", "arguments": ""}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"action\":\"re"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "ply\",\"text\":\"Hi\",\"citations\":[]}"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
            json!({"choices": [], "usage": {"total_tokens": 77}}),
        ];
        let mut sse = String::new();
        for c in &chunks {
            sse.push_str(&format!("data: {c}\n\n"));
        }
        let cut = sse.clone();
        sse.push_str("data: [DONE]\n\n");
        let t = read_stream(sse.as_bytes(), "respond").unwrap();
        assert_eq!(
            t.arguments,
            r#"{"action":"reply","text":"Hi","citations":[]}"#
        );
        assert_eq!(t.tokens, 77);
        assert!(matches!(
            read_stream(cut.as_bytes(), "respond"),
            Err(ChatError::Malformed(_))
        ));
    }

    #[test]
    fn the_request_forces_the_tool() {
        let base = url::Url::parse("http://127.0.0.1:1/v1").unwrap();
        let call = ChatCall {
            base_url: &base,
            model: "m",
            api_key: None,
            stream: true,
            timeout: std::time::Duration::from_secs(1),
            max_tokens: 100,
            messages: vec![("system", "s".into()), ("user", "u".into())],
            tool_name: "respond",
            tool_description: "d",
            tool_parameters: json!({"type": "object"}),
        };
        let b = request_body(&call);
        assert_eq!(b["tool_choice"]["function"]["name"], "respond");
        assert_eq!(b["messages"][1], json!({"role": "user", "content": "u"}));
        assert_eq!(b["stream_options"]["include_usage"], true);
    }
}
