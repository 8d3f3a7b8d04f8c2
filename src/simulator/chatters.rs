//! The pool of chatters of one channel: stable logins and user ids, roles and badges, and the
//! tag segments of their PRIVMSG lines rendered once up front.
//!
//! A chatter's badges, colour and identity do not change while the simulator runs, so the parts
//! of a PRIVMSG that depend only on the sender are rendered once; the hot path then only writes
//! the per-message tags (`emotes`, `id`, `tmi-sent-ts`, ...) and the text.

use std::collections::HashSet;
use std::fmt::Write as _;

use bytes::BytesMut;
use rand::Rng;
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;

use super::ids::twitch_id_for;
use super::tags::push_escaped;

/// Default name colours Twitch hands out.
const COLORS: &[&str] = &[
    "#FF0000", "#0000FF", "#008000", "#B22222", "#FF7F50", "#9ACD32", "#FF4500", "#2E8B57",
    "#DAA520", "#D2691E", "#5F9EA0", "#1E90FF", "#FF69B4", "#8A2BE2", "#00FF7F", "#19E6E6",
];

const LOGIN_HEADS: &[&str] = &[
    "dark", "pixel", "gamer", "lucas", "ana", "joao", "mari", "fox", "neo", "bia", "rafa", "zeca",
    "lil", "big", "mr", "kiwi", "sun", "moon", "bruno", "carla", "felipe", "vini", "gabi", "tiago",
    "duda", "night", "ghost", "turbo", "coffee", "taco", "panda", "ninja", "shadow", "storm",
    "frost", "pedro", "julia", "sam", "alex", "chris", "emily", "noah", "leo", "nina",
];
const LOGIN_TAILS: &[&str] = &[
    "wolf", "king", "queen", "master", "player", "br", "tv", "gamer", "lord", "cat", "dog",
    "rider", "hunter", "maker", "zinho", "inha", "plays", "live", "fps", "bot",
];
const LOCALIZED_NAMES: &[&str] = &["테스트계정", "ゆきねこ", "小明", "Лёша", "مرحبا"];

/// One chatter of a channel.
#[derive(Debug, Clone)]
pub(crate) struct Chatter {
    pub(crate) login: String,
    pub(crate) display_name: String,
    pub(crate) user_id: u64,
    pub(crate) is_broadcaster: bool,
    pub(crate) is_mod: bool,
    pub(crate) is_vip: bool,
    pub(crate) sub_months: u32,
    pub(crate) color: &'static str,
    pub(crate) badge_info: String,
    pub(crate) badges: String,
    pub(crate) user_type: &'static str,
    pub(crate) turbo: bool,
    /// `badge-info=..;badges=..;` (alphabetically the tags before `bits`).
    pub(crate) seg_badges: Vec<u8>,
    /// `color=..;display-name=..;` (between `bits` and `emotes`).
    pub(crate) seg_color: Vec<u8>,
    /// `;turbo=..;user-id=..;user-type=..[;vip=1] :login!login@login.tmi.twitch.tv PRIVMSG #chan :`
    pub(crate) seg_privmsg_tail: Vec<u8>,
}

impl Chatter {
    pub(crate) fn is_subscriber(&self) -> bool {
        self.sub_months > 0
    }

    /// The name other chatters would type after `@`.
    pub(crate) fn mention_name(&self) -> &str {
        if self.display_name.is_ascii() && !self.display_name.contains(' ') {
            &self.display_name
        } else {
            &self.login
        }
    }
}

/// The subscriber badge version Twitch shows for a tenure (tier 1).
fn sub_badge_version(months: u32) -> u32 {
    match months {
        0..=2 => 0,
        3..=5 => 3,
        6..=8 => 6,
        9..=11 => 9,
        12..=23 => 12,
        24..=35 => 24,
        _ => 36,
    }
}

