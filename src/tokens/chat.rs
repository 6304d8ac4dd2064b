//! Prompt tokens of a whole Chat Completions request, as the API reports `prompt_tokens`.
//!
//! Rules (OpenAI cookbook "How to count tokens with tiktoken", verified there against the API):
//! every message costs `tokens_per_message` plus the tokens of each of its string fields (role,
//! content, name, …), `name` costs `tokens_per_name` more, and the reply is primed with
//! `reply_priming` tokens. Tool definitions cost, per function, `func_init` + tokens of
//! `"name:description"` (one trailing "." dropped), then if it has properties `prop_init` and
//! per property `prop_key` + tokens of `"name:type:description"`, with `enum_init` and per enum
//! item `enum_item` + its tokens; `func_end` once after all functions. The constants are per
//! model in the catalog.
//!
//! Choices where the cookbook is silent (documented in the README): content parts are counted
//! one by one and summed; `image_url` parts cost the catalog's image formula (see [`super::image`]);
//! an assistant's `tool_calls` / `function_call` cost the tokens of the function name plus the
//! arguments string; legacy `functions` are counted like `tools`; nested object properties are
//! not expanded. Malformed requests are errors naming the JSON path.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::Tokenizer;
use super::image::{Detail, data_url_size, image_tokens};
use crate::catalog::{ChatOverhead, ImageParams, ToolOverhead};

/// A Chat Completions request body (fields spillway does not count are ignored).
#[derive(Debug, Deserialize)]
pub struct ChatRequest<'a> {
    #[serde(borrow)]
    pub messages: Vec<Message<'a>>,
    #[serde(default, borrow)]
    pub tools: Option<Vec<Tool<'a>>>,
    #[serde(default, borrow)]
    pub functions: Option<Vec<Function<'a>>>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub max_completion_tokens: Option<u64>,
    #[serde(default, borrow)]
    pub model: Option<Cow<'a, str>>,
}

impl ChatRequest<'_> {
    /// `max_completion_tokens`, else `max_tokens`.
    pub fn max_tokens(&self) -> Option<u64> {
        self.max_completion_tokens.or(self.max_tokens)
    }
}

#[derive(Debug, Deserialize)]
pub struct Message<'a> {
    #[serde(borrow)]
    pub role: Cow<'a, str>,
    #[serde(default, borrow)]
    pub content: Content<'a>,
    #[serde(default, borrow)]
    pub name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub tool_calls: Option<Vec<ToolCall<'a>>>,
    #[serde(default, borrow)]
    pub function_call: Option<FunctionCall<'a>>,
    #[serde(default, borrow)]
    pub tool_call_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub refusal: Option<Cow<'a, str>>,
}

/// Message content: a string, an array of parts, or absent / null.
#[derive(Debug, Default)]
pub enum Content<'a> {
    #[default]
    None,
    Text(Cow<'a, str>),
    Parts(Vec<Part<'a>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for Content<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Content<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, an array of content parts, or null")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Content::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Content::Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Content::Text(Cow::Owned(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Content::None)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Content::None)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut parts = Vec::new();
                while let Some(p) = seq.next_element::<Part<'a>>()? {
                    parts.push(p);
                }
                Ok(Content::Parts(parts))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// One content part.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part<'a> {
    Text {
        #[serde(borrow)]
        text: Cow<'a, str>,
    },
    ImageUrl {
        #[serde(borrow)]
        image_url: ImageUrl<'a>,
    },
    Refusal {
        #[serde(borrow)]
        refusal: Cow<'a, str>,
    },
}

#[derive(Debug, Deserialize)]
pub struct ImageUrl<'a> {
    #[serde(borrow)]
    pub url: Cow<'a, str>,
    #[serde(default, borrow)]
    pub detail: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub struct ToolCall<'a> {
    #[serde(borrow)]
    pub function: FunctionCall<'a>,
}

#[derive(Debug, Deserialize)]
pub struct FunctionCall<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub arguments: Cow<'a, str>,
}

#[derive(Debug, Deserialize)]
pub struct Tool<'a> {
    #[serde(borrow)]
    pub function: Function<'a>,
}

#[derive(Debug, Deserialize)]
pub struct Function<'a> {
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(default, borrow)]
    pub description: Option<Cow<'a, str>>,
    #[serde(default)]
    pub parameters: Option<Parameters>,
}

#[derive(Debug, Deserialize)]
pub struct Parameters {
    #[serde(default)]
    pub properties: BTreeMap<String, Property>,
}

