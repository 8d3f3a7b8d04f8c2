//! Detecting that a chat message asks the bot something.
//!
//! Two triggers exist: a mention of the bot's login (`@byte what's up?`, case-insensitive,
//! only as a whole word so `@bytesize` or `mail@byte.dev` do not count) and a command
//! (`!ask <question>`, from a configurable set). Everything else is ordinary chat. The bot's
//! own messages never trigger, or a reply that mentions itself would loop forever.
//!
//! Twitch logins are ASCII, so case folding is ASCII-only; ASCII lowercasing keeps byte
//! offsets, which lets us search the folded text and cut the original.

/// What makes the bot answer in a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerConfig {
    bot_login: String,
    commands: Vec<String>,
}

impl TriggerConfig {
    /// The bot's login (any case) and its commands, with or without the leading `!`
    /// (`["ask"]` and `["!ask"]` are the same).
    pub fn new<I, S>(bot_login: &str, commands: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let commands = commands
            .into_iter()
            .map(|c| {
                c.as_ref()
                    .trim()
                    .trim_start_matches('!')
                    .to_ascii_lowercase()
            })
            .filter(|c| !c.is_empty() && !c.contains(char::is_whitespace))
            .collect();
        Self {
            bot_login: bot_login
                .trim()
                .trim_start_matches('@')
                .to_ascii_lowercase(),
            commands,
        }
    }

    /// The bot's login, lowercase.
    pub fn bot_login(&self) -> &str {
        &self.bot_login
    }
}

/// How the bot was addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerKind {
    /// `@bot` somewhere in the message.
    Mention,
    /// A command, lowercase and without the `!` (e.g. `ask`).
    Command(String),
}

/// A message addressed to the bot, with the question it asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// Mention or command.
    pub kind: TriggerKind,
    /// The question: the message without the mention or the command, trimmed; never empty.
    pub question: String,
}

/// Whether `text`, sent by `sender`, asks the bot something. A bare mention or a command
/// without a question is not a trigger: there is nothing to answer.
pub fn detect(config: &TriggerConfig, sender: &str, text: &str) -> Option<Trigger> {
    if config.bot_login.is_empty() || sender.eq_ignore_ascii_case(&config.bot_login) {
        return None;
    }
    let text = text.trim();
    if let Some(trigger) = detect_command(config, text) {
        return Some(trigger);
    }
    detect_mention(config, text)
}

fn detect_command(config: &TriggerConfig, text: &str) -> Option<Trigger> {
    let rest = text.strip_prefix('!')?;
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let name = rest[..end].to_ascii_lowercase();
    if !config.commands.contains(&name) {
        return None;
    }
    let question = rest[end..].trim();
    (!question.is_empty()).then(|| Trigger {
        kind: TriggerKind::Command(name),
        question: question.to_owned(),
    })
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn detect_mention(config: &TriggerConfig, text: &str) -> Option<Trigger> {
    let needle = format!("@{}", config.bot_login);
    let folded = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = folded[from..].find(&needle) {
        let start = from + pos;
        let end = start + needle.len();
        let before_ok = !text[..start].chars().next_back().is_some_and(is_word);
        let after_ok = !text[end..].chars().next().is_some_and(is_word);
        if before_ok && after_ok {
            let before = text[..start].trim();
            let after = strip_address(&text[end..]);
            let glue = if after.starts_with(['?', '!', '.']) {
                ""
            } else {
                " "
            };
            let question = format!("{before}{glue}{after}");
            let question = question.trim();
            return (!question.is_empty()).then(|| Trigger {
                kind: TriggerKind::Mention,
                question: question.to_owned(),
            });
        }
        from = end;
    }
    None
}

/// `@bot, what?` / `@bot: what?` -> `what?`: the punctuation addressing the bot is not part
/// of the question.
fn strip_address(rest: &str) -> &str {
    rest.trim_start_matches([',', ':', ';', ' ', '\t']).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> TriggerConfig {
        TriggerConfig::new("Byte_Bot", ["ask", "!Why"])
    }

    fn q(sender: &str, text: &str) -> Option<(TriggerKind, String)> {
        detect(&config(), sender, text).map(|t| (t.kind, t.question))
    }

    #[test]
    fn commands_from_the_configured_set_trigger_with_their_question() {
        assert_eq!(
            q("viewer", "!ask what game is this?"),
            Some((
                TriggerKind::Command("ask".into()),
                "what game is this?".into()
            ))
        );
        assert_eq!(
            q("viewer", "  !WHY   so serious "),
            Some((TriggerKind::Command("why".into()), "so serious".into()))
        );
        assert_eq!(q("viewer", "!ask"), None, "no question");
        assert_eq!(q("viewer", "!ask    "), None);
        assert_eq!(
            q("viewer", "!asking something"),
            None,
            "a different command"
        );
        assert_eq!(q("viewer", "!lurk"), None);
        assert_eq!(
            q("viewer", "please !ask me"),
            None,
            "commands start the message"
        );
    }

    #[test]
    fn mentions_are_case_insensitive_whole_words() {
        assert_eq!(
            q("viewer", "@byte_bot, how long is the stream?"),
            Some((TriggerKind::Mention, "how long is the stream?".into()))
        );
        assert_eq!(
            q("viewer", "hey @BYTE_BOT what's next?"),
            Some((TriggerKind::Mention, "hey what's next?".into()))
        );
        assert_eq!(
            q("viewer", "what do you think @Byte_Bot?"),
            Some((TriggerKind::Mention, "what do you think?".into()))
        );
        assert_eq!(q("viewer", "@byte_botty hi"), None, "a longer login");
        assert_eq!(q("viewer", "mail@byte_bot hi"), None, "not at a word start");
        assert_eq!(q("viewer", "byte_bot hi"), None, "no @");
        assert_eq!(q("viewer", "@byte_bot"), None, "nothing asked");
        assert_eq!(
            q("viewer", "@byte_botty and @byte_bot: hi"),
            Some((TriggerKind::Mention, "@byte_botty and hi".into())),
            "the second, real mention counts"
        );
    }

    #[test]
    fn the_bots_own_messages_never_trigger() {
        assert_eq!(q("byte_bot", "!ask anything"), None);
        assert_eq!(q("Byte_Bot", "@byte_bot hello"), None);
    }

    #[test]
    fn non_ascii_text_around_a_mention_is_cut_safely() {
        assert_eq!(
            q("viewer", "ÄÖÜ @byte_bot ünïcödé?"),
            Some((TriggerKind::Mention, "ÄÖÜ ünïcödé?".into()))
        );
        assert_eq!(q("viewer", "é@byte_bot x"), None, "a letter before the @");
    }

    #[test]
    fn an_empty_bot_login_triggers_nothing() {
        let config = TriggerConfig::new("", ["ask"]);
        assert_eq!(detect(&config, "viewer", "@ hi"), None);
        assert_eq!(detect(&config, "viewer", "!ask hi"), None);
    }

    proptest::proptest! {
        #[test]
        fn detection_never_panics_and_questions_are_never_empty(
            sender in "[a-z_]{0,8}",
            text in "(\\PC|@byte_bot|!ask| ){0,40}",
        ) {
            if let Some(t) = detect(&config(), &sender, &text) {
                proptest::prop_assert!(!t.question.trim().is_empty());
                proptest::prop_assert!(sender != "byte_bot");
            }
        }
    }
}