fn camel(parts: &[&str]) -> String {
    let mut out = String::new();
    for p in parts {
        let mut chars = p.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

/// Builds the chatter pool of `channel`: index 0 is the broadcaster, the rest (at least two,
/// so a gifter can always pick someone else) are viewers.
pub(crate) fn build_pool(channel: &str, size: usize, rng: &mut SmallRng) -> Vec<Chatter> {
    let size = size.max(3);
    let mut taken: HashSet<String> = HashSet::with_capacity(size);
    let mut pool = Vec::with_capacity(size);
    taken.insert(channel.to_owned());
    pool.push(render(channel, broadcaster_profile(channel, rng)));

    while pool.len() < size {
        let head = *LOGIN_HEADS.choose(rng).unwrap_or(&"user");
        let tail = *LOGIN_TAILS.choose(rng).unwrap_or(&"x");
        let style = rng.random_range(0..4u8);
        let digits = rng.random_range(1..2_000u32);
        let (mut login, parts): (String, Vec<String>) = match style {
            0 => (format!("{head}{tail}"), vec![head.into(), tail.into()]),
            1 => (
                format!("{head}_{tail}"),
                vec![head.into(), format!("_{tail}")],
            ),
            2 => (
                format!("{head}{tail}{digits}"),
                vec![head.into(), tail.into(), digits.to_string()],
            ),
            _ => (
                format!("{head}{digits}"),
                vec![head.into(), digits.to_string()],
            ),
        };
        let renamed = taken.contains(&login);
        if renamed {
            login = format!("{login}_{}", pool.len());
        }
        taken.insert(login.clone());
        let part_refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let roll: f64 = rng.random();
        let display_name = if roll < 0.02 {
            // Localised display names differ from the login entirely.
            format!(
                "{}{}",
                LOCALIZED_NAMES.choose(rng).unwrap_or(&"x"),
                digits % 100
            )
        } else if roll < 0.03 {
            // Legacy accounts may have spaces in their display name (e.g. `Riot\sGames`),
            // which exercises tag escaping in every PRIVMSG they send.
            part_refs
                .iter()
                .map(|p| camel(&[p]))
                .collect::<Vec<_>>()
                .join(" ")
        } else if renamed || rng.random_bool(0.3) {
            login.clone()
        } else {
            camel(&part_refs)
        };
        let profile = viewer_profile(display_name, rng);
        pool.push(render(&login, profile));
    }
    pool
}

struct Profile {
    display_name: String,
    is_broadcaster: bool,
    is_mod: bool,
    is_vip: bool,
    sub_months: u32,
    color: &'static str,
    extra_badge: Option<String>,
    turbo: bool,
}

fn broadcaster_profile(channel: &str, rng: &mut SmallRng) -> Profile {
    Profile {
        display_name: camel(&[channel]),
        is_broadcaster: true,
        is_mod: false,
        is_vip: false,
        sub_months: 0,
        color: COLORS.choose(rng).copied().unwrap_or(""),
        extra_badge: Some("partner/1".into()),
        turbo: false,
    }
}

fn viewer_profile(display_name: String, rng: &mut SmallRng) -> Profile {
    let role: f64 = rng.random();
    let is_mod = role < 0.03;
    let is_vip = (0.03..0.06).contains(&role);
    let sub_months = if rng.random_bool(0.38) {
        // Long tail of tenures: most subs are recent, a few are veterans.
        let r: f64 = rng.random();
        1 + (r * r * 72.0) as u32
    } else {
        0
    };
    let extra: f64 = rng.random();
    let extra_badge = if extra < 0.10 {
        Some(format!(
            "bits/{}",
            [100, 1000, 5000, 10000][rng.random_range(0..4)]
        ))
    } else if extra < 0.15 {
        Some(format!(
            "sub-gifter/{}",
            [1, 5, 10, 50][rng.random_range(0..4)]
        ))
    } else if extra < 0.25 && sub_months == 0 {
        Some("premium/1".into())
    } else if extra < 0.27 {
        Some("glhf-pledge/1".into())
    } else {
        None
    };
    let color = if rng.random_bool(0.15) {
        ""
    } else {
        COLORS.choose(rng).copied().unwrap_or("")
    };
    Profile {
        display_name,
        is_broadcaster: false,
        is_mod,
        is_vip,
        sub_months,
        color,
        extra_badge,
        turbo: rng.random_bool(0.01),
    }
}

fn render(login: &str, p: Profile) -> Chatter {
    let mut badges: Vec<String> = Vec::new();
    if p.is_broadcaster {
        badges.push("broadcaster/1".into());
    }
    if p.is_mod {
        badges.push("moderator/1".into());
    }
    if p.is_vip {
        badges.push("vip/1".into());
    }
    if p.sub_months > 0 {
        badges.push(format!("subscriber/{}", sub_badge_version(p.sub_months)));
    }
    if let Some(extra) = p.extra_badge {
        badges.push(extra);
    }
    if p.turbo {
        badges.push("turbo/1".into());
    }
    let badges = badges.join(",");
    let badge_info = if p.sub_months > 0 {
        format!("subscriber/{}", p.sub_months)
    } else {
        String::new()
    };
    let user_type = if p.is_mod { "mod" } else { "" };
    Chatter {
        login: login.to_owned(),
        display_name: p.display_name,
        user_id: twitch_id_for(login),
        is_broadcaster: p.is_broadcaster,
        is_mod: p.is_mod,
        is_vip: p.is_vip,
        sub_months: p.sub_months,
        color: p.color,
        badge_info,
        badges,
        user_type,
        turbo: p.turbo,
        seg_badges: Vec::new(),
        seg_color: Vec::new(),
        seg_privmsg_tail: Vec::new(),
    }
}

impl Chatter {
    /// Renders the pre-computed PRIVMSG segments for `channel`.
    pub(crate) fn prepare(&mut self, channel: &str) {
        let mut b = BytesMut::new();
        b.extend_from_slice(b"badge-info=");
        b.extend_from_slice(self.badge_info.as_bytes());
        b.extend_from_slice(b";badges=");
        b.extend_from_slice(self.badges.as_bytes());
        b.extend_from_slice(b";");
        self.seg_badges = b.to_vec();

        let mut c = BytesMut::new();
        c.extend_from_slice(b"color=");
        c.extend_from_slice(self.color.as_bytes());
        c.extend_from_slice(b";display-name=");
        push_escaped(&mut c, &self.display_name);
        c.extend_from_slice(b";");
        self.seg_color = c.to_vec();

        let mut t = String::new();
        let _ = write!(
            t,
            ";turbo={};user-id={};user-type={}",
            u8::from(self.turbo),
            self.user_id,
            self.user_type
        );
        if self.is_vip {
            t.push_str(";vip=1");
        }
        let _ = write!(
            t,
            " :{l}!{l}@{l}.tmi.twitch.tv PRIVMSG #{channel} :",
            l = self.login
        );
        self.seg_privmsg_tail = t.into_bytes();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn pool_is_unique_deterministic_and_starts_with_the_broadcaster() {
        let mut a = SmallRng::seed_from_u64(1);
        let mut b = SmallRng::seed_from_u64(1);
        let pa = build_pool("pajlada", 300, &mut a);
        let pb = build_pool("pajlada", 300, &mut b);
        assert_eq!(pa.len(), 300);
        assert!(pa[0].is_broadcaster);
        assert_eq!(pa[0].user_id, twitch_id_for("pajlada"));
        let logins: HashSet<_> = pa.iter().map(|c| c.login.clone()).collect();
        assert_eq!(logins.len(), 300, "logins must be unique");
        for (x, y) in pa.iter().zip(&pb) {
            assert_eq!(x.login, y.login);
            assert_eq!(x.badges, y.badges);
            assert_eq!(x.display_name, y.display_name);
        }
        for c in &pa {
            assert!(
                c.login
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                c.login
            );
            assert_eq!(c.user_id, twitch_id_for(&c.login));
            assert!(!c.display_name.is_empty());
        }
        assert!(pa.iter().any(|c| c.is_mod));
        assert!(pa.iter().any(|c| c.is_subscriber()));
    }
}
