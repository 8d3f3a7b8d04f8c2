//! Who is calling and what they may do: authentication of every API request, and the
//! per-channel authorization every channel route goes through.
//!
//! Callers: the **admin** (the configured token) manages everything; a **streamer** token
//! reaches its own channel only; a **moderator** token reaches the same channel with a
//! narrower set (no token management, no part/retry); an **overlay** token only reads the HUD.
//!
//! Broken object-level authorization (a valid token used on someone else's channel) is made
//! impossible by construction: channel handlers cannot get the channel from the path except
//! through [`ChannelAccess`], which checks the caller against that very channel and the
//! capability the handler names in its type. A token for another channel gets 404 (the
//! channel's existence is not confirmed to strangers); the right channel with too small a role
//! gets 403.
//!
//! Tokens look like `byte_<id>_<secret>`: the id (public, 16 hex digits) finds the row, the
//! secret (256 random bits) is compared by its SHA-256 in constant time. Valid tokens are
//! cached for [`CACHE_TTL`] so authentication costs no database round trip, and a revocation
//! reaches other instances within that time. Failed attempts are rate-limited per client
//! address, so guessing is throttled. Tokens never appear in logs, metrics or errors.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, Path, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use byte_actors::model::ChannelLogin;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use subtle::ConstantTimeEq;

use super::AppState;
use super::channels::parse_login;
use super::error::ApiError;
use crate::store::tokens;

/// How long a looked-up token is trusted before it is checked against the database again.
pub const CACHE_TTL: Duration = Duration::from_secs(30);

/// A channel-scoped role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The channel's owner.
    Streamer,
    /// A moderator of the channel.
    Moderator,
    /// The OBS overlay: reads the HUD stream only.
    Overlay,
}

impl Role {
    /// Stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Streamer => "streamer",
            Role::Moderator => "moderator",
            Role::Overlay => "overlay",
        }
    }

    fn parse(raw: &str) -> Option<Role> {
        match raw {
            "streamer" => Some(Role::Streamer),
            "moderator" => Some(Role::Moderator),
            "overlay" => Some(Role::Overlay),
            _ => None,
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The configured admin token.
    Admin,
    /// A per-channel token.
    Channel {
        /// The only channel it reaches.
        channel: ChannelLogin,
        /// What it may do there.
        role: Role,
        /// Its public id (for audit fields, never the secret).
        token_id: String,
    },
}

impl Caller {
    /// Whether this is the admin.
    pub fn is_admin(&self) -> bool {
        matches!(self, Caller::Admin)
    }

    /// Who created something, for audit columns.
    pub fn audit_name(&self) -> String {
        match self {
            Caller::Admin => "admin".to_owned(),
            Caller::Channel { token_id, .. } => token_id.clone(),
        }
    }

    /// Narrows a channel list to what this caller may see: everything for the admin, its own
    /// channel for a streamer or moderator; an overlay token reads no list at all.
    pub fn scope_list(
        &self,
        channels: &mut Vec<byte_actors::supervisor::ChannelStatus>,
    ) -> Result<(), ApiError> {
        match self {
            Caller::Admin => Ok(()),
            Caller::Channel {
                role: Role::Overlay,
                ..
            } => Err(ApiError::Forbidden(
                "an overlay token only reads its channel's HUD".into(),
            )),
            Caller::Channel { channel, .. } => {
                channels.retain(|c| &c.login == channel);
                Ok(())
            }
        }
    }

    /// The channel a channel token is bound to.
    pub fn channel(&self) -> Option<&ChannelLogin> {
        match self {
            Caller::Admin => None,
            Caller::Channel { channel, .. } => Some(channel),
        }
    }
}

/// What a channel route needs; implemented by the marker types below.
pub trait Capability: Send + Sync + 'static {
    /// Whether a channel token with `role` has it (the admin always has it).
    fn granted(role: Role) -> bool;
    /// For the 403 message.
    const WHAT: &'static str;
}

/// Read the channel's state and history.
#[derive(Debug)]
pub struct Read;
/// Start and stop sessions.
#[derive(Debug)]
pub struct Control;
/// Part the channel, retry it after quarantine.
#[derive(Debug)]
pub struct Manage;
/// Create, list and revoke the channel's tokens.
#[derive(Debug)]
pub struct ManageTokens;
/// Read the live HUD stream (the overlay's only right).
#[derive(Debug)]
pub struct Hud;

impl Capability for Read {
    fn granted(role: Role) -> bool {
        matches!(role, Role::Streamer | Role::Moderator)
    }
    const WHAT: &'static str = "read this channel";
}
impl Capability for Control {
    fn granted(role: Role) -> bool {
        matches!(role, Role::Streamer | Role::Moderator)
    }
    const WHAT: &'static str = "control this channel's session";
}
impl Capability for Manage {
    fn granted(role: Role) -> bool {
        role == Role::Streamer
    }
    const WHAT: &'static str = "manage this channel";
}
impl Capability for Hud {
    fn granted(_role: Role) -> bool {
        true
    }
    const WHAT: &'static str = "read this channel's HUD";
}
impl Capability for ManageTokens {
    fn granted(role: Role) -> bool {
        role == Role::Streamer
    }
    const WHAT: &'static str = "manage this channel's tokens";
}

