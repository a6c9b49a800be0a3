//! Milliseconds as a scenario names them: the one checked unit type every
//! time-valued knob is read through (the scenario's own `_ms` fields,
//! protocol `params`, service `params`, check parameters).
//!
//! A value past [`MAX_MS`] (10^12 ms, some 31 years) is refused when it is
//! read, with the field's name, so that turning it into microseconds
//! ([`Ms::us`], `ms * 1000`) can never wrap: 10^12 × 1000 = 10^15 < 2^64.

use serde::{Deserialize, Deserializer, Serialize};

use crate::Time;

/// The largest number of milliseconds a scenario may name (10^12).
pub const MAX_MS: u64 = 1_000_000_000_000;

/// A whole number of milliseconds, at most [`MAX_MS`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Ms(u64);

impl Ms {
    /// `ms` milliseconds, or what is allowed when it is past the limit.
    pub fn new(ms: u64) -> Result<Ms, String> {
        if ms > MAX_MS {
            Err(format!(
                "{ms} ms is past the limit: a time in a scenario is at most {MAX_MS} ms (10^12)"
            ))
        } else {
            Ok(Ms(ms))
        }
    }

    /// The milliseconds.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The same time in microseconds (cannot overflow).
    pub fn us(self) -> Time {
        self.0 * crate::MS
    }
}

impl<'de> Deserialize<'de> for Ms {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ms, D::Error> {
        Ms::new(u64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// For `#[serde(deserialize_with = "sim::ms::de")]` on a `u64` field of
/// milliseconds: read through [`Ms`], so refused past [`MAX_MS`].
pub fn de<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ms::deserialize(d).map(Ms::get)
}

/// [`de`] for an `Option<u64>` field (pair it with `#[serde(default)]`).
pub fn de_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<Ms>::deserialize(d).map(|o| o.map(Ms::get))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_inclusive_and_microseconds_never_wrap() {
        assert_eq!(Ms::new(MAX_MS).unwrap().us(), 1_000_000_000_000_000);
        let e = Ms::new(MAX_MS + 1).unwrap_err();
        assert!(e.contains("at most 1000000000000 ms"), "{e}");
        let big = serde_json::json!(u64::MAX / 1000);
        assert!(serde_json::from_value::<Ms>(big).is_err());
        assert_eq!(
            serde_json::from_value::<Ms>(serde_json::json!(5))
                .unwrap()
                .us(),
            5000
        );
    }
}
