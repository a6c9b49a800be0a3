//! The replicated applications: vrrm's blackboard and a counter.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sim::{Digest, Value};

use super::msg::Cmd;

/// Which application the replicas run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum App {
    /// vrrm_blackboard: `put(k, v)` → ok, `get(k)` → v or not_found (null).
    #[default]
    Blackboard,
    /// A counter per key: `add(k, n)` → ok, `read(k)` → the sum (0 at first).
    Counter,
}

/// An application's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppState {
    app: App,
    map: BTreeMap<u32, i64>,
}

impl AppState {
    /// The initial state of `app`.
    pub fn new(app: App) -> Self {
        AppState {
            app,
            map: BTreeMap::new(),
        }
    }

    /// Runs `cmd`; the result, or why the app has no handler for it (a
    /// crash of the replica in vrrm: a function_clause error).
    pub fn apply(&mut self, cmd: &Cmd) -> Result<Value, String> {
        match (self.app, cmd) {
            (App::Blackboard, Cmd::Put { key, value }) => {
                self.map.insert(*key, *value);
                Ok(Value::Str("ok".into()))
            }
            (App::Blackboard, Cmd::Get { key }) => {
                Ok(self.map.get(key).map_or(Value::Null, |v| Value::Int(*v)))
            }
            (App::Counter, Cmd::Add { key, by }) => {
                *self.map.entry(*key).or_insert(0) += by;
                Ok(Value::Str("ok".into()))
            }
            (App::Counter, Cmd::Get { key }) => {
                Ok(Value::Int(self.map.get(key).copied().unwrap_or(0)))
            }
            // The replica acts on a reconfiguration; the app never sees it.
            (_, Cmd::Reconfigure { .. }) => Ok(Value::Str("ok".into())),
            (app, cmd) => Err(format!("the {app:?} app has no handler for {cmd:?}")),
        }
    }

    /// Key → value, for the convergence and agreement checks.
    pub fn digest(&self) -> Digest {
        self.map
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}
