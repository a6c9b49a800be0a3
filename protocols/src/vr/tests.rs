//! Message-level tests of the vr replica and client.

use sim::{Effect, Harness, Layout};

use super::msg::{Cmd, Entry, Msg};
use super::*;

fn layout(n: usize) -> Layout {
    Layout {
        replicas: n,
        services: Vec::new(),
        clients: 1,
    }
}

fn replica(id: usize, n: usize, variant: &str) -> Harness<Vr> {
    let mut h = Harness::with_layout(Vr::new(id, n, variant, &Params::default()), id, layout(n));
    h.start();
    h
}

fn put(op: u64, value: i64) -> Entry {
    Entry {
        op,
        view: 0,
        client: 3,
        req_num: op,
        cmd: Cmd::Put { key: 0, value },
    }
}

fn prepare(op: u64, commit: u64) -> Msg {
    Msg::Prepare {
        view: 0,
        op,
        commit,
        min_commit: 0,
        entry: put(op, op as i64),
    }
}

fn halted(fx: &[sim::EffectOf<Vr>]) -> Option<&str> {
    fx.iter().find_map(|e| match e {
        Effect::Halt { reason } => Some(reason.as_str()),
        _ => None,
    })
}

#[test]
fn d3_a_missed_prepare_crashes_a_faithful_backup_and_an_intended_one_fetches() {
    let mut f = replica(1, 3, "faithful");
    f.message(0, prepare(1, 0));
    let fx = f.message(0, prepare(3, 2));
    assert!(halted(&fx).is_some_and(|r| r.contains("op 2")), "{fx:?}");

    let mut i = replica(1, 3, "intended");
    i.message(0, prepare(1, 0));
    let fx = i.message(0, prepare(3, 2));
    assert!(halted(&fx).is_none(), "{fx:?}");
    assert!(
        fx.iter().any(|e| matches!(
            e,
            Effect::Send {
                to: 0,
                msg: Msg::GetState { after: 1, .. }
            }
        )),
        "{fx:?}"
    );
}
