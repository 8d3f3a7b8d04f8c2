//! Chat replies: the pure domain of answering viewers in chat.
//!
//! A reply goes through a fixed pipeline, each stage a small pure module so the channel actor
//! (which owns the state) and the IRC sending edge (which owns the socket) only wire them:
//!
//! 1. [`trigger`]: is this chat message addressed to the bot (a mention or a command), and
//!    what is the question?
//! 2. [`gate`]: should we answer now? Debounces bursts per channel, applies per-user
//!    cooldowns, and honours the channel's pause and the fleet's suspend switch.
//! 3. [`prompt`]: the messages sent to the model: the persona as the system prompt, operator
//!    notes and live context as delimited data, and the viewer's words as escaped, untrusted
//!    data that cannot close its own block.
//! 4. [`sanitize`]: the model's answer made safe for Twitch chat (one line, no commands, no
//!    foreign links, no leaked canary, at most 500 characters per message, split sensibly).
//! 5. [`ratelimit`]: Twitch's send limits for the bot account (20 messages per 30 s, or 100
//!    to channels where it is a moderator; never the same text twice within 30 s), checked
//!    right before each send.
//!
//! [`budget`] holds the daily LLM budgets every model call reserves against.
//!
//! Beside the pipeline, [`report`] builds the post-stream report (figures, narrative prompt,
//! Markdown) from a closed session.
//!
//! Time is always an argument (`now`), never read here, so every rule is testable exactly.

pub mod budget;
pub mod gate;
pub mod prompt;
pub mod ratelimit;
pub mod report;
pub mod sanitize;
pub mod trigger;
