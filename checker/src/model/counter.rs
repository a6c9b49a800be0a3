//! `counter`: an integer per key, with add and read.
//!
//! Shapes: `add n` takes an integer (negative subtracts) and returns `null`
//! or `n`; `read` has value `null` and returns the integer. Every key starts
//! at the initial value (default 0).

use super::shape::{bad_output, echo_output, int_input, no_input, unknown};
use super::{Model, ModelError, Registration, ShapeError, Spec};
use crate::history::Operation;
use serde_json::Value;

/// The registry line.
pub(crate) const REGISTRATION: Registration = Registration::new(
    "counter",
    "an integer per key: add n, read; initial 0",
    build,
);

const FUNCTIONS: &[&str] = &["add", "read"];

fn build(initial: Option<&Value>) -> Result<Model, ModelError> {
    let initial = match initial {
        None => 0,
        Some(value) => value.as_i64().ok_or_else(|| ModelError::BadInitial {
            model: "counter",
            expected: "an integer",
            found: value.clone(),
        })?,
    };
    Ok(Model::new("counter", Counter { initial }))
}

/// The specification of one key.
#[derive(Debug)]
struct Counter {
    initial: i64,
}

/// One operation; a `None` output is unknown.
#[derive(Debug, PartialEq)]
enum CounterOp {
    Add(i64),
    Read(Option<i64>),
}

impl Spec for Counter {
    // Wide enough that no history of 64-bit amounts can overflow it.
    type State = i128;
    type Op = CounterOp;

    fn init(&self) -> i128 {
        i128::from(self.initial)
    }

    fn prepare(&self, op: &Operation) -> Result<CounterOp, ShapeError> {
        match op.f.as_str() {
            "add" => {
                let n = int_input(op, "an integer")?;
                echo_output(op)?;
                Ok(CounterOp::Add(n))
            }
            "read" => {
                no_input(op)?;
                match op.output() {
                    None => Ok(CounterOp::Read(None)),
                    Some(out) => match out.as_i64() {
                        Some(n) => Ok(CounterOp::Read(Some(n))),
                        None => Err(bad_output(op, out, "an integer")),
                    },
                }
            }
            _ => Err(unknown(op, FUNCTIONS)),
        }
    }

    fn read_only(&self, op: &CounterOp) -> bool {
        matches!(op, CounterOp::Read(_))
    }

    fn step(&self, state: &i128, op: &CounterOp) -> Option<i128> {
        match op {
            CounterOp::Add(n) => Some(state + i128::from(*n)),
            CounterOp::Read(Some(n)) => (*state == i128::from(*n)).then_some(*state),
            CounterOp::Read(None) => Some(*state),
        }
    }
}
