//! Semantic memory, the core's side: what a memory entry is, the one port every embeddings
//! engine implements ([`Embedder`]), the port channel actors hand enrichment candidates to
//! ([`MemorySink`]), and the pure enrichment rules ([`enrich`]).
//!
//! The edge (`bytebot::memory`) implements the ports: a local all-MiniLM-L6-v2 or an
//! OpenAI-compatible endpoint behind a bounded worker pool, and the pgvector store. Nothing
//! here does I/O; a channel actor only decides *what* is worth remembering and hands it off,
//! so embedding (tens of milliseconds) never blocks its mailbox.

pub mod enrich;

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::ChannelLogin;

/// Dimension of every stored embedding (the `vector(384)` column; all-MiniLM-L6-v2's output).
pub const EMBEDDING_DIM: usize = 384;

/// Longest memory text, in characters (the column's check constraint).
pub const MAX_TEXT_CHARS: usize = 2000;

/// What a memory is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryKind {
    /// Something true about the channel or the streamer.
    Fact,
    /// A regular viewer and what they care about.
    Viewer,
    /// A past highlight of the stream.
    Highlight,
    /// A rule of the channel.
    Rule,
    /// Anything else an operator wants kept.
    Note,
}

impl MemoryKind {
    /// Every kind, in display order.
    pub const ALL: [MemoryKind; 5] = [
        MemoryKind::Fact,
        MemoryKind::Viewer,
        MemoryKind::Highlight,
        MemoryKind::Rule,
        MemoryKind::Note,
    ];

    /// Stable name, as stored and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryKind::Fact => "fact",
            MemoryKind::Viewer => "viewer",
            MemoryKind::Highlight => "highlight",
            MemoryKind::Rule => "rule",
            MemoryKind::Note => "note",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// Where a memory came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemorySource {
    /// Written by a person through the API or dashboard.
    Operator,
    /// Taken from chat (e.g. the streamer telling the bot a fact).
    Chat,
    /// Taken from a stream report.
    Report,
    /// Derived automatically from the stream (clip moments, regulars' topics).
    Enrichment,
}

impl MemorySource {
    /// Every source.
    pub const ALL: [MemorySource; 4] = [
        MemorySource::Operator,
        MemorySource::Chat,
        MemorySource::Report,
        MemorySource::Enrichment,
    ];

    /// Stable name, as stored and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            MemorySource::Operator => "operator",
            MemorySource::Chat => "chat",
            MemorySource::Report => "report",
            MemorySource::Enrichment => "enrichment",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// Something worth remembering, before it is embedded and stored. Whom or when it is about
/// is read from its text ([`MemoryCandidate::merge_scope`]) rather than kept in a field:
/// the texts enrichment writes say it, and every producer keeps one shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryCandidate {
    /// What it is about.
    pub kind: MemoryKind,
    /// The text to remember (and to embed).
    pub text: String,
    /// Where it came from.
    pub source: MemorySource,
    /// Importance (added to an existing near-duplicate's weight when merged).
    pub weight: f32,
}

/// Which stored entries a candidate may be merged into as a near-duplicate (always within
/// its channel and kind). Derived from the candidate itself ([`MemoryCandidate::merge_scope`])
/// and stored with the entry (`subject`, `occurred_at`), so the rule needs no extra input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeScope {
    /// Any entry of the same kind (facts, rules, notes: one channel, one truth).
    Kind,
    /// Only entries about the same viewer (lower-case name): "alice often talks about X"
    /// and "bob often talks about X" are alike by meaning but about different people.
    Subject(String),
    /// Only entries of the same moment: two highlights described alike are still two
    /// events unless they happened within the service's same-moment window.
    Moment(DateTime<Utc>),
    /// Never merged: a viewer memory whose viewer, or a highlight whose time, is unknown.
    Never,
}

impl MergeScope {
    /// The viewer the entry is about, as stored.
    pub fn subject(&self) -> Option<&str> {
        match self {
            MergeScope::Subject(s) => Some(s),
            _ => None,
        }
    }

    /// When the entry's moment happened, as stored.
    pub fn occurred_at(&self) -> Option<DateTime<Utc>> {
        match self {
            MergeScope::Moment(t) => Some(*t),
            _ => None,
        }
    }
}

impl MemoryCandidate {
    /// Where this candidate may merge: viewer memories by their viewer, highlights by their
    /// moment, as written by [`enrich::viewer_text`] and [`enrich::highlight_text`]; any
    /// other viewer or highlight text is never merged (who or when it is about is unknown).
    pub fn merge_scope(&self) -> MergeScope {
        match self.kind {
            MemoryKind::Viewer => {
                enrich::viewer_subject(&self.text).map_or(MergeScope::Never, MergeScope::Subject)
            }
            MemoryKind::Highlight => {
                enrich::highlight_moment(&self.text).map_or(MergeScope::Never, MergeScope::Moment)
            }
            MemoryKind::Fact | MemoryKind::Rule | MemoryKind::Note => MergeScope::Kind,
        }
    }
}

/// What became of a candidate handed to the [`MemorySink`]; sent back to the channel actor.
#[derive(Debug, Clone, PartialEq)]
pub enum MemoryOutcome {
    /// Stored as a new entry.
    Added {
        /// The entry's id.
        id: i64,
        /// Its kind.
        kind: MemoryKind,
    },
    /// A near-duplicate existed; it was updated (weight bumped) instead.
    Merged {
        /// The existing entry's id.
        id: i64,
        /// Its kind.
        kind: MemoryKind,
        /// Cosine similarity between the candidate and the entry.
        similarity: f64,
    },
    /// Embedding or storing failed; nothing was written.
    Failed {
        /// Why, for logs (never chat text).
        reason: String,
    },
}

