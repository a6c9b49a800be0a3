//! `bank`: an account balance per key, with deposit, withdraw and balance.
//!
//! Shapes: `deposit n` takes a non-negative integer and returns `null` or
//! `n`; `withdraw n` takes a non-negative integer and returns `true` if it
//! took the money or `false` if it refused because the balance was short
//! (a refused withdrawal is an `ok` completion: it happened, and said no);
//! `balance` has value `null` and returns the integer balance. Every key
//! (account) starts at the initial value (default 0).

use super::shape::{bad_output, echo_output, int_input, no_input, unknown};
use super::{Model, ModelError, Registration, ShapeError, Spec};
use crate::history::Operation;
use serde_json::Value;

/// The registry line.
pub(crate) const REGISTRATION: Registration = Registration::new(
    "bank",
    "a balance per key: deposit n, withdraw n (-> true, or false if short), balance; initial 0",
    build,
);

const FUNCTIONS: &[&str] = &["deposit", "withdraw", "balance"];
const AMOUNT: &str = "a non-negative integer amount";

fn build(initial: Option<&Value>) -> Result<Model, ModelError> {
    let initial = match initial {
        None => 0,
        Some(value) => value.as_i64().ok_or_else(|| ModelError::BadInitial {
            model: "bank",
            expected: "an integer",
            found: value.clone(),
        })?,
    };
    Ok(Model::new("bank", Bank { initial }))
}

/// The specification of one account.
#[derive(Debug)]
struct Bank {
    initial: i64,
}

/// One operation; a `None` output is unknown.
#[derive(Debug, PartialEq)]
enum BankOp {
    Deposit(i64),
    Withdraw(i64, Option<bool>),
    Balance(Option<i64>),
}

fn amount(op: &Operation) -> Result<i64, ShapeError> {
    match int_input(op, AMOUNT)? {
        n if n >= 0 => Ok(n),
        _ => Err(super::shape::bad_input(op, AMOUNT)),
    }
}

impl Spec for Bank {
    // Wide enough that no history of 64-bit amounts can overflow it.
    type State = i128;
    type Op = BankOp;

    fn init(&self) -> i128 {
        i128::from(self.initial)
    }

    fn prepare(&self, op: &Operation) -> Result<BankOp, ShapeError> {
        match op.f.as_str() {
            "deposit" => {
                let n = amount(op)?;
                echo_output(op)?;
                Ok(BankOp::Deposit(n))
            }
            "withdraw" => {
                let n = amount(op)?;
                let taken = match op.output() {
                    None => None,
                    Some(Value::Bool(b)) => Some(*b),
                    Some(other) => return Err(bad_output(op, other, "true or false")),
                };
                Ok(BankOp::Withdraw(n, taken))
            }
            "balance" => {
                no_input(op)?;
                match op.output() {
                    None => Ok(BankOp::Balance(None)),
                    Some(out) => match out.as_i64() {
                        Some(n) => Ok(BankOp::Balance(Some(n))),
                        None => Err(bad_output(op, out, "an integer")),
                    },
                }
            }
            _ => Err(unknown(op, FUNCTIONS)),
        }
    }

    fn read_only(&self, op: &BankOp) -> bool {
        // A refused withdrawal leaves the balance as it was.
        matches!(op, BankOp::Balance(_) | BankOp::Withdraw(_, Some(false)))
    }

    fn step(&self, state: &i128, op: &BankOp) -> Option<i128> {
        match op {
            BankOp::Deposit(n) => Some(state + i128::from(*n)),
            BankOp::Withdraw(n, taken) => match (*state >= i128::from(*n), taken) {
                (true, Some(true) | None) => Some(state - i128::from(*n)),
                (false, Some(false) | None) => Some(*state),
                _ => None,
            },
            BankOp::Balance(Some(n)) => (*state == i128::from(*n)).then_some(*state),
            BankOp::Balance(None) => Some(*state),
        }
    }
}
