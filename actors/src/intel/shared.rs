//! Engine tunables shared across channels: every channel running the defaults points at one
//! process-wide copy instead of holding its own.
//!
//! Why: the churn, coach, clip and health tunables are ~450 bytes per channel (the coach's
//! per-kind timing map a heap node besides), identical in every channel of a fleet that runs
//! the defaults. Shared behind an `Arc`, they serialise exactly as before (serde writes an
//! `Arc<T>` as its `T`), and a snapshot's tunables are shared again when read back if they
//! are the defaults.

use std::sync::Arc;

use serde::{Deserialize, Deserializer};

/// Tunables with a process-wide default copy.
pub(crate) trait SharedDefault: Default + PartialEq + Send + Sync + 'static {
    /// The process-wide default.
    fn shared_default() -> &'static Arc<Self>;
}

/// Implements [`SharedDefault`] for a tunables type.
macro_rules! shared_default {
    ($t:ty) => {
        impl $crate::intel::shared::SharedDefault for $t {
            fn shared_default() -> &'static std::sync::Arc<Self> {
                static DEFAULT: std::sync::LazyLock<std::sync::Arc<$t>> =
                    std::sync::LazyLock::new(|| std::sync::Arc::new(<$t>::default()));
                &DEFAULT
            }
        }
    };
}
pub(crate) use shared_default;

/// `config` behind an `Arc`: the process-wide default's when it equals the default.
pub(crate) fn share<T: SharedDefault>(config: T) -> Arc<T> {
    let default = T::shared_default();
    if **default == config {
        Arc::clone(default)
    } else {
        Arc::new(config)
    }
}

/// For `#[serde(deserialize_with = ...)]`: reads tunables and shares them if they are the
/// defaults.
pub(crate) fn deserialize<'de, D, T>(d: D) -> Result<Arc<T>, D::Error>
where
    D: Deserializer<'de>,
    T: SharedDefault + Deserialize<'de>,
{
    T::deserialize(d).map(share)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intel::churn::ChurnConfig;

    #[test]
    fn defaults_are_one_copy_and_others_their_own() {
        let (a, b) = (share(ChurnConfig::default()), share(ChurnConfig::default()));
        assert!(Arc::ptr_eq(&a, &b));
        let custom = share(ChurnConfig {
            max_tracked: 16,
            ..ChurnConfig::default()
        });
        assert!(!Arc::ptr_eq(&a, &custom));
        assert_eq!(custom.max_tracked, 16);
        let json = serde_json::to_string(&*a).unwrap();
        let mut de = serde_json::Deserializer::from_str(&json);
        let back: Arc<ChurnConfig> = deserialize(&mut de).unwrap();
        assert!(
            Arc::ptr_eq(&back, &a),
            "a default read back is shared again"
        );
    }
}