/// Why an embeddings engine gave no vectors.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EmbedError {
    /// Every worker is busy and the queue is full: retry later.
    #[error("the embeddings queue is full ({0} waiting)")]
    Overloaded(usize),
    /// The engine (model files, endpoint) cannot be reached or loaded.
    #[error("embeddings engine unavailable: {0}")]
    Unavailable(String),
    /// The engine answered with vectors of another dimension than the column's.
    #[error(
        "the embeddings model returned {got}-dimensional vectors but memory stores {expected}; \
         configure a model with {expected} dimensions (e.g. all-MiniLM-L6-v2)"
    )]
    Dimension {
        /// The column's dimension.
        expected: usize,
        /// What the engine returned.
        got: usize,
    },
    /// The input or the answer was unusable.
    #[error("embeddings failed: {0}")]
    Invalid(String),
}

/// The one port every embeddings engine implements: text in, unit-length vectors out.
#[async_trait]
pub trait Embedder: Send + Sync + 'static {
    /// Which engine this is (`local` or `endpoint`), a bounded metric label.
    fn engine(&self) -> &'static str;

    /// The model's name, for diagnostics.
    fn model(&self) -> &str;

    /// One vector per text, in order, each L2-normalised and [`EMBEDDING_DIM`] long.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// A candidate the memory service refused to queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("memory queue full; candidate dropped")]
pub struct Rejected;

/// Where channel actors hand enrichment candidates: the memory service embeds them on its
/// worker pool, deduplicates against the channel's entries, stores them, and sends the
/// [`MemoryOutcome`] back to `reply` as [`crate::channel::ChannelMessage::Memory`].
pub trait MemorySink: Send + Sync + fmt::Debug + 'static {
    /// Queues `candidate` for `channel` without waiting; refuses when the queue is full.
    fn submit(
        &self,
        channel: &ChannelLogin,
        candidate: MemoryCandidate,
        reply: Option<ractor::ActorRef<crate::channel::ChannelMessage>>,
    ) -> Result<(), Rejected>;
}

/// Cosine similarity of two vectors (0 when either is zero-length).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

/// Checks an engine's answer: one vector per input, each [`EMBEDDING_DIM`] long and finite.
pub fn check_vectors(inputs: usize, vectors: &[Vec<f32>]) -> Result<(), EmbedError> {
    if vectors.len() != inputs {
        return Err(EmbedError::Invalid(format!(
            "{} vectors for {inputs} inputs",
            vectors.len()
        )));
    }
    if let Some(v) = vectors.iter().find(|v| v.len() != EMBEDDING_DIM) {
        return Err(EmbedError::Dimension {
            expected: EMBEDDING_DIM,
            got: v.len(),
        });
    }
    if vectors.iter().flatten().any(|x| !x.is_finite()) {
        return Err(EmbedError::Invalid("non-finite value in a vector".into()));
    }
    Ok(())
}

/// Scales `v` to unit length in place (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    if norm > 0.0 {
        for x in v {
            *x = (f64::from(*x) / norm) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in MemoryKind::ALL {
            assert_eq!(MemoryKind::parse(k.as_str()), Some(k));
        }
        for s in MemorySource::ALL {
            assert_eq!(MemorySource::parse(s.as_str()), Some(s));
        }
        assert_eq!(MemoryKind::parse("Fact"), None);
    }

    #[test]
    fn merge_scopes_follow_whom_and_when() {
        use chrono::TimeZone;
        let c = |kind, text: &str, source| MemoryCandidate {
            kind,
            text: text.into(),
            source,
            weight: 1.0,
        };
        let enriched = MemorySource::Enrichment;
        assert_eq!(
            c(MemoryKind::Fact, "The cat is Miso", MemorySource::Chat).merge_scope(),
            MergeScope::Kind
        );
        let alice = c(
            MemoryKind::Viewer,
            "alice often talks about zelda",
            enriched,
        );
        let bob = c(MemoryKind::Viewer, "Bob often talks about zelda", enriched);
        assert_eq!(alice.merge_scope(), MergeScope::Subject("alice".into()));
        assert_eq!(bob.merge_scope().subject(), Some("bob"));
        assert_eq!(
            c(
                MemoryKind::Viewer,
                "a regular who loves zelda",
                MemorySource::Report
            )
            .merge_scope(),
            MergeScope::Never
        );
        let h = c(
            MemoryKind::Highlight,
            "Highlight on 2026-03-01 20:06 UTC: chat 5x faster",
            enriched,
        );
        let at = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 20, 6, 0).unwrap();
        assert_eq!(h.merge_scope(), MergeScope::Moment(at));
        assert_eq!(h.merge_scope().occurred_at(), Some(at));
        assert_eq!(
            c(
                MemoryKind::Highlight,
                "The boss fight",
                MemorySource::Operator
            )
            .merge_scope(),
            MergeScope::Never
        );
    }

    #[test]
    fn wrong_dimensions_are_named() {
        let err = check_vectors(1, &[vec![0.0; 768]]).unwrap_err();
        assert_eq!(
            err,
            EmbedError::Dimension {
                expected: 384,
                got: 768
            }
        );
        assert!(err.to_string().contains("768"));
        assert!(check_vectors(2, &[vec![0.0; 384]]).is_err());
        assert!(check_vectors(1, &[vec![0.5; 384]]).is_ok());
    }

    #[test]
    fn cosine_and_normalisation_agree() {
        let mut a = vec![3.0, 4.0];
        normalize(&mut a);
        assert!((a[0] - 0.6).abs() < 1e-6 && (a[1] - 0.8).abs() < 1e-6);
        assert!((cosine(&a, &[6.0, 8.0]) - 1.0).abs() < 1e-9);
        assert_eq!(cosine(&[0.0, 0.0], &a), 0.0);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-12);
    }
}