#[derive(Debug, Deserialize)]
pub struct Property {
    #[serde(default, rename = "type")]
    pub kind: Option<serde_json::Value>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, rename = "enum")]
    pub enum_values: Option<Vec<serde_json::Value>>,
}

/// A request that cannot be counted, with the JSON path to fix.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ChatError {
    pub path: String,
    pub message: String,
}

/// Parses a request body; errors name the JSON path (`messages[2].content`) or line and column.
pub fn parse_request(json: &str) -> Result<ChatRequest<'_>, ChatError> {
    let de = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if inner.is_syntax() || inner.is_eof() {
            format!(
                "invalid JSON at line {} column {}: {inner}",
                inner.line(),
                inner.column()
            )
        } else {
            // serde_json appends " at line L column C"; keep it, it locates the value.
            inner.to_string()
        };
        ChatError {
            path: if path == "." {
                "request".to_string()
            } else {
                path
            },
            message,
        }
    })
}

/// What counting needs to know about the model.
#[derive(Debug, Clone, Copy)]
pub struct ChatRules<'a> {
    pub tokenizer: &'a Tokenizer,
    pub chat: ChatOverhead,
    pub tools: Option<ToolOverhead>,
    pub image: Option<ImageParams>,
    pub allow_special: bool,
    /// Size used for images whose size cannot be read (remote URLs).
    pub default_image_size: Option<(u64, u64)>,
}

impl ChatRules<'static> {
    /// The rules of catalog model `m`: its tokenizer and overheads.
    pub fn for_model(
        m: &crate::catalog::Model,
        allow_special: bool,
        default_image_size: Option<(u64, u64)>,
    ) -> ChatRules<'static> {
        ChatRules {
            tokenizer: crate::tokens::tokenizer(m.encoding()),
            chat: m.chat,
            tools: m.tools,
            image: m.image,
            allow_special,
            default_image_size,
        }
    }
}

/// One line of a per-message breakdown: a message's text and overhead (`messages[2]`), its
/// images on a line of their own (`messages[2] images (3)`), the tools, the reply priming.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ChatPartCount {
    pub part: String,
    pub role: Option<String>,
    pub tokens: i64,
}

/// Prompt tokens of a request, with the breakdown.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ChatCount {
    pub prompt_tokens: u64,
    pub image_tokens: u64,
    pub parts: Vec<ChatPartCount>,
}

/// The parts of a request that cost prompt tokens (borrowed from wherever they were parsed).
#[derive(Debug, Clone, Copy)]
pub struct ChatBody<'r, 'a> {
    pub messages: &'r [Message<'a>],
    pub tools: &'r [Tool<'a>],
    pub functions: &'r [Function<'a>],
}

impl<'r, 'a> From<&'r ChatRequest<'a>> for ChatBody<'r, 'a> {
    fn from(req: &'r ChatRequest<'a>) -> Self {
        ChatBody {
            messages: &req.messages,
            tools: req.tools.as_deref().unwrap_or(&[]),
            functions: req.functions.as_deref().unwrap_or(&[]),
        }
    }
}

/// Counts the prompt tokens of `req` under `rules`, with the per-message breakdown.
pub fn count_request(req: &ChatRequest<'_>, rules: &ChatRules<'_>) -> Result<ChatCount, ChatError> {
    count_body(ChatBody::from(req), rules, true)
}

/// Prompt tokens of `messages` messages, `names` of them named, whose string fields (role,
/// content, name, calls) count `text` tokens in all, with no tools or images: the rule of
/// [`count_body`] applied to sums, for readers that count text as they meet it.
pub fn prompt_tokens_of_sums(chat: &ChatOverhead, messages: i64, names: i64, text: i64) -> u64 {
    let total = messages * chat.tokens_per_message
        + names * chat.tokens_per_name
        + text
        + chat.reply_priming;
    total.max(0) as u64
}