/// A channel route's checked access: the channel from the path, which the caller may use
/// with capability `C`. The only way a channel handler gets its channel.
#[derive(Debug)]
pub struct ChannelAccess<C: Capability> {
    /// The channel in the path.
    pub login: ChannelLogin,
    /// Who is calling.
    pub caller: Caller,
    cap: PhantomData<C>,
}

impl<C: Capability> FromRequestParts<AppState> for ChannelAccess<C> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(ApiError::Unauthorized)?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(ApiError::from)?;
        let raw = params
            .get("login")
            .ok_or_else(|| ApiError::bad_request("invalid_path", "the route has no channel"))?;
        let login = parse_login(raw)?;
        authorize::<C>(&caller, &login)?;
        Ok(ChannelAccess {
            login,
            caller,
            cap: PhantomData,
        })
    }
}

/// The admin check for fleet-wide routes.
#[derive(Debug)]
pub struct AdminOnly;

impl FromRequestParts<AppState> for AdminOnly {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Caller>() {
            Some(Caller::Admin) => Ok(AdminOnly),
            Some(_) => Err(ApiError::Forbidden(
                "this needs the admin token; channel tokens reach their own channel only".into(),
            )),
            None => Err(ApiError::Unauthorized),
        }
    }
}

/// The authenticated caller, for routes that adapt to it (the channel list).
#[derive(Debug)]
pub struct AnyCaller(pub Caller);

impl FromRequestParts<AppState> for AnyCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .map(AnyCaller)
            .ok_or(ApiError::Unauthorized)
    }
}

/// The decision itself, apart from extraction so it can be tested directly.
pub fn authorize<C: Capability>(caller: &Caller, login: &ChannelLogin) -> Result<(), ApiError> {
    match caller {
        Caller::Admin => Ok(()),
        Caller::Channel { channel, role, .. } => {
            if channel != login {
                // Same answer as for a channel that does not exist: strangers learn nothing.
                Err(ApiError::NotFound(format!("channel {login} not found")))
            } else if !C::granted(*role) {
                Err(ApiError::Forbidden(format!(
                    "a {} token cannot {}",
                    role.as_str(),
                    C::WHAT
                )))
            } else {
                Ok(())
            }
        }
    }
}

/// A freshly minted token: the full string is shown once, only its hash is kept.
#[derive(Debug)]
pub struct Minted {
    /// Public id.
    pub id: String,
    /// `byte_<id>_<secret>`.
    pub token: String,
    /// SHA-256 of the secret.
    pub secret_sha256: [u8; 32],
}

