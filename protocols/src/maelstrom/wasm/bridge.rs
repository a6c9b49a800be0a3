//! Between Maelstrom's JSON and dsim's values: the lines a guest reads for
//! `init`, `topology` and each client operation; the completion a client
//! reply makes; the typed request a service understands.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Map, Value as Json};
use sim::{NodeId, Reply, Request, Value};

use crate::maelstrom::topology::Topology;
use crate::maelstrom::{error_reply, kafka, Kind};

/// A JSON message body (`type` and its fields; `msg_id` and `in_reply_to`
/// live in [`crate::maelstrom::Body`]), shared by the copies of a message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JsonBody(pub Arc<Map<String, Json>>);

impl serde::Serialize for JsonBody {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl JsonBody {
    /// The body's `type` (empty when it has none).
    pub fn kind(&self) -> &str {
        self.0.get("type").and_then(Json::as_str).unwrap_or("")
    }
}

/// The workloads a foreign node can serve, by protocol name.
pub const WORKLOADS: &[&str] = &[
    "gg-echo",
    "gg-unique-ids",
    "gg-broadcast",
    "gg-g-counter",
    "gg-txn",
    "gg-kafka",
];

/// A client operation as the body Maelstrom's client sends.
pub fn request_body(req: &Request) -> Map<String, Json> {
    let v = to_json(&req.value);
    let body = match req.f {
        "echo" => json!({"type": "echo", "echo": v}),
        "generate" => json!({"type": "generate"}),
        "broadcast" => json!({"type": "broadcast", "message": v}),
        "add" => json!({"type": "add", "delta": v}),
        "txn" => json!({"type": "txn", "txn": v}),
        // read, and anything a workload adds later: the name is the type.
        f => json!({"type": f}),
    };
    match body {
        Json::Object(m) => m,
        _ => Map::new(),
    }
}

/// The completion a guest's reply to operation `f` (input `input`) makes:
/// an error is `fail` when definite, else `info`; a reply of the wrong
/// type is `info` (Maelstrom's client cannot read it either) and the
/// second value says so.
pub fn reply_of(f: &str, input: &Value, body: &Map<String, Json>) -> (Reply, Option<String>) {
    let ty = body.get("type").and_then(Json::as_str).unwrap_or("");
    if ty == "error" {
        let code = body.get("code").and_then(Json::as_u64).unwrap_or(0);
        let text = body.get("text").and_then(Json::as_str).unwrap_or("");
        return (error_reply(code.min(u32::MAX as u64) as u32, text), None);
    }
    let field = |name: &str| body.get(name).map(of_json).unwrap_or_default();
    let out = match (f, ty) {
        ("echo", "echo_ok") => Some(field("echo")),
        ("generate", "generate_ok") => Some(field("id")),
        ("broadcast", "broadcast_ok") | ("add", "add_ok") => Some(input.clone()),
        ("read", "read_ok") if body.contains_key("messages") => Some(field("messages")),
        ("read", "read_ok") => Some(field("value")),
        ("txn", "txn_ok") => Some(field("txn")),
        _ => None,
    };
    match out {
        Some(v) => (Reply::Ok(v), None),
        None => (
            Reply::Info,
            Some(format!("answered {f} with a body of type {ty:?}")),
        ),
    }
}

/// The `topology` body of `params.topology` for `nodes` servers, when the
/// workload has one.
pub fn topology_body(workload: &str, params: &Json, nodes: usize) -> Option<Map<String, Json>> {
    if workload != "gg-broadcast" {
        return None;
    }
    let t: Topology = params
        .get("topology")
        .and_then(|t| serde_json::from_value(t.clone()).ok())
        .unwrap_or_default();
    let mut map = Map::new();
    for i in 0..nodes {
        let ns: Vec<Json> = t
            .neighbours(i, nodes)
            .into_iter()
            .map(|j| Json::String(format!("n{j}")))
            .collect();
        map.insert(format!("n{i}"), Json::Array(ns));
    }
    let mut body = Map::new();
    body.insert("type".into(), "topology".into());
    body.insert("topology".into(), Json::Object(map));
    Some(body)
}

/// The `init` body for server `id` of `nodes`.
pub fn init_body(id: NodeId, nodes: usize) -> Map<String, Json> {
    let ids: Vec<Json> = (0..nodes).map(|i| Json::String(format!("n{i}"))).collect();
    let mut body = Map::new();
    body.insert("type".into(), "init".into());
    body.insert("node_id".into(), Json::String(format!("n{id}")));
    body.insert("node_ids".into(), Json::Array(ids));
    body
}

/// A request body to a service as the service's typed request; a body it
/// cannot hold (a value that is not an integer, an unknown type) stays
/// JSON, and the service answers it with an error.
pub fn service_kind(body: Map<String, Json>) -> Kind {
    let key = |b: &Map<String, Json>| match b.get("key") {
        Some(Json::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
        None => None,
    };
    let int = |b: &Map<String, Json>, f: &str| b.get(f).and_then(Json::as_i64);
    let typed = match body.get("type").and_then(Json::as_str).unwrap_or("") {
        "read" => key(&body).map(|key| Kind::Read { key }),
        "write" => key(&body)
            .zip(int(&body, "value"))
            .map(|(key, value)| Kind::Write { key, value }),
        "cas" => match (key(&body), int(&body, "from"), int(&body, "to")) {
            (Some(key), Some(from), Some(to)) => Some(Kind::Cas {
                key,
                from,
                to,
                create_if_not_exists: body
                    .get("create_if_not_exists")
                    .and_then(Json::as_bool)
                    .unwrap_or(false),
            }),
            _ => None,
        },
        "ts" => Some(Kind::Ts),
        _ => None,
    };
    typed.unwrap_or_else(|| Kind::Json(JsonBody(Arc::new(body))))
}

/// A reply to one of the workload's client processes (kafka's) as the
/// message the client reads: an `error` body as an error, a body of the
/// workload's own types as that message, anything else as JSON (which
/// the client takes as an exception: the operation ends `info`).
pub fn client_kind(body: Map<String, Json>) -> Kind {
    if body.get("type").and_then(Json::as_str) == Some("error") {
        let code = body.get("code").and_then(Json::as_u64).unwrap_or(0);
        let text = body.get("text").and_then(Json::as_str).unwrap_or("");
        return Kind::Error {
            code: code.min(u32::MAX as u64) as u32,
            text: text.to_string(),
        };
    }
    let json = Json::Object(body);
    match kafka::Msg::deserialize(&json) {
        Ok(m) => Kind::Kafka(m),
        Err(_) => {
            let Json::Object(body) = json else {
                return Kind::Json(JsonBody::default());
            };
            Kind::Json(JsonBody(Arc::new(body)))
        }
    }
}

/// A history value as JSON.
pub fn to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Str(s) => Json::String(s.clone()),
        Value::List(l) => Json::Array(l.iter().map(to_json).collect()),
        Value::Set(s) => Json::Array(s.sorted().into_iter().map(Json::from).collect()),
    }
}

/// JSON as a history value: integers stay integers; other numbers and
/// objects become their JSON text.
pub fn of_json(v: &Json) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => n
            .as_i64()
            .map_or_else(|| Value::Str(n.to_string()), Value::Int),
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(a) => Value::List(a.iter().map(of_json).collect()),
        Json::Object(_) => Value::Str(v.to_string()),
    }
}