/// Counts the prompt tokens of `body`; the breakdown (`parts`) is filled when `breakdown`.
pub fn count_body(
    body: ChatBody<'_, '_>,
    rules: &ChatRules<'_>,
    breakdown: bool,
) -> Result<ChatCount, ChatError> {
    let t = rules.tokenizer;
    let text = |s: &str| t.count(s, rules.allow_special) as i64;
    let mut parts = Vec::with_capacity(if breakdown {
        body.messages.len() + 2
    } else {
        0
    });
    let mut total: i64 = 0;
    let mut images: u64 = 0;
    for (i, m) in body.messages.iter().enumerate() {
        let mut n = rules.chat.tokens_per_message + text(&m.role);
        // Image tokens of this message, and how many images: their own breakdown line.
        let (mut image_tokens, mut image_count) = (0i64, 0usize);
        match &m.content {
            Content::None => {}
            Content::Text(s) => n += text(s),
            Content::Parts(ps) => {
                for (j, p) in ps.iter().enumerate() {
                    match p {
                        Part::Text { text: s } | Part::Refusal { refusal: s } => n += text(s),
                        Part::ImageUrl { image_url } => {
                            let path = format!("messages[{i}].content[{j}].image_url");
                            let k = count_image(image_url, rules, &path)?;
                            images += k;
                            image_tokens += k as i64;
                            image_count += 1;
                        }
                    }
                }
            }
        }
        if let Some(name) = &m.name {
            n += text(name) + rules.chat.tokens_per_name;
        }
        for call in m.tool_calls.iter().flatten() {
            n += text(&call.function.name) + text(&call.function.arguments);
        }
        if let Some(call) = &m.function_call {
            n += text(&call.name) + text(&call.arguments);
        }
        if let Some(id) = &m.tool_call_id {
            n += text(id);
        }
        if let Some(r) = &m.refusal {
            n += text(r);
        }
        total += n + image_tokens;
        if breakdown {
            parts.push(ChatPartCount {
                part: format!("messages[{i}]"),
                role: Some(m.role.to_string()),
                tokens: n,
            });
            if image_count > 0 {
                parts.push(ChatPartCount {
                    part: format!(
                        "messages[{i}] image{}",
                        if image_count == 1 {
                            String::new()
                        } else {
                            format!("s ({image_count})")
                        }
                    ),
                    role: Some(m.role.to_string()),
                    tokens: image_tokens,
                });
            }
        }
    }
    let functions: Vec<&Function<'_>> = body
        .tools
        .iter()
        .map(|t| &t.function)
        .chain(body.functions.iter())
        .collect();
    if !functions.is_empty() {
        let c = rules.tools.ok_or_else(|| ChatError {
            path: "tools".into(),
            message: "the catalog has no tool-definition overhead for this model".into(),
        })?;
        let n = count_tools(&functions, &c, &text);
        total += n;
        if breakdown {
            parts.push(ChatPartCount {
                part: format!(
                    "tools ({} function{})",
                    functions.len(),
                    if functions.len() == 1 { "" } else { "s" }
                ),
                role: None,
                tokens: n,
            });
        }
    }
    total += rules.chat.reply_priming;
    if breakdown {
        parts.push(ChatPartCount {
            part: "reply priming".into(),
            role: None,
            tokens: rules.chat.reply_priming,
        });
    }
    Ok(ChatCount {
        prompt_tokens: total.max(0) as u64,
        image_tokens: images,
        parts,
    })
}

fn count_image(img: &ImageUrl<'_>, rules: &ChatRules<'_>, path: &str) -> Result<u64, ChatError> {
    let params = rules.image.as_ref().ok_or_else(|| ChatError {
        path: path.to_string(),
        message: "this model does not accept images (no image rule in the catalog)".into(),
    })?;
    let detail = match img.detail.as_deref() {
        None | Some("auto") => Detail::Auto,
        Some("low") => Detail::Low,
        Some("high") => Detail::High,
        Some(other) => {
            return Err(ChatError {
                path: format!("{path}.detail"),
                message: format!("unknown detail '{other}' (expected low, high or auto)"),
            });
        }
    };
    let needs_size = !(detail == Detail::Low && matches!(params, ImageParams::Tile { .. }));
    if !needs_size {
        return Ok(image_tokens(params, 0, 0, detail));
    }
    let (w, h) = if img.url.starts_with("data:") {
        data_url_size(&img.url).map_err(|e| ChatError {
            path: format!("{path}.url"),
            message: e.to_string(),
        })?
    } else {
        rules.default_image_size.ok_or_else(|| ChatError {
            path: format!("{path}.url"),
            message: "the size of a remote image cannot be read offline; pass --image-size WxH"
                .into(),
        })?
    };
    Ok(image_tokens(params, w, h, detail))
}