/// Mints a token from 64 + 256 random bits.
pub fn mint() -> Minted {
    let mut rng = rand::rng();
    let id: [u8; 8] = rng.random();
    let secret: [u8; 32] = rng.random();
    let (id, secret) = (hex(&id), hex(&secret));
    Minted {
        token: format!("byte_{id}_{secret}"),
        secret_sha256: Sha256::digest(secret.as_bytes()).into(),
        id,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Splits `byte_<id>_<secret>`; `None` for anything else.
fn split_token(presented: &str) -> Option<(&str, &str)> {
    let rest = presented.strip_prefix("byte_")?;
    let (id, secret) = rest.split_once('_')?;
    let hexy = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hexy(id, 16) && hexy(secret, 64)).then_some((id, secret))
}

#[derive(Debug, Clone)]
struct Cached {
    channel: ChannelLogin,
    role: Role,
    secret_sha256: Vec<u8>,
    revoked: bool,
    checked: Instant,
}

/// Failed authentications per client address in fixed one-minute windows. Checked before a
/// token is even looked at, so a blocked guesser learns nothing from the answers; a
/// governor-style limiter cannot be peeked without spending a cell, which would count
/// successful requests too.
#[derive(Debug)]
struct FailureWindows {
    per_minute: u32,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailureWindows {
    const WINDOW: Duration = Duration::from_secs(60);

    fn blocked(&self, ip: IpAddr) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(&ip)
            .is_some_and(|(start, n)| start.elapsed() < Self::WINDOW && *n >= self.per_minute)
    }

    fn failed(&self, ip: IpAddr) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 10_000 {
            // Bounded memory under a spray of addresses: drop finished windows.
            seen.retain(|_, (start, _)| start.elapsed() < Self::WINDOW);
        }
        let entry = seen.entry(ip).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= Self::WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

/// Token lookups and the rate limits around them, shared by every request.
pub struct Access {
    admin_token: crate::config::Secret,
    cache: RwLock<HashMap<String, Cached>>,
    failures: FailureWindows,
    minting: DefaultKeyedRateLimiter<String>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access").finish_non_exhaustive()
    }
}

impl Access {
    /// Access control around the configured admin token; a client address that fails to
    /// authenticate `failures_per_minute` times is refused for the rest of the minute.
    pub fn new(admin_token: crate::config::Secret, failures_per_minute: u32) -> Self {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Self {
            admin_token,
            cache: RwLock::new(HashMap::new()),
            failures: FailureWindows {
                per_minute: failures_per_minute.max(1),
                seen: Mutex::new(HashMap::new()),
            },
            minting: RateLimiter::keyed(per_minute(30)),
        }
    }

    /// Allows one token creation by `caller`, or says how long to wait.
    pub fn allow_mint(&self, caller: &Caller) -> Result<(), ApiError> {
        self.minting
            .check_key(&caller.audit_name())
            .map_err(|_| ApiError::TooManyRequests(60))
    }

    /// Forgets a revoked token at once (other instances notice within [`CACHE_TTL`]).
    pub fn revoked(&self, token_id: &str) {
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get_mut(token_id) {
            c.revoked = true;
        }
    }

    /// Who presented `bearer`, if anyone valid.
    async fn identify(&self, pool: &PgPool, bearer: &str) -> Option<Caller> {
        if !bearer.is_empty()
            && bool::from(
                bearer
                    .as_bytes()
                    .ct_eq(self.admin_token.expose().as_bytes()),
            )
        {
            return Some(Caller::Admin);
        }
        let (id, secret) = split_token(bearer)?;
        let entry = self.lookup(pool, id).await?;
        let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let matches = bool::from(presented.as_slice().ct_eq(&entry.secret_sha256));
        (matches && !entry.revoked).then(|| Caller::Channel {
            channel: entry.channel,
            role: entry.role,
            token_id: id.to_owned(),
        })
    }

    async fn lookup(&self, pool: &PgPool, id: &str) -> Option<Cached> {
        let cached = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned();
        if let Some(c) = &cached
            && c.checked.elapsed() < CACHE_TTL
        {
            return cached;
        }
        match tokens::get(pool, id).await {
            Ok(Some(t)) => {
                let fresh = Cached {
                    channel: ChannelLogin::from_twitch(&t.row.channel),
                    role: Role::parse(&t.row.role)?,
                    secret_sha256: t.secret_sha256,
                    revoked: t.row.revoked_at.is_some(),
                    checked: Instant::now(),
                };
                self.cache
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id.to_owned(), fresh.clone());
                Some(fresh)
            }
            Ok(None) => None,
            // Database down: a token seen before keeps working, a new one cannot be checked.
            Err(e) => {
                tracing::warn!(error = %e, "token lookup failed; using the cached entry if any");
                cached
            }
        }
    }
}

/// Middleware on `/api/v1`: resolves the bearer token into a [`Caller`] request extension,
/// or answers 401 (429 once a client address keeps failing).
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(ip) = client
        && state.access.failures.blocked(ip)
    {
        return Err(ApiError::TooManyRequests(60));
    }
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("")
        .to_owned();
    match state.access.identify(&state.pool, &bearer).await {
        Some(caller) => {
            request.extensions_mut().insert(caller);
            Ok(next.run(request).await)
        }
        None => {
            if let Some(ip) = client {
                state.access.failures.failed(ip);
            }
            Err(ApiError::Unauthorized)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chan(s: &str) -> ChannelLogin {
        ChannelLogin::parse(s).unwrap()
    }

    fn token(channel: &str, role: Role) -> Caller {
        Caller::Channel {
            channel: chan(channel),
            role,
            token_id: "0123456789abcdef".into(),
        }
    }

    #[test]
    fn minted_tokens_parse_and_hash_their_secret() {
        let m = mint();
        let (id, secret) = split_token(&m.token).unwrap();
        assert_eq!(id, m.id);
        let hashed: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        assert_eq!(hashed, m.secret_sha256);
        assert_ne!(mint().token, m.token);
        for bad in [
            "",
            "byte_",
            "byte_abc_def",
            "bearer",
            &m.token[..m.token.len() - 1],
        ] {
            assert!(split_token(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn every_role_reaches_its_own_channel_only() {
        let mine = chan("mychannel");
        let other = chan("otherchannel");
        for role in [Role::Streamer, Role::Moderator, Role::Overlay] {
            let caller = token("mychannel", role);
            for result in [
                authorize::<Read>(&caller, &other),
                authorize::<Control>(&caller, &other),
                authorize::<Manage>(&caller, &other),
                authorize::<ManageTokens>(&caller, &other),
            ] {
                assert!(matches!(result, Err(ApiError::NotFound(_))), "{role:?}");
            }
        }
        assert!(authorize::<Manage>(&token("mychannel", Role::Streamer), &mine).is_ok());
        assert!(matches!(
            authorize::<Manage>(&token("mychannel", Role::Moderator), &mine),
            Err(ApiError::Forbidden(_))
        ));
        assert!(authorize::<Control>(&token("mychannel", Role::Moderator), &mine).is_ok());
        assert!(matches!(
            authorize::<Read>(&token("mychannel", Role::Overlay), &mine),
            Err(ApiError::Forbidden(_))
        ));
        assert!(authorize::<ManageTokens>(&Caller::Admin, &other).is_ok());
    }
}
