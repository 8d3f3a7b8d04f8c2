//! Per-channel gauges with bounded cardinality: health score, churn risk, chat rate,
//! sentiment and chatters, labelled `channel`, for a configured set of channels only — the
//! `top` most active (by chat over the last five minutes) plus an allow-list.
//!
//! Channel actors publish their vitals to the core's [`VitalsBoard`] at every tick; the
//! [`Sampler`](super::Sampler) calls [`ChannelExporter::refresh`] every few seconds, which
//! picks the set and renders it into a fresh, private recorder that replaces the previous
//! one. A channel that drops out of the set (parted, crashed, overtaken) therefore has no
//! series from the next refresh on, exactly. (metrics-exporter-prometheus's idle timeout
//! could expire series too, but it applies to a whole kind of metric in a registry: in the
//! process-wide one it would also expire fleet gauges that are set only when they change,
//! such as `byte_channels` or `byte_irc_connected`.)

use std::cmp::Ordering;
use std::sync::RwLock;
use std::time::Duration;

use byte_actors::metrics as m;
use byte_actors::model::ChannelLogin;
use byte_actors::vitals::{Vitals, VitalsBoard};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Most channels that may have per-channel series: five gauges each, so at most 5,000
/// series however many channels the process holds.
pub const MAX_EXPORTED: usize = 1000;

/// Which channels get per-channel series, and how often the choice is refreshed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportConfig {
    /// The most active channels exported (0: the allow-list only).
    pub top: usize,
    /// Channels always exported while they are live.
    pub allow: Vec<ChannelLogin>,
    /// How often the set and the values are refreshed.
    pub refresh: Duration,
}

/// The channels to export: every allow-listed channel present in `vitals`, then the `top`
/// most active of the others, most active first. Ties go to the smaller login, so the set
/// does not change between refreshes of equally quiet channels.
pub fn select<'a>(
    vitals: &'a [(ChannelLogin, Vitals)],
    top: usize,
    allow: &[ChannelLogin],
) -> Vec<&'a (ChannelLogin, Vitals)> {
    let (mut chosen, mut rest): (Vec<_>, Vec<_>) =
        vitals.iter().partition(|(login, _)| allow.contains(login));
    chosen.sort_by(|a, b| a.0.cmp(&b.0));
    let by_activity = |a: &&(ChannelLogin, Vitals), b: &&(ChannelLogin, Vitals)| {
        b.1.activity_per_minute
            .partial_cmp(&a.1.activity_per_minute)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    };
    if rest.len() > top {
        // Only the first `top` need ordering: O(n) selection, then sort those.
        if top > 0 {
            rest.select_nth_unstable_by(top - 1, by_activity);
        }
        rest.truncate(top);
    }
    rest.sort_by(by_activity);
    chosen.extend(rest);
    chosen
}

/// Renders the per-channel gauges of the chosen channels.
pub struct ChannelExporter {
    config: ExportConfig,
    current: RwLock<PrometheusHandle>,
}

impl std::fmt::Debug for ChannelExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelExporter")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ChannelExporter {
    /// An exporter with nothing exported yet.
    pub fn new(config: ExportConfig) -> Self {
        let empty = PrometheusBuilder::new().build_recorder().handle();
        Self {
            config,
            current: RwLock::new(empty),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ExportConfig {
        &self.config
    }

    /// Picks the channels from `board` and replaces the exported series with theirs.
    /// Returns how many channels are exported.
    pub fn refresh(&self, board: &VitalsBoard) -> usize {
        let all = board.read();
        let chosen = select(&all, self.config.top, &self.config.allow);
        let recorder = PrometheusBuilder::new().build_recorder();
        metrics::with_local_recorder(&recorder, || {
            m::describe_per_channel();
            for (login, v) in &chosen {
                let channel = login.as_str().to_owned();
                metrics::gauge!(m::CHANNEL_HEALTH, m::CHANNEL_LABEL => channel.clone())
                    .set(v.health_score);
                metrics::gauge!(m::CHANNEL_CHURN, m::CHANNEL_LABEL => channel.clone())
                    .set(v.churn_risk);
                metrics::gauge!(m::CHANNEL_CHAT_RATE, m::CHANNEL_LABEL => channel.clone())
                    .set(v.chat_per_second);
                metrics::gauge!(m::CHANNEL_SENTIMENT, m::CHANNEL_LABEL => channel.clone())
                    .set(v.sentiment);
                metrics::gauge!(m::CHANNEL_CHATTERS, m::CHANNEL_LABEL => channel)
                    .set(f64::from(v.chatters));
            }
        });
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = recorder.handle();
        chosen.len()
    }

    /// The Prometheus text of the exported series.
    pub fn render(&self) -> String {
        let handle = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        handle.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(s: &str) -> ChannelLogin {
        ChannelLogin::from_twitch(s)
    }

    fn vitals(activity: f64) -> Vitals {
        Vitals {
            health_score: 70.0,
            churn_risk: 0.25,
            chat_per_second: activity / 60.0,
            activity_per_minute: activity,
            sentiment: 0.5,
            chatters: 4,
        }
    }

    fn names(chosen: &[&(ChannelLogin, Vitals)]) -> Vec<String> {
        chosen.iter().map(|(l, _)| l.as_str().to_owned()).collect()
    }

    #[test]
    fn the_allow_list_then_the_most_active() {
        let all = vec![
            (login("quiet"), vitals(1.0)),
            (login("busy"), vitals(90.0)),
            (login("pinned"), vitals(0.0)),
            (login("mid"), vitals(30.0)),
            (login("also_mid"), vitals(30.0)),
        ];
        let allow = [login("pinned"), login("absent")];
        assert_eq!(
            names(&select(&all, 2, &allow)),
            ["pinned", "busy", "also_mid"],
            "ties go to the smaller login; absent allow-listed channels are skipped"
        );
        assert_eq!(names(&select(&all, 0, &allow)), ["pinned"]);
        assert_eq!(select(&all, 100, &[]).len(), 5);
    }

    #[test]
    fn channels_that_drop_out_lose_their_series_at_the_next_refresh() {
        let board = VitalsBoard::new();
        let exporter = ChannelExporter::new(ExportConfig {
            top: 1,
            allow: vec![],
            refresh: Duration::from_secs(1),
        });
        let a = board.register(&login("alpha"));
        let b = board.register(&login("beta"));
        a.publish(vitals(50.0));
        b.publish(vitals(10.0));
        assert_eq!(exporter.refresh(&board), 1);
        let text = exporter.render();
        assert!(
            text.contains("byte_channel_health_score{channel=\"alpha\"} 70"),
            "{text}"
        );
        assert!(
            text.contains("# HELP byte_channel_churn_risk_ratio"),
            "{text}"
        );
        assert!(!text.contains("beta"), "{text}");

        b.publish(vitals(80.0));
        exporter.refresh(&board);
        let text = exporter.render();
        assert!(text.contains("channel=\"beta\""), "{text}");
        assert!(!text.contains("alpha"), "overtaken: {text}");

        drop(b);
        exporter.refresh(&board);
        let text = exporter.render();
        assert!(text.contains("channel=\"alpha\""), "{text}");
        assert!(!text.contains("beta"), "parted: {text}");
    }
}
