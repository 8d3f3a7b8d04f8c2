//! Logs, spans and metrics: tracing to stdout (human or JSON), the process's Prometheus
//! recorder, the per-channel exporter ([`channels`]) and the [`Sampler`] that keeps
//! probe-style metrics fresh. `/metrics` serves [`Exposition::render`]: the fleet metrics
//! followed by the bounded set of per-channel gauges.
//!
//! Metric names, help text and units live in the catalogue (`byte_actors::metrics`); this
//! module only decides how they are exported (histogram buckets, which channels get series).

pub mod channels;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use byte_actors::metrics as m;
use byte_actors::ports::Store;
use byte_actors::vitals::VitalsBoard;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::task::JoinHandle;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use channels::ChannelExporter;

/// Installs the tracing subscriber (`RUST_LOG` filters; default `info`).
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,twitch_irc=warn,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    // A second init (tests starting several apps) is harmless; ignore it.
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // A channel actor's panic is an expected, supervised event: one structured log line with
    // its location, not a stderr backtrace per crash.
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()));
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("non-string payload");
        tracing::error!(panic = %message, location, "panic");
    }));
}

/// Request latency: sub-millisecond to 10 s.
const LATENCY: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Waits that stretch during an outage or under overload (a batch write retried by the
/// pool, a restart after backoff, a restore that waits for the database, a backed-up
/// mailbox): milliseconds to a minute, so the bad tail lands in a bucket instead of +Inf.
const SLOW: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// IRC recovery: with production defaults a silent connection is declared dead after 15 s
/// and then reconnects and rejoins under the JOIN limit, so the interesting range is
/// seconds to minutes.
const RECOVERY: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0, 300.0,
];
/// Rows per batch, up to well past the default batch size of 5000.
const ROWS: &[f64] = &[
    1.0, 10.0, 100.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0, 50000.0,
];

/// Texts per embedder call: the pool coalesces up to 32; a single larger job runs whole.
const TEXTS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

/// Buckets of every histogram in the catalogue. Matched by full name: the exporter keeps its
/// overrides in a hash map, so overlapping matchers (a suffix and a full name) would pick
/// one at random.
pub const HISTOGRAM_BUCKETS: &[(&str, &[f64])] = &[
    (m::HTTP_SECONDS, LATENCY),
    (m::PERSIST_FLUSH_SECONDS, SLOW),
    (m::CHANNEL_RESTART_SECONDS, SLOW),
    (m::CHANNEL_RESTORE_SECONDS, SLOW),
    (m::CHANNEL_MAILBOX_LAG_SECONDS, SLOW),
    (m::INGEST_LAG_SECONDS, SLOW),
    (m::IRC_RECOVERY_SECONDS, RECOVERY),
    (m::PERSIST_BATCH_ROWS, ROWS),
    (m::LLM_SECONDS, SLOW),
    (m::COPILOT_REPLY_SECONDS, SLOW),
    (m::REPORT_SECONDS, SLOW),
    (m::MEMORY_EMBED_SECONDS, SLOW),
    (m::MEMORY_EMBED_BATCH_TEXTS, TEXTS),
    (m::MEMORY_SEARCH_SECONDS, LATENCY),
];

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus recorder, installed on first use, with every fleet metric
/// described and its known series registered at zero.
pub fn metrics_handle() -> PrometheusHandle {
    RECORDER
        .get_or_init(|| {
            let mut builder = PrometheusBuilder::new();
            for (name, buckets) in HISTOGRAM_BUCKETS {
                // Non-empty constant lists: the builder's only error.
                builder =
                    match builder.set_buckets_for_metric(Matcher::Full((*name).into()), buckets) {
                        Ok(b) => b,
                        Err(e) => unreachable!("bucket list of {name}: {e}"),
                    };
            }
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may exist (a test harness); then metrics go there and this
            // handle renders only what it saw — acceptable, never fatal.
            let _ = metrics::set_global_recorder(recorder);
            m::describe();
            m::prime();
            for cause in crate::ingest::liveness::Cause::ALL {
                metrics::counter!(m::IRC_RECONNECTS, "cause" => cause.label()).increment(0);
            }
            handle
        })
        .clone()
}

/// What `/metrics` serves: the fleet metrics, then the per-channel gauges.
#[derive(Clone)]
pub struct Exposition {
    fleet: PrometheusHandle,
    channels: Arc<ChannelExporter>,
}

impl Exposition {
    /// Both halves of the scrape.
    pub fn new(fleet: PrometheusHandle, channels: Arc<ChannelExporter>) -> Self {
        Self { fleet, channels }
    }

    /// The Prometheus text format of everything.
    pub fn render(&self) -> String {
        let mut out = self.fleet.render();
        out.push_str(&self.channels.render());
        out
    }
}

/// A background task that keeps metrics which nothing else would update fresh: the
/// database probe (`byte_database_up`, otherwise only set when someone asks `/readyz`), the
/// per-channel export, and the recorder's upkeep (histogram samples are buffered until
/// drained; without a scrape they would grow without bound).
pub struct Sampler {
    /// The store to probe.
    pub store: Arc<dyn Store>,
    /// Where channel actors publish their vitals.
    pub board: Arc<VitalsBoard>,
    /// The per-channel exporter.
    pub channels: Arc<ChannelExporter>,
    /// The fleet recorder.
    pub fleet: PrometheusHandle,
    /// How often to sample.
    pub every: Duration,
}

impl Sampler {
    /// Starts sampling now and then every `every`; abort the handle to stop.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                self.sample().await;
            }
        })
    }

    /// One round: probe, export, upkeep.
    pub async fn sample(&self) {
        // Bounded by the period, so a hung database cannot stall the per-channel export.
        let timeout = self.every.min(Duration::from_secs(2));
        let up = self.store.ping(timeout).await.is_ok();
        metrics::gauge!(m::DATABASE_UP).set(if up { 1.0 } else { 0.0 });
        let exported = self.channels.refresh(&self.board);
        metrics::gauge!(m::EXPORTED_CHANNELS).set(exported as f64);
        self.fleet.run_upkeep();
    }
}

#[cfg(test)]
mod tests {
    use byte_actors::metrics::{CATALOGUE, Kind};

    use super::HISTOGRAM_BUCKETS;

    #[test]
    fn every_histogram_has_buckets() {
        // Without buckets the exporter renders a summary, which histogram_quantile cannot use.
        for d in CATALOGUE.iter().filter(|d| d.kind == Kind::Histogram) {
            let buckets = HISTOGRAM_BUCKETS
                .iter()
                .find(|(n, _)| *n == d.name)
                .map(|(_, b)| *b);
            let Some(buckets) = buckets else {
                panic!("{} has no buckets", d.name);
            };
            assert!(buckets.windows(2).all(|w| w[0] < w[1]), "{}", d.name);
        }
        assert_eq!(
            HISTOGRAM_BUCKETS.len(),
            CATALOGUE
                .iter()
                .filter(|d| d.kind == Kind::Histogram)
                .count()
        );
    }
}
