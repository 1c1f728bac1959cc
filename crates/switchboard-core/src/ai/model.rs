//! The generative model behind a trait: core decides what to ask and how to read the answer;
//! an adapter (`switchboard-channels::openai`) speaks the chat-completions wire format.

use async_trait::async_trait;
use serde_json::{json, Value};
use std::time::Duration;

/// The one tool the model must call: its decision, as structured data (never parsed out of
/// prose).
pub const DECISION_TOOL: &str = "respond";

/// The decision tool's JSON Schema (its `parameters`).
pub fn decision_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["action", "text", "citations"],
        "properties": {
            "action": {"type": "string", "enum": ["reply", "handoff", "resolve"],
                       "description": "reply: answer the customer; resolve: answer and close the conversation; handoff: a person must take over"},
            "text": {"type": "string", "description": "The answer to the customer (empty for handoff)."},
            "citations": {"type": "array", "items": {"type": "integer", "minimum": 1},
                          "description": "Numbers of the passages the answer is based on."}
        }
    })
}

/// One request to a chat-completions endpoint.
#[derive(Debug, Clone)]
pub struct ChatCall<'a> {
    pub base_url: &'a url::Url,
    pub model: &'a str,
    pub api_key: Option<&'a str>,
    pub stream: bool,
    pub timeout: Duration,
    pub max_tokens: u32,
    /// `(role, content)` in order: `system`, then `user` / `assistant`.
    pub messages: Vec<(&'static str, String)>,
    /// The function the model must call, and its parameters' schema.
    pub tool_name: &'static str,
    pub tool_description: &'static str,
    pub tool_parameters: Value,
}

/// What came back: the forced tool call's arguments (a JSON text, unparsed), and the tokens the
/// call used as the endpoint reported them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub arguments: String,
    pub tokens: i64,
}

/// Why no decision came back.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("the model did not answer in time")]
    Timeout,
    #[error("the model endpoint is not allowed: {0}")]
    Blocked(String),
    #[error("the model endpoint answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the model's answer could not be read: {0}")]
    Malformed(String),
    #[error("the model did not call the {DECISION_TOOL} tool")]
    NoToolCall,
    #[error("{0}")]
    Transport(String),
}

/// A chat-completions client.
#[async_trait]
pub trait ChatModel: Send + Sync + std::fmt::Debug {
    async fn call_tool(&self, call: ChatCall<'_>) -> Result<ToolCall, ChatError>;
}

/// No generative model in this process: every call fails (and the conversation goes to people).
#[derive(Debug, Default)]
pub struct NoChatModel;

#[async_trait]
impl ChatModel for NoChatModel {
    async fn call_tool(&self, _call: ChatCall<'_>) -> Result<ToolCall, ChatError> {
        Err(ChatError::Transport(
            "no generative-model client is configured in this process".into(),
        ))
    }
}
