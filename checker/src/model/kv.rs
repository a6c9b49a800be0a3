//! `kv`: a map of independent cas-registers, one per key.
//!
//! Every key starts at the initial value (default `null`) and is checked on
//! its own; shapes are those of `cas-register`. An operation without a key
//! is the register of the empty key set, checked on its own too.

use super::cas_register::CasRegister;
use super::{Model, Registration};

/// The registry line.
pub(crate) const REGISTRATION: Registration = Registration::new(
    "kv",
    "a cas-register per key: read, write v, cas [old,new]; keys independent, initial null",
    |initial| Ok(Model::new("kv", CasRegister::new(initial, true))),
);