fn count_tools(functions: &[&Function<'_>], c: &ToolOverhead, text: &dyn Fn(&str) -> i64) -> i64 {
    let mut n = 0;
    for f in functions {
        n += c.func_init;
        let desc = f.description.as_deref().unwrap_or("");
        let desc = desc.strip_suffix('.').unwrap_or(desc);
        n += text(&format!("{}:{}", f.name, desc));
        let Some(params) = &f.parameters else {
            continue;
        };
        if params.properties.is_empty() {
            continue;
        }
        n += c.prop_init;
        for (key, p) in &params.properties {
            n += c.prop_key;
            if let Some(values) = &p.enum_values {
                n += c.enum_init;
                for v in values {
                    n += c.enum_item;
                    n += match v {
                        serde_json::Value::String(s) => text(s),
                        other => text(&other.to_string()),
                    };
                }
            }
            let kind = match &p.kind {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Array(a)) => a
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(","),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            let pdesc = p.description.as_deref().unwrap_or("");
            let pdesc = pdesc.strip_suffix('.').unwrap_or(pdesc);
            n += text(&format!("{key}:{kind}:{pdesc}"));
        }
    }
    n + c.func_end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn rules(model: &str) -> ChatRules<'static> {
        ChatRules::for_model(Catalog::embedded().model(model).unwrap(), false, None)
    }

    const COOKBOOK_MESSAGES: &str = r#"{"messages": [
        {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
        {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
        {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
        {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
        {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
        {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."}
    ]}"#;

    const COOKBOOK_TOOLS: &str = r#"{"messages": [
        {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
        {"role": "user", "content": "What's the weather like in San Francisco?"}
    ], "tools": [{"type": "function", "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {"type": "object", "properties": {
            "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
            "unit": {"type": "string", "description": "The unit of temperature to return", "enum": ["celsius", "fahrenheit"]}
        }, "required": ["location"]}
    }}]}"#;

    #[test]
    fn cookbook_messages_count_like_the_api_on_gpt4_and_gpt4o() {
        let req = parse_request(COOKBOOK_MESSAGES).unwrap();
        assert_eq!(
            count_request(&req, &rules("gpt-4")).unwrap().prompt_tokens,
            129
        );
        assert_eq!(
            count_request(&req, &rules("gpt-4o")).unwrap().prompt_tokens,
            124
        );
    }

    #[test]
    fn cookbook_tools_count_like_the_api_on_gpt4_and_gpt4o() {
        let req = parse_request(COOKBOOK_TOOLS).unwrap();
        assert_eq!(
            count_request(&req, &rules("gpt-4o")).unwrap().prompt_tokens,
            101
        );
        assert_eq!(
            count_request(&req, &rules("gpt-4")).unwrap().prompt_tokens,
            105
        );
    }

    #[test]
    fn breakdown_sums_to_total() {
        let req = parse_request(COOKBOOK_TOOLS).unwrap();
        let c = count_request(&req, &rules("gpt-4o")).unwrap();
        assert_eq!(
            c.parts.iter().map(|p| p.tokens).sum::<i64>() as u64,
            c.prompt_tokens
        );
        assert_eq!(c.parts.last().unwrap().part, "reply priming");
    }

    #[test]
    fn image_parts_use_the_model_formula() {
        let json = r#"{"messages":[{"role":"user","content":[
            {"type":"text","text":"What is in this picture?"},
            {"type":"image_url","image_url":{"url":"https://example.com/a.png","detail":"high"}}]}]}"#;
        let req = parse_request(json).unwrap();
        let mut r = rules("gpt-4o");
        let err = count_request(&req, &r).unwrap_err();
        assert_eq!(err.path, "messages[0].content[1].image_url.url");
        r.default_image_size = Some((1024, 1024));
        let c = count_request(&req, &r).unwrap();
        assert_eq!(c.image_tokens, 765);
    }

    #[test]
    fn malformed_request_names_the_json_path() {
        let err = parse_request(
            r#"{"messages":[{"role":"user","content":"hi"},{"role":"user","content":42}]}"#,
        )
        .unwrap_err();
        assert!(err.path.starts_with("messages[1].content"), "{err}");
        let err = parse_request(r#"{"messages":[{"content":"hi"}]}"#).unwrap_err();
        assert!(err.to_string().contains("role"), "{err}");
        let err = parse_request("{\"messages\": [").unwrap_err();
        assert!(err.message.contains("line 1"), "{err}");
        let err =
            parse_request(r#"{"messages":[{"role":"user","content":[{"type":"input_audio"}]}]}"#)
                .unwrap_err();
        assert!(err.path.starts_with("messages[0].content"), "{err}");
    }

    #[test]
    fn null_content_and_tool_calls_count() {
        let json = r#"{"messages":[{"role":"assistant","content":null,
            "tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}}]},
            {"role":"tool","tool_call_id":"call_1","content":"42"}]}"#;
        let req = parse_request(json).unwrap();
        let c = count_request(&req, &rules("gpt-4o")).unwrap();
        assert!(c.prompt_tokens > 10);
    }
}
