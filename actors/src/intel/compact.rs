//! Instants stored in 8 bytes (and optional numbers in 4) for the per-chatter tables,
//! serialised exactly as the `DateTime<Utc>`, `Option<DateTime<Utc>>` or `Option<f32>` they
//! stand for, so snapshots keep their shape.
//!
//! Why: a chatter table holds thousands of entries per busy channel, each with two to four
//! instants. `DateTime<Utc>` takes 12 bytes (4-byte aligned, so mixed with 8-byte fields it
//! pads) and the engines only compare instants and take their differences; nanoseconds since
//! the epoch in an `i64` keep chrono's full precision from 1677 to 2262.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Nanoseconds since the epoch for `t`, saturating outside the years 1677–2262.
fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN + 1
    } else {
        i64::MAX
    })
}

/// An instant, 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct At(i64);

impl At {
    /// The instant `t` (saturating outside the years 1677–2262).
    pub fn new(t: DateTime<Utc>) -> Self {
        Self(nanos(t))
    }

    /// As a `DateTime<Utc>`.
    pub fn get(self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.0)
    }
}

impl From<DateTime<Utc>> for At {
    fn from(t: DateTime<Utc>) -> Self {
        Self::new(t)
    }
}

impl Serialize for At {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(s)
    }
}

impl<'de> Deserialize<'de> for At {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        DateTime::<Utc>::deserialize(d).map(Self::new)
    }
}

/// An optional instant, 8 bytes (`i64::MIN`, outside the saturated range, is none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MaybeAt(i64);

impl MaybeAt {
    /// No instant.
    pub const NONE: Self = Self(i64::MIN);

    /// `t`, if any.
    pub fn new(t: Option<DateTime<Utc>>) -> Self {
        t.map_or(Self::NONE, |t| Self(nanos(t)))
    }

    /// As an `Option<DateTime<Utc>>`.
    pub fn get(self) -> Option<DateTime<Utc>> {
        (self != Self::NONE).then(|| DateTime::from_timestamp_nanos(self.0))
    }
}

impl Default for MaybeAt {
    fn default() -> Self {
        Self::NONE
    }
}

impl Serialize for MaybeAt {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(s)
    }
}

impl<'de> Deserialize<'de> for MaybeAt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<DateTime<Utc>>::deserialize(d).map(Self::new)
    }
}

/// An optional `f32` in 4 bytes (NaN is none; the engines never store a NaN), serialised as
/// `Option<f32>`.
#[derive(Debug, Clone, Copy)]
pub struct MaybeF32(f32);

impl MaybeF32 {
    /// No number.
    pub const NONE: Self = Self(f32::NAN);

    /// `x`, if any (a NaN reads as none).
    pub fn new(x: Option<f32>) -> Self {
        x.map_or(Self::NONE, Self)
    }

    /// As an `Option<f32>`.
    pub fn get(self) -> Option<f32> {
        (!self.0.is_nan()).then_some(self.0)
    }
}

impl PartialEq for MaybeF32 {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Serialize for MaybeF32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(s)
    }
}

impl<'de> Deserialize<'de> for MaybeF32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<f32>::deserialize(d).map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn instants_round_trip_and_serialise_as_chrono_does() {
        let t = Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap();
        assert_eq!(At::new(t).get(), t);
        assert_eq!(
            serde_json::to_string(&At::new(t)).unwrap(),
            serde_json::to_string(&t).unwrap()
        );
        let back: At = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back.get(), t);
        assert!(At::new(t) < At::new(t + chrono::Duration::nanoseconds(1)));

        assert_eq!(MaybeAt::new(Some(t)).get(), Some(t));
        assert_eq!(MaybeAt::NONE.get(), None);
        assert_eq!(serde_json::to_string(&MaybeAt::NONE).unwrap(), "null");
        let none: MaybeAt = serde_json::from_str("null").unwrap();
        assert_eq!(none, MaybeAt::NONE);
        let some: MaybeAt = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(some.get(), Some(t));
        assert_eq!(std::mem::size_of::<MaybeAt>(), 8);

        assert_eq!(MaybeF32::new(Some(1.5)).get(), Some(1.5));
        assert_eq!(MaybeF32::NONE.get(), None);
        assert_eq!(serde_json::to_string(&MaybeF32::NONE).unwrap(), "null");
        assert_eq!(
            serde_json::to_string(&MaybeF32::new(Some(2.5))).unwrap(),
            "2.5"
        );
        let x: MaybeF32 = serde_json::from_str("2.5").unwrap();
        assert_eq!(x.get(), Some(2.5));
    }
}
