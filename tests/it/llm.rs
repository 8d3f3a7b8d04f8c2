//! The LLM port against a fake OpenAI-compatible server on loopback (real HTTP): routing on
//! the wire, retries honouring `Retry-After` and their bound, the circuit breaker and its
//! labelled fallback, timeouts, oversized answers, metrics, and that the API key never
//! shows in errors or debug output.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use byte_actors::llm::{
    Activity, ChatMessage, ChatRequest, FALLBACK_PREFIX, LlmError, LlmPort, ModelRouting, Source,
};
use byte_actors::model::ChannelLogin;
use bytebot::config::Secret;
use bytebot::llm::client::OpenAiClient;
use bytebot::llm::{
    BreakerConfig, BreakerState, ClientConfig, LlmSettings, PriceTable, Resilient, RetryPolicy,
};
use serde_json::{Value, json};

use crate::support::{eventually, metric};

const KEY: &str = "sk-test-very-secret-key-4242";

/// What the fake server does with one request.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    Ok {
        text: String,
        tokens_in: u32,
        tokens_out: u32,
    },
    Slow(Duration),
    RateLimited(Option<&'static str>),
    Fail500,
    /// Answers with every message of the request joined (a model talked into repeating its
    /// instructions).
    EchoPrompt,
}

pub(crate) fn ok(text: &str) -> Reply {
    Reply::Ok {
        text: text.into(),
        tokens_in: 10,
        tokens_out: 5,
    }
}

/// One request the fake server saw.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) at: Instant,
    pub(crate) body: Value,
    pub(crate) authorization: Option<String>,
}

#[derive(Default)]
struct FakeState {
    script: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
}

