//! The versioned key-value model (the seed's `KeyValueStore`): each key
//! holds a value and a version; `Set` with an expected version is a CAS
//! checked at apply time, in stream order, on every engine alike.
//!
//! As in the seed, `Remove` deletes the key and its version: a later `Set`
//! starts again at version 1, and an expected version of 0 matches a key
//! that is absent.

use std::collections::BTreeMap;

use serde::Serialize;
use sim::Value;

/// A command as it travels in a record: what every engine applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cmd {
    /// `Set(key, value, expected_version?)`.
    Set {
        /// Key.
        key: u32,
        /// New value.
        value: i64,
        /// Apply only if the key's version is this (absent key: 0).
        expected: Option<u64>,
        /// `incr` with a precondition: apply only if the key's value is
        /// also this (not in the seed; see [`Store::set`]).
        #[serde(skip_serializing_if = "Option::is_none")]
        expected_value: Option<i64>,
    },
    /// `Remove(key, expected_version?)`; fails when the key is absent.
    Remove {
        /// Key.
        key: u32,
        /// Apply only if the key's version is this.
        expected: Option<u64>,
    },
    /// A non-deterministic command (MS-5): sets `key` to a value drawn from
    /// the applying engine's own random stream, as a command that reads the
    /// clock or `Random` would.
    Stamp {
        /// Key.
        key: u32,
    },
    /// `leader`: the origin takes the lead from this record on.
    AssumeLeadership,
    /// `leader`: the leader is alive.
    Heartbeat,
    /// `leader`: a read-index marker; the origin answers the read it
    /// carries once it has applied it.
    Marker,
}

impl Cmd {
    /// True for the commands of the model (as opposed to the records of
    /// the `leader` variant's protocol).
    pub fn is_app(&self) -> bool {
        matches!(
            self,
            Cmd::Set { .. } | Cmd::Remove { .. } | Cmd::Stamp { .. }
        )
    }
}

/// Why a command did not take effect (the seed's exceptions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CmdError {
    /// `Version mismatch`.
    VersionMismatch {
        /// The version the key had.
        actual: u64,
    },
    /// `KeyNotFoundException`.
    NoSuchKey,
    /// An `incr`'s precondition: the version matched but the value did not
    /// (the key was removed and set again since the value was read).
    ValueMismatch {
        /// The version the key had.
        actual: u64,
    },
}

impl std::fmt::Display for CmdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CmdError::VersionMismatch { actual } => {
                write!(f, "version mismatch (the key is at version {actual})")
            }
            CmdError::NoSuchKey => f.write_str("no such key"),
            CmdError::ValueMismatch { actual } => {
                write!(f, "value mismatch (the key is at version {actual})")
            }
        }
    }
}

/// The store: key → (value, version).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Store {
    entries: BTreeMap<u32, (i64, u64)>,
}

impl Store {
    /// `Get`: the value and version, or `None` (the seed throws).
    pub fn get(&self, key: u32) -> Option<(i64, u64)> {
        self.entries.get(&key).copied()
    }

    /// The value of `key` as a query answers it: `[value, version]` or null.
    pub fn read(&self, key: u32) -> Value {
        match self.get(key) {
            Some((v, ver)) => Value::List(vec![Value::Int(v), Value::Int(ver as i64)]),
            None => Value::Null,
        }
    }

    fn expect(&self, key: u32, expected: Option<u64>) -> Result<(), CmdError> {
        let actual = self.get(key).map_or(0, |(_, ver)| ver);
        match expected {
            Some(e) if e != actual => Err(CmdError::VersionMismatch { actual }),
            _ => Ok(()),
        }
    }

    /// `Set`: the new version. `expected_value` (not in the seed) is the
    /// rest of an `incr`'s precondition: `Remove` deletes a key's version,
    /// so a version alone does not name a value (ABA); the value read and
    /// its version together do, for an increment.
    pub fn set(
        &mut self,
        key: u32,
        value: i64,
        expected: Option<u64>,
        expected_value: Option<i64>,
    ) -> Result<u64, CmdError> {
        self.expect(key, expected)?;
        if let Some(ev) = expected_value {
            if let Some((_, ver)) = self.get(key).filter(|(v, _)| *v != ev) {
                return Err(CmdError::ValueMismatch { actual: ver });
            }
        }
        let e = self.entries.entry(key).or_insert((0, 0));
        e.0 = value;
        e.1 += 1;
        Ok(e.1)
    }

    /// `Remove`.
    pub fn remove(&mut self, key: u32, expected: Option<u64>) -> Result<(), CmdError> {
        if !self.entries.contains_key(&key) {
            return Err(CmdError::NoSuchKey);
        }
        self.expect(key, expected)?;
        self.entries.remove(&key);
        Ok(())
    }

    /// Every key, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&u32, &(i64, u64))> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_sets_and_a_remove_starts_them_again() {
        let mut s = Store::default();
        assert_eq!(
            s.set(1, 10, Some(0), None),
            Ok(1),
            "absent key is version 0"
        );
        assert_eq!(s.set(1, 11, None, None), Ok(2));
        assert_eq!(
            s.set(1, 12, Some(1), None),
            Err(CmdError::VersionMismatch { actual: 2 })
        );
        assert_eq!(s.get(1), Some((11, 2)), "a failed CAS changes nothing");
        assert_eq!(
            s.remove(1, Some(1)),
            Err(CmdError::VersionMismatch { actual: 2 })
        );
        assert_eq!(s.remove(1, Some(2)), Ok(()));
        assert_eq!(s.remove(1, None), Err(CmdError::NoSuchKey));
        assert_eq!(s.set(1, 5, None, None), Ok(1));
        assert_eq!(s.read(1), Value::List(vec![Value::Int(5), Value::Int(1)]));
        // ABA: version 1 again, another value; an incr's precondition sees it.
        assert_eq!(
            s.set(1, 2, Some(1), Some(10)),
            Err(CmdError::ValueMismatch { actual: 1 })
        );
        assert_eq!(s.set(1, 6, Some(1), Some(5)), Ok(2));
        assert_eq!(s.read(2), Value::Null);
    }
}
