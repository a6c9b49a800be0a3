//! The dsim checker: is a history of client operations linearizable?
//!
//! A [`History`] is read from JSON Lines (or built event by event), a
//! [`Model`] is picked by name from the registry, and [`check`] answers
//! with a [`Report`]: a three-valued [`Verdict`] (linearizable, not
//! linearizable, unknown when the step budget runs out), one entry per key,
//! and on a violation a [`Witness`]: a set of operations of one key that
//! cannot be ordered whatever the key's other operations did, minimal when
//! the steps allow, drawn as a timeline and explained in words.
//! [`check_verdict`] stops at the verdict. Histories are read from JSON
//! Lines or from Jepsen's EDN ([`History::parse_edn`]).
//!
//! The search is Wing–Gong with Lowe's memoization, run key by key
//! (keys are independent, so a history is linearizable when each key is).
//! It is deterministic: same history, model and budget, same report.
//! The crate does no I/O; the `dsim check` command reads files and prints.
//!
//! ```
//! use checker::{check, model, History, Verdict};
//!
//! let text = r#"
//! {"process":0,"type":"invoke","f":"write","key":"x","value":1,"time":10}
//! {"process":0,"type":"ok","f":"write","key":"x","value":1,"time":20}
//! {"process":0,"type":"invoke","f":"write","key":"x","value":2,"time":30}
//! {"process":0,"type":"ok","f":"write","key":"x","value":2,"time":40}
//! {"process":1,"type":"invoke","f":"read","key":"x","value":null,"time":50}
//! {"process":1,"type":"ok","f":"read","key":"x","value":1,"time":60}
//! "#;
//! let history = History::parse_jsonl(text).unwrap();
//! let kv = model::by_name("kv", None).unwrap();
//! let report = check(&history, &kv, checker::DEFAULT_BUDGET).unwrap();
//! assert_eq!(report.verdict, Verdict::NotLinearizable);
//! let witness = report.witness.unwrap();
//! assert_eq!(witness.ops.len(), 3);
//! assert!(witness.explanation.starts_with("read of x by process 1 returned 1, but write x=2"));
//! println!("{}", witness.render_text());
//! ```
//!
//! Building a history without JSON, as a simulator does:
//!
//! ```
//! use checker::{CompletionKind, History};
//! use serde_json::json;
//!
//! let mut history = History::new();
//! history.invoke(0, "write", Some("x".into()), json!(3), 1_000).unwrap();
//! history.complete(0, CompletionKind::Ok, json!(3), 2_500).unwrap();
//! assert_eq!(history.to_jsonl().lines().count(), 2);
//! ```

#![warn(missing_docs)]

pub mod history;
mod linearizability;
pub mod model;
mod outcome;
mod render;
mod search;
mod witness;

pub use history::{
    Completion, CompletionKind, EdnOptions, EdnReader, History, HistoryError, JsonlReader, NilRead,
    Operation, ReadSet, TimeUnit,
};
pub use linearizability::{check, check_verdict, CheckError, Report, DEFAULT_BUDGET};
pub use model::{Explanation, Model, ModelError, Spec};
pub use outcome::{KeyReport, ShapeError, Verdict, Witness};
pub use search::MEMO_BYTES;
