//! The model gateway's decisions: what an agent's request to a model provider becomes on its way
//! out, and what the reply becomes on its way back.
//!
//! Threat answered: a prompt that carries credentials and personal data reaches a third party, and
//! a reply that needs them back gets placeholders. Secrets and personal data in every text the model
//! will read are replaced by placeholders that are stable within one conversation
//! ([`Conversation`]): the same value gets the same placeholder in every message and turn, so the
//! model can still reason about "the same address". Replies get the values back
//! ([`Restorer`]), also while streaming, holding back only what could be the start of a
//! placeholder. Nothing here does I/O: the sidecar feeds it bodies and chunks.

pub mod anthropic;
pub mod budget;
pub mod calls;
pub mod cfg;
mod common;
pub mod openai_chat;
pub mod output;
mod placeholders;
pub mod responses;
mod restore;

pub use placeholders::{
    Conversation, ConversationLimits, Conversations, Placeholders, Redaction, conversation_key,
    redact_text,
};
pub use restore::{Escape, Restorer, restore};

/// One server-sent event: its `event:` name, if any, and its `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (Anthropic names every event; OpenAI names none).
    pub name: Option<String>,
    /// The `data:` lines, joined by newlines.
    pub data: String,
}

/// What a stream restorer hands on for one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Emit {
    /// An event to send to the agent.
    Event(SseEvent),
    /// Tool calls the model proposed, held whole: judge each, then give the decisions to
    /// [`EventRestorer::resolve`], which says what the agent gets in their place.
    Calls(HeldCalls),
}

/// Tool calls a stream holds until they are judged, and where they go in the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldCalls {
    /// The calls, in the order the stream proposed them.
    pub calls: Vec<calls::ProposedCall>,
    /// Where they sit (the API's own bookkeeping).
    pub(crate) at: serde_json::Value,
}

/// Restores one API's event stream, event by event.
pub trait EventRestorer {
    /// One event from the provider: what to send on, in order. `Err` ends the stream with the
    /// API's error event (a stream that asks for more than the restorer keeps).
    fn event(&mut self, conv: &Conversation, ev: SseEvent) -> Result<Vec<Emit>, String>;
    /// The provider's stream ended: what is still held.
    fn flush(&mut self, conv: &Conversation) -> Vec<Emit>;
    /// The events that replace held calls, given a decision per call (in order).
    fn resolve(&mut self, held: HeldCalls, decisions: &[calls::CallDecision]) -> Vec<SseEvent>;
    /// The token counts the stream reported so far (`usage`).
    fn usage(&self) -> Option<serde_json::Value>;
    /// The id of the reply the stream carries, where the API continues a turn by it (Responses'
    /// `previous_response_id`).
    fn reply_id(&self) -> Option<String> {
        None
    }
    /// The event that tells this API's SDKs the stream broke off.
    fn error_event(message: &str) -> SseEvent
    where
        Self: Sized;
}

#[cfg(test)]
mod tests;
