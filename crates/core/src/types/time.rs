//! Time as the engine sees it: whole seconds since the Unix epoch, read once per
//! request by the host and carried in [`crate::Context`].

use serde::{Deserialize, Serialize};

/// Seconds since 1970-01-01T00:00:00Z, the `NumericDate` of RFC 7519 section 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixTime(u64);

impl UnixTime {
    /// A time `secs` seconds after the epoch.
    #[must_use]
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs)
    }

    /// Seconds since the epoch.
    #[must_use]
    pub const fn as_secs(self) -> u64 {
        self.0
    }

    /// This time plus `secs` seconds, saturating.
    #[must_use]
    pub const fn plus(self, secs: u64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// This time minus `secs` seconds, saturating at the epoch.
    #[must_use]
    pub const fn minus(self, secs: u64) -> Self {
        Self(self.0.saturating_sub(secs))
    }
}

impl crate::json::Read for UnixTime {
    fn read(r: &mut crate::json::Reader<'_>) -> crate::json::Result<Self> {
        u64::read(r).map(Self)
    }
}
