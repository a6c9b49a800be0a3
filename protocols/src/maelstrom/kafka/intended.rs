//! The intended solution's handlers: every request is a chain of lin-kv
//! calls (see the module's overview for why the log is correct).

use super::server::{answer, kv_key, Cont, Job, Srv, Step};
use super::{ByKey, Cont as KCont, Kafka, Msg};
use crate::maelstrom::{code, Kind, Net};

type N<'a, 'b, 'c, 'd> = Net<'a, 'b, 'c, Kafka>;

impl Srv {
    fn kv_call(&mut self, net: &mut N<'_, '_, '_, '_>, kind: Kind, step: Step) {
        match self.kv {
            Some(kv) => {
                net.rpc(kv, kind, KCont::Srv(Cont::Intended(step)));
            }
            None => net.halt(
                "the intended kafka keeps its log in lin-kv, which this scenario does not run"
                    .into(),
            ),
        }
    }

    /// A request starts its chain.
    pub(super) fn intended(&mut self, net: &mut N<'_, '_, '_, '_>, job: Job) {
        match job.req.clone() {
            Msg::Send { key, .. } => {
                let slot = self.hint.get(&key).copied().unwrap_or(0);
                self.claim(net, job, slot);
            }
            Msg::Poll { offsets } => {
                let todo: Vec<(String, i64)> = offsets.into_iter().collect();
                self.poll_next(net, job, todo, ByKey::new());
            }
            Msg::CommitOffsets { offsets } => {
                let todo: Vec<(String, i64)> = offsets.into_iter().collect();
                self.commit_next(net, job, todo);
            }
            Msg::ListCommittedOffsets { keys } => self.list_next(net, job, keys, ByKey::new()),
            _ => {}
        }
    }

    fn claim(&mut self, net: &mut N<'_, '_, '_, '_>, job: Job, slot: i64) {
        let Msg::Send { key, msg } = &job.req else {
            return;
        };
        let cas = Kind::Cas {
            key: kv_key("log", key, Some(slot)),
            from: *msg,
            to: *msg,
            create_if_not_exists: true,
        };
        self.kv_call(net, cas, Step::Claim { job, slot });
    }

    fn seen(&mut self, key: &str, slot: i64) {
        let h = self.hint.entry(key.to_string()).or_insert(0);
        *h = (*h).max(slot + 1);
    }

    /// Reads the current key's next slot, or answers when every key is read.
    fn poll_next(
        &mut self,
        net: &mut N<'_, '_, '_, '_>,
        job: Job,
        mut todo: Vec<(String, i64)>,
        got: ByKey<Vec<(i64, i64)>>,
    ) {
        let Some((key, from)) = todo.first().cloned() else {
            return answer(net, &job, Kind::Kafka(Msg::PollOk { msgs: got }));
        };
        let read_so_far = got.get(&key).map_or(0, Vec::len) as i64;
        if read_so_far >= i64::from(self.poll_max) || from < 0 {
            todo.remove(0);
            return self.poll_next(net, job, todo, got);
        }
        let slot = from + read_so_far;
        let read = Kind::Read {
            key: kv_key("log", &key, Some(slot)),
        };
        self.kv_call(
            net,
            read,
            Step::PollRead {
                job,
                todo,
                slot,
                got,
            },
        );
    }

    fn commit_next(&mut self, net: &mut N<'_, '_, '_, '_>, job: Job, todo: Vec<(String, i64)>) {
        let Some((key, _)) = todo.first() else {
            return answer(net, &job, Kind::Kafka(Msg::CommitOffsetsOk));
        };
        let read = Kind::Read {
            key: kv_key("committed", key, None),
        };
        self.kv_call(net, read, Step::CommitRead { job, todo });
    }

    fn list_next(
        &mut self,
        net: &mut N<'_, '_, '_, '_>,
        job: Job,
        todo: Vec<String>,
        got: ByKey<i64>,
    ) {
        let Some(key) = todo.first() else {
            return answer(
                net,
                &job,
                Kind::Kafka(Msg::ListCommittedOffsetsOk { offsets: got }),
            );
        };
        let read = Kind::Read {
            key: kv_key("committed", key, None),
        };
        self.kv_call(net, read, Step::ListRead { job, todo, got });
    }

    /// A lin-kv reply moves a chain on.
    pub(super) fn intended_step(&mut self, net: &mut N<'_, '_, '_, '_>, step: Step, kind: Kind) {
        let failed = |k: &Kind, c: u32| matches!(k, Kind::Error { code, .. } if *code == c);
        match step {
            Step::Claim { job, slot } => {
                let Msg::Send { key, .. } = &job.req else {
                    return;
                };
                let key = key.clone();
                match kind {
                    Kind::CasOk => {
                        self.seen(&key, slot);
                        answer(net, &job, Kind::Kafka(Msg::SendOk { offset: slot }));
                    }
                    k if failed(&k, code::PRECONDITION_FAILED) => {
                        self.seen(&key, slot);
                        self.claim(net, job, slot + 1);
                    }
                    other => answer(net, &job, indefinite(other)),
                }
            }
            Step::PollRead {
                job,
                mut todo,
                slot,
                mut got,
            } => match kind {
                Kind::ReadOk { value } => {
                    let key = todo[0].0.clone();
                    self.seen(&key, slot);
                    got.entry(key).or_default().push((slot, value));
                    self.poll_next(net, job, todo, got);
                }
                // The first free slot: this key is read.
                k if failed(&k, code::KEY_DOES_NOT_EXIST) => {
                    todo.remove(0);
                    self.poll_next(net, job, todo, got);
                }
                other => answer(net, &job, indefinite(other)),
            },
            Step::CommitRead { job, mut todo } => {
                let (key, want) = todo[0].clone();
                let cas = |from, create| Kind::Cas {
                    key: kv_key("committed", &key, None),
                    from,
                    to: want,
                    create_if_not_exists: create,
                };
                match kind {
                    Kind::ReadOk { value } if value >= want => {
                        todo.remove(0);
                        self.commit_next(net, job, todo);
                    }
                    Kind::ReadOk { value } => {
                        self.kv_call(net, cas(value, false), Step::CommitCas { job, todo })
                    }
                    k if failed(&k, code::KEY_DOES_NOT_EXIST) => {
                        self.kv_call(net, cas(want, true), Step::CommitCas { job, todo })
                    }
                    other => answer(net, &job, indefinite(other)),
                }
            }
            Step::CommitCas { job, mut todo } => match kind {
                Kind::CasOk => {
                    todo.remove(0);
                    self.commit_next(net, job, todo);
                }
                // Someone else moved it: read again and compare.
                k if failed(&k, code::PRECONDITION_FAILED) => self.commit_next(net, job, todo),
                other => answer(net, &job, indefinite(other)),
            },
            Step::ListRead {
                job,
                mut todo,
                mut got,
            } => {
                let key = todo.remove(0);
                match kind {
                    Kind::ReadOk { value } => {
                        got.insert(key, value);
                    }
                    k if failed(&k, code::KEY_DOES_NOT_EXIST) => {}
                    other => return answer(net, &job, indefinite(other)),
                }
                self.list_next(net, job, todo, got);
            }
        }
    }
}

/// An unexpected lin-kv answer ends the request with an indefinite error.
fn indefinite(kind: Kind) -> Kind {
    match kind {
        Kind::Error { code: c, text } if !code::definite(c) => Kind::Error { code: c, text },
        other => Kind::Error {
            code: code::CRASH,
            text: format!("lin-kv answered {}", other.name()),
        },
    }
}
