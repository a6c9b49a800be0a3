//! `kv-append`: string values per key, with get, put and append.
//!
//! Shapes: `get` has value `null` and returns the string; `put s` and
//! `append s` take a string and return `null` or `s`. Append concatenates
//! without a separator. Every key starts at the initial value (default `""`).

use super::shape::{bad_input, bad_output, echo_output, no_input, unknown};
use super::{Model, ModelError, Registration, ShapeError, Spec};
use crate::history::Operation;
use serde_json::Value;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The registry line.
pub(crate) const REGISTRATION: Registration = Registration::new(
    "kv-append",
    "string values per key: get, put s, append s (concatenation); initial \"\"",
    build,
);

const FUNCTIONS: &[&str] = &["get", "put", "append"];

fn build(initial: Option<&Value>) -> Result<Model, ModelError> {
    let initial = match initial {
        None => "",
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            let (model, expected, found) = ("kv-append", "a string", other.clone());
            return Err(ModelError::BadInitial {
                model,
                expected,
                found,
            });
        }
    };
    Ok(Model::new(
        "kv-append",
        KvAppend {
            initial: Text::new(initial),
        },
    ))
}

/// Multiplier of the polynomial string hash.
const BASE: u64 = 0x100_0000_01b3;

/// A string with its length and polynomial hash, h(s) = sum of s[i] *
/// BASE^(len-1-i) (wrapping), kept as a chain of pieces. The search makes a
/// new state on every append step, most of which its cache then finds it
/// has seen: a chain makes an append one small allocation instead of a copy
/// of the whole string, and the kept hash makes most comparisons O(1) (equal
/// hashes are confirmed byte by byte).
#[derive(Clone, Debug)]
pub(crate) struct Text {
    hash: u64,
    len: usize,
    piece: Arc<Piece>,
}

/// The last piece of a text, and the text before it.
#[derive(Debug)]
struct Piece {
    bytes: Arc<[u8]>,
    before: Option<Text>,
}

impl Text {
    /// The heap bytes of this text's last piece (its two allocations, with
    /// their reference counts); earlier pieces belong to earlier texts.
    pub(crate) fn piece_bytes(&self) -> usize {
        std::mem::size_of::<Piece>() + 16 + self.piece.bytes.len() + 16
    }

    fn new(text: &str) -> Text {
        Text::from_bytes(text.as_bytes())
    }

    /// A text of raw bytes (the `list-append` model encodes its lists so).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Text {
        let bytes: Arc<[u8]> = Arc::from(bytes);
        Text {
            hash: poly_hash(&bytes),
            len: bytes.len(),
            piece: Arc::new(Piece {
                bytes,
                before: None,
            }),
        }
    }

    pub(crate) fn append(&self, suffix: &Suffix) -> Text {
        Text {
            hash: self
                .hash
                .wrapping_mul(suffix.shift)
                .wrapping_add(suffix.hash),
            len: self.len + suffix.bytes.len(),
            piece: Arc::new(Piece {
                bytes: suffix.bytes.clone(),
                before: Some(self.clone()),
            }),
        }
    }

    /// The bytes, last first.
    fn bytes_backwards(&self) -> impl Iterator<Item = u8> + '_ {
        let pieces =
            std::iter::successors(Some(&*self.piece), |p| p.before.as_ref().map(|t| &*t.piece));
        pieces.flat_map(|p| p.bytes.iter().rev().copied())
    }
}

impl Drop for Piece {
    /// Drops a long chain in a loop, not by recursion (which could
    /// overflow the stack on a key with very many appends).
    fn drop(&mut self) {
        let mut next = self.before.take();
        while let Some(text) = next {
            next = Arc::into_inner(text.piece).and_then(|mut piece| piece.before.take());
        }
    }
}

fn poly_hash(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0, |h, &b| h.wrapping_mul(BASE).wrapping_add(u64::from(b)))
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.hash == other.hash
            && self.len == other.len
            && (Arc::ptr_eq(&self.piece, &other.piece)
                || self.bytes_backwards().eq(other.bytes_backwards()))
    }
}

impl Eq for Text {}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// A suffix to append, with its hash and BASE^len, to extend a hash.
#[derive(Debug, PartialEq)]
pub(crate) struct Suffix {
    bytes: Arc<[u8]>,
    hash: u64,
    shift: u64,
}

impl Suffix {
    fn new(text: &str) -> Suffix {
        Suffix::from_bytes(text.as_bytes())
    }

    /// A suffix of raw bytes.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Suffix {
        let shift = (0..bytes.len()).fold(1u64, |p, _| p.wrapping_mul(BASE));
        let bytes: Arc<[u8]> = Arc::from(bytes);
        Suffix {
            hash: poly_hash(&bytes),
            bytes,
            shift,
        }
    }
}

/// The specification of one key.
#[derive(Debug)]
struct KvAppend {
    initial: Text,
}

/// One operation; a `None` output is unknown.
#[derive(Debug, PartialEq)]
enum AppendOp {
    Get(Option<Text>),
    Put(Text),
    Append(Suffix),
}

impl Spec for KvAppend {
    type State = Text;
    type Op = AppendOp;

    fn init(&self) -> Text {
        self.initial.clone()
    }

    fn state_bytes(&self, state: &Text) -> usize {
        // An append makes one new piece; the text before it is shared.
        state.piece_bytes()
    }

    fn prepare(&self, op: &Operation) -> Result<AppendOp, ShapeError> {
        let text_input = || op.value.as_str().ok_or_else(|| bad_input(op, "a string"));
        match op.f.as_str() {
            "get" => {
                no_input(op)?;
                let output = match op.output() {
                    None => None,
                    Some(Value::String(s)) => Some(Text::new(s)),
                    Some(other) => return Err(bad_output(op, other, "a string")),
                };
                Ok(AppendOp::Get(output))
            }
            "put" => {
                let text = text_input()?;
                echo_output(op)?;
                Ok(AppendOp::Put(Text::new(text)))
            }
            "append" => {
                let text = text_input()?;
                echo_output(op)?;
                Ok(AppendOp::Append(Suffix::new(text)))
            }
            _ => Err(unknown(op, FUNCTIONS)),
        }
    }

    fn read_only(&self, op: &AppendOp) -> bool {
        matches!(op, AppendOp::Get(_))
    }

    fn step(&self, state: &Text, op: &AppendOp) -> Option<Text> {
        match op {
            AppendOp::Get(Some(text)) => (state == text).then(|| state.clone()),
            AppendOp::Get(None) => Some(state.clone()),
            AppendOp::Put(text) => Some(text.clone()),
            AppendOp::Append(suffix) => Some(state.append(suffix)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chained_and_flat_texts_agree() {
        let chained = Text::new("ab")
            .append(&Suffix::new(""))
            .append(&Suffix::new("cde"));
        let flat = Text::new("abcde");
        assert_eq!(chained.hash, flat.hash);
        assert_eq!(chained, flat);
        assert_ne!(chained, Text::new("abcdf"));
        assert_ne!(Text::new("a").append(&Suffix::new("bc")), Text::new("ab"));
        let backwards: Vec<u8> = chained.bytes_backwards().collect();
        assert_eq!(backwards, b"edcba");
    }

    #[test]
    fn a_long_chain_drops_without_recursion() {
        let suffix = Suffix::new("x");
        let mut text = Text::new("");
        for _ in 0..200_000 {
            text = text.append(&suffix);
        }
        assert_eq!(text.len, 200_000);
        drop(text);
    }
}