/// A small OpenAI-compatible server: `POST /v1/chat/completions` and `GET /v1/models`.
/// Replies follow the script, then answer "ok".
pub(crate) struct FakeLlm {
    addr: SocketAddr,
    state: Arc<FakeState>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeLlm {
    pub(crate) async fn start(script: Vec<Reply>) -> FakeLlm {
        let state = Arc::new(FakeState {
            script: Mutex::new(script.into()),
            seen: Mutex::default(),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/models", get(models))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeLlm { addr, state, task }
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    fn models_seen(&self) -> Vec<String> {
        self.seen()
            .iter()
            .map(|s| s.body["model"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    pub(crate) fn push(&self, reply: Reply) {
        self.state.script.lock().unwrap().push_back(reply);
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn chat(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    state.seen.lock().unwrap().push(Seen {
        at: Instant::now(),
        body: body.clone(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    let reply = state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| ok("ok"));
    let model = body["model"].as_str().unwrap_or("unknown").to_owned();
    match reply {
        Reply::Ok {
            text,
            tokens_in,
            tokens_out,
        } => completion(&model, &text, tokens_in, tokens_out),
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            completion(&model, "too late", 1, 1)
        }
        Reply::RateLimited(after) => {
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"error": {"message": "slow down", "type": "rate_limit_error", "param": null, "code": null}})),
            )
                .into_response();
            if let Some(a) = after {
                r.headers_mut().insert("retry-after", a.parse().unwrap());
            }
            r
        }
        Reply::Fail500 => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        Reply::EchoPrompt => {
            let all: Vec<&str> = body["messages"]
                .as_array()
                .map(|m| m.iter().filter_map(|m| m["content"].as_str()).collect())
                .unwrap_or_default();
            completion(&model, &all.join(" "), 50, 50)
        }
    }
}

fn completion(model: &str, text: &str, tokens_in: u32, tokens_out: u32) -> Response {
    Json(json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out, "total_tokens": tokens_in + tokens_out},
    }))
    .into_response()
}

async fn models() -> Json<Value> {
    Json(
        json!({"object": "list", "data": [{"id": "fake-model", "object": "model", "created": 0, "owned_by": "test"}]}),
    )
}

fn client_config(fake: &FakeLlm) -> ClientConfig {
    ClientConfig {
        base_url: fake.base_url(),
        api_key: Some(Secret::new(KEY)),
        connect_timeout: Duration::from_secs(2),
        max_body_bytes: bytebot::llm::MAX_BODY_BYTES,
        max_text_chars: 200,
    }
}

/// Fast settings: short backoff, no retries unless a test asks.
fn settings(fake: &FakeLlm, default_model: &str) -> LlmSettings {
    LlmSettings {
        client: Some(client_config(fake)),
        routing: ModelRouting::new(Some(default_model.into())),
        prices: PriceTable::default(),
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_retries: 0,
            base: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(2),
        },
        breaker: BreakerConfig {
            threshold: 100,
            cooldown: Duration::from_secs(60),
        },
    }
}

fn ask(activity: Activity, text: &str) -> ChatRequest {
    ChatRequest::new(
        activity,
        vec![
            ChatMessage::system("You are Byte."),
            ChatMessage::user(text),
        ],
    )
}

fn login(s: &str) -> ChannelLogin {
    ChannelLogin::parse(s).unwrap()
}

#[tokio::test]
async fn routing_per_activity_and_channel_reaches_the_wire() {
    let fake = FakeLlm::start(vec![]).await;
    let mut s = settings(&fake, "route-default");
    s.routing
        .set_activity(Activity::PostStreamReport, "route-report");
    let llm = Resilient::new(s).unwrap();
    llm.set_channel_model(login("alice"), Activity::ChatReply, "route-alice".into());

    let mut req = ask(Activity::ChatReply, "hi").for_channel(login("alice"));
    req.temperature = Some(0.5);
    req.max_tokens = Some(64);
    let a = llm.complete(req).await.unwrap();
    let b = llm
        .complete(ask(Activity::ChatReply, "hi").for_channel(login("bobby")))
        .await
        .unwrap();
    let c = llm
        .complete(ask(Activity::PostStreamReport, "report").for_channel(login("alice")))
        .await
        .unwrap();
    let mut explicit = ask(Activity::ChatReply, "hi");
    explicit.model = Some("route-explicit".into());
    llm.complete(explicit).await.unwrap();

    assert_eq!(
        fake.models_seen(),
        [
            "route-alice",
            "route-default",
            "route-report",
            "route-explicit"
        ]
    );
    assert_eq!((a.source, a.model.as_str()), (Source::Model, "route-alice"));
    assert_eq!(b.model, "route-default");
    assert_eq!(c.model, "route-report");
    let first = &fake.seen()[0];
    assert_eq!(first.body["temperature"], json!(0.5));
    assert_eq!(first.body["max_tokens"], json!(64));
    assert_eq!(first.body["messages"][0]["role"], "system");
    assert_eq!(first.body["messages"][1]["content"], "hi");
    assert_eq!(
        first.authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
}

#[tokio::test]
async fn retries_honour_retry_after_and_stop_at_the_bound() {
    // 429 with Retry-After: 1 s, then success: two requests at least a second apart.
    let fake = FakeLlm::start(vec![Reply::RateLimited(Some("1")), ok("fine")]).await;
    let mut s = settings(&fake, "retry-model");
    s.retry.max_retries = 2;
    let llm = Resilient::new(s.clone()).unwrap();
    let answer = llm
        .complete(ask(Activity::ChatReply, "hello"))
        .await
        .unwrap();
    assert_eq!(
        (answer.source, answer.text.as_str()),
        (Source::Model, "fine")
    );
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= Duration::from_secs(1), "waited {gap:?}");
    assert!(gap < Duration::from_secs(2), "waited {gap:?}");

    // Server errors every time: 1 + max_retries requests, then the fallback.
    let fake = FakeLlm::start(vec![Reply::Fail500; 10]).await;
    let mut s = settings(&fake, "retry-model");
    s.retry.max_retries = 2;
    let llm = Resilient::new(s).unwrap();
    let answer = llm
        .complete(ask(Activity::ChatReply, "hello"))
        .await
        .unwrap();
    assert_eq!(answer.source, Source::Fallback);
    assert!(answer.text.starts_with(FALLBACK_PREFIX));
    assert_eq!(fake.seen().len(), 3, "stops at the retry bound");

    // A Retry-After beyond the bound is not waited for.
    let fake = FakeLlm::start(vec![Reply::RateLimited(Some("30")); 3]).await;
    let mut s = settings(&fake, "retry-model");
    s.retry.max_retries = 2;
    let llm = Resilient::new(s).unwrap();
    let started = Instant::now();
    let answer = llm
        .complete(ask(Activity::ChatReply, "hello"))
        .await
        .unwrap();
    assert_eq!(answer.source, Source::Fallback);
    assert_eq!(fake.seen().len(), 1);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn breaker_opens_falls_back_then_half_opens_and_recovers() {
    let fake = FakeLlm::start(vec![Reply::Fail500, Reply::Fail500, Reply::Fail500]).await;
    let mut s = settings(&fake, "breaker-model");
    s.breaker = BreakerConfig {
        threshold: 2,
        cooldown: Duration::from_millis(300),
    };
    let llm = Resilient::new(s).unwrap();
    for _ in 0..2 {
        let a = llm.complete(ask(Activity::ChatReply, "hi?")).await.unwrap();
        assert_eq!(a.source, Source::Fallback);
    }
    assert!(matches!(llm.breaker_state(), BreakerState::Open { .. }));

    // Open: answered by the labelled fallback without touching the server.
    let a = llm.complete(ask(Activity::ChatReply, "hi?")).await.unwrap();
    assert_eq!(a.source, Source::Fallback);
    assert!(a.text.starts_with("[rule-based] "), "{}", a.text);
    assert_eq!(fake.seen().len(), 2);

    // After the cooldown one probe goes through; it fails (third scripted 500): open again.
    eventually("the half-open probe", Duration::from_secs(5), || async {
        llm.complete(ask(Activity::ChatReply, "hi?")).await.unwrap();
        (fake.seen().len() == 3).then_some(())
    })
    .await;
    assert!(matches!(llm.breaker_state(), BreakerState::Open { .. }));

    // The next probe succeeds (the script is exhausted): closed, model answers again.
    let answer = eventually("recovery", Duration::from_secs(5), || async {
        let a = llm.complete(ask(Activity::ChatReply, "hi?")).await.unwrap();
        (a.source == Source::Model).then_some(a)
    })
    .await;
    assert_eq!(answer.text, "ok");
    assert_eq!(fake.seen().len(), 4, "one request per probe");
    assert_eq!(llm.breaker_state(), BreakerState::Closed { failures: 0 });
}

#[tokio::test]
async fn timeout_falls_back() {
    let fake = FakeLlm::start(vec![Reply::Slow(Duration::from_secs(3))]).await;
    let mut s = settings(&fake, "slow-model");
    s.timeout = Duration::from_millis(200);
    let llm = Resilient::new(s).unwrap();
    let started = Instant::now();
    let a = llm
        .complete(ask(Activity::CoachingGeneration, "chat is slowing down"))
        .await
        .unwrap();
    assert_eq!(a.source, Source::Fallback);
    assert!(a.text.starts_with(FALLBACK_PREFIX));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn oversized_answers_are_cut_or_refused() {
    let fake = FakeLlm::start(vec![ok(&"a".repeat(10_000)), ok(&"b".repeat(2 << 20))]).await;
    let llm = Resilient::new(settings(&fake, "big-model")).unwrap();
    let cut = llm.complete(ask(Activity::ChatReply, "x")).await.unwrap();
    assert_eq!(cut.source, Source::Model);
    assert_eq!(cut.text.chars().count(), 200, "cut to max_text_chars");
    let refused = llm.complete(ask(Activity::ChatReply, "x")).await.unwrap();
    assert_eq!(
        refused.source,
        Source::Fallback,
        "bodies over 1 MiB are refused"
    );
}

#[tokio::test]
async fn unconfigured_endpoint_falls_back() {
    let llm = Resilient::new(LlmSettings {
        client: None,
        routing: ModelRouting::new(None),
        prices: PriceTable::default(),
        timeout: Duration::from_secs(1),
        retry: RetryPolicy::default(),
        breaker: BreakerConfig::default(),
    })
    .unwrap();
    for activity in Activity::ALL {
        let a = llm.complete(ask(activity, "great stream!")).await.unwrap();
        assert_eq!(a.source, Source::Fallback);
        assert!(
            a.text.starts_with(FALLBACK_PREFIX),
            "{activity}: {}",
            a.text
        );
    }
}

#[tokio::test]
async fn tokens_cost_and_fallbacks_are_counted() {
    let handle = bytebot::telemetry::metrics_handle();
    let fake = FakeLlm::start(vec![Reply::Ok {
        text: "hello".into(),
        tokens_in: 1000,
        tokens_out: 2000,
    }])
    .await;
    let mut s = settings(&fake, "metrics-model");
    s.prices = PriceTable::parse("metrics-model=0.5/0.25").unwrap();
    let llm = Resilient::new(s).unwrap();
    let labels = [
        ("activity", "clip_intelligence"),
        ("model", "metrics-model"),
    ];
    let before = handle.render();
    for d in byte_actors::metrics::CATALOGUE
        .iter()
        .filter(|d| d.name.starts_with("byte_llm_"))
    {
        assert!(
            before.contains(&format!("# TYPE {} ", d.name)),
            "{} not primed",
            d.name
        );
    }
    assert_eq!(
        metric(&before, "byte_llm_cost_microdollars_total", &labels),
        0.0
    );

    llm.complete(ask(Activity::ClipIntelligence, "that play!"))
        .await
        .unwrap();
    let after = handle.render();
    let dir = |d| [labels[0], labels[1], ("direction", d)];
    assert_eq!(metric(&after, "byte_llm_tokens_total", &dir("in")), 1000.0);
    assert_eq!(metric(&after, "byte_llm_tokens_total", &dir("out")), 2000.0);
    // 1000 * 0.5/1k + 2000 * 0.25/1k = 1.0 dollar.
    assert_eq!(
        metric(&after, "byte_llm_cost_microdollars_total", &labels),
        1_000_000.0
    );
    assert_eq!(
        metric(&after, "byte_llm_request_duration_seconds_count", &labels),
        1.0
    );

    // A failure: the error and the fallback are counted by activity.
    let fallbacks = |r: &str| {
        metric(
            r,
            "byte_llm_fallbacks_total",
            &[
                ("activity", "semantic_memory_enrichment"),
                ("reason", "error"),
            ],
        )
    };
    let errors = |r: &str| {
        metric(
            r,
            "byte_llm_errors_total",
            &[
                ("activity", "semantic_memory_enrichment"),
                ("kind", "server"),
            ],
        )
    };
    let (f0, e0) = (fallbacks(&after), errors(&after));
    fake.push(Reply::Fail500);
    let a = llm
        .complete(ask(Activity::SemanticMemoryEnrichment, "remember this"))
        .await
        .unwrap();
    assert_eq!(a.source, Source::Fallback);
    let last = handle.render();
    assert!(fallbacks(&last) >= f0 + 1.0);
    assert!(errors(&last) >= e0 + 1.0);
}

#[tokio::test]
async fn the_api_key_never_shows() {
    let fake = FakeLlm::start(vec![Reply::Fail500, Reply::RateLimited(None)]).await;
    let config = client_config(&fake);
    let client = OpenAiClient::new(&config).unwrap();
    let mut errors: Vec<LlmError> = Vec::new();
    for _ in 0..2 {
        errors.push(
            client
                .complete_once(&ask(Activity::ChatReply, "x"), "m")
                .await
                .unwrap_err(),
        );
    }
    assert_eq!(errors[0], LlmError::Server(500));
    assert_eq!(errors[1], LlmError::RateLimited { retry_after: None });
    // Nothing listens on a just-closed port: a transport error.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let unreachable = OpenAiClient::new(&ClientConfig {
        base_url: format!("http://{closed}/v1"),
        ..config.clone()
    })
    .unwrap();
    let e = unreachable
        .complete_once(&ask(Activity::ChatReply, "x"), "m")
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Transport(_)), "{e:?}");
    errors.push(e);

    let mut args =
        crate::support::runtime_args("postgres://unused", "127.0.0.1:1".parse().unwrap(), &[]);
    args.llm_base_url = Some(fake.base_url());
    args.llm_api_key = Some(Secret::new(KEY));
    let settings = args.llm().unwrap();
    let llm = Resilient::new(settings.clone()).unwrap();
    let mut shown: Vec<String> = errors
        .iter()
        .flat_map(|e| [e.to_string(), format!("{e:?}")])
        .collect();
    shown.push(format!("{args:?}"));
    shown.push(format!("{settings:?}"));
    shown.push(format!("{config:?}"));
    shown.push(format!("{client:?}"));
    shown.push(format!("{llm:?}"));
    for s in shown {
        assert!(!s.contains(KEY), "key leaked: {s}");
    }
}

#[test]
fn llm_config_is_validated() {
    use bytebot::config::ConfigError;
    let base =
        || crate::support::runtime_args("postgres://unused", "127.0.0.1:1".parse().unwrap(), &[]);
    let mut args = base();
    args.llm_base_url = Some("http://127.0.0.1:11434/v1".into());
    args.llm_model = Some("llama3".into());
    args.llm_models = "chat_reply=gpt-4o-mini, post_stream_report=gpt-4o".into();
    args.llm_prices = "gpt-4o-mini=0.00015/0.0006".into();
    let s = args.llm().unwrap();
    assert_eq!(
        s.routing.resolve(None, Activity::ChatReply),
        Some("gpt-4o-mini")
    );
    assert_eq!(
        s.routing.resolve(None, Activity::PostStreamReport),
        Some("gpt-4o")
    );
    assert_eq!(
        s.routing.resolve(None, Activity::SentimentAnalysis),
        Some("llama3")
    );
    assert_eq!(s.timeout, Duration::from_secs(20));
    assert_eq!(s.prices.cost_microdollars("gpt-4o-mini", 1000, 0), 150);
    assert!(
        base().llm().unwrap().client.is_none(),
        "unset: fallback only"
    );

    let mut bad = base();
    bad.llm_models = "chat=gpt".into();
    assert!(matches!(bad.llm(), Err(ConfigError::LlmModels(_))));
    let mut bad = base();
    bad.llm_models = "chat_reply".into();
    assert!(matches!(bad.llm(), Err(ConfigError::LlmModels(_))));
    let mut bad = base();
    bad.llm_prices = "gpt=cheap".into();
    assert!(matches!(bad.llm(), Err(ConfigError::LlmPrices(_))));
    let mut bad = base();
    bad.llm_base_url = Some("localhost:11434".into());
    assert!(matches!(bad.llm(), Err(ConfigError::LlmBaseUrl)));
    let mut bad = base();
    bad.llm_timeout_ms = 0;
    assert!(matches!(bad.llm(), Err(ConfigError::LlmTimeout)));
}
