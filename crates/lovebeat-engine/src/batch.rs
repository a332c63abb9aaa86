//! What ingest sends the actor: one [`Batch`] per datagram, TCP read or
//! HTTP request.
//!
//! A batch owns one text buffer and a list of operations whose names are
//! ranges into it, so a datagram of twenty lines costs one allocation for
//! the text and one for the list, not one per line.

use std::ops::Range;
use std::sync::Arc;

use lovebeat_core::auto::Algorithm;
use lovebeat_core::{Engine, Millis, Schedule, Severity, Timeout, TimeoutKind};
use lovebeat_proto::{Action, CheckStatus, Command, Reject};
use tokio::sync::oneshot;

/// One operation on one service.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Beat,
    Autobeat,
    SetTimeout(TimeoutKind, Timeout),
    /// The service's own AUTO estimator; None: back to the configured one.
    SetAlgorithm(Option<Algorithm>),
    /// An explicit failure; the range is the message in the batch text.
    Fail(Severity, Range<u32>),
    /// Sets (Some: the range is the team in the batch text) or clears the team.
    SetTeam(Option<Range<u32>>),
    /// Puts the service on a calendar schedule, or takes it off.
    SetSchedule(Option<Arc<Schedule>>),
    /// A run starts; the range, if any, is its run id in the batch text.
    Start(Option<Range<u32>>),
    /// The run with this id (a range of the batch text) ends: a beat, or
    /// with a range of message text a failure. Other runs stay open.
    Finish(Range<u32>, Option<Range<u32>>),
    /// The job exited with this status: 0 is a beat, the rest failures.
    Exit(u8),
    /// How long a run may take, in ms (None: the schedule's grace or the
    /// error timeout).
    SetMaxDuration(Option<u64>),
    Mute,
    Unmute,
    Delete,
}

/// Operations for the actor, applied in order, in one go.
#[derive(Debug, Default)]
pub struct Batch {
    text: String,
    ops: Vec<(Range<u32>, Op)>,
    /// Answered once the batch is applied and visible to readers.
    pub(crate) done: Option<oneshot::Sender<Applied>>,
}

/// What applying a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub beats: u64,
    /// Operations refused because they named a new service while the
    /// engine was full (`[limits] services`).
    pub refused: u64,
}

/// The answer to a batch that waits for one, sent once its round is
/// published (and saved, when it must be).
#[derive(Debug)]
pub struct Reply {
    done: oneshot::Sender<Applied>,
    applied: Applied,
}

impl Reply {
    pub(crate) fn send(self) {
        let _ = self.done.send(self.applied);
    }
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    /// The batch of a received buffer (a datagram, or complete TCP lines):
    /// every valid line becomes an op, every other line is reported to
    /// `rejected` and changes nothing.
    pub fn parse(text: String, max_line: usize, mut rejected: impl FnMut(Reject)) -> Batch {
        let mut ops = Vec::new();
        for line in lovebeat_proto::lines(text.as_bytes()).max_line(max_line) {
            match line {
                Ok(command) => ops.push(op_of(&text, &command)),
                Err(reason) => rejected(reason),
            }
        }
        Batch {
            text,
            ops,
            done: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// The service name of each operation, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        (self.ops.iter()).map(|(name, _)| &self.text[name.start as usize..name.end as usize])
    }

    /// Adds an operation on `name`, copying the name into the batch.
    pub fn push(&mut self, name: &str, op: Op) {
        let range = self.append(name);
        self.ops.push((range, op));
    }

    /// Adds a failure report with its message.
    pub fn push_fail(&mut self, name: &str, severity: Severity, message: &str) {
        let name = self.append(name);
        let message = self.append(message);
        self.ops.push((name, Op::Fail(severity, message)));
    }

    /// A run starts, with its run id if it gave one.
    pub fn push_start(&mut self, name: &str, run: Option<&str>) {
        let name = self.append(name);
        let run = run.map(|r| self.append(r));
        self.ops.push((name, Op::Start(run)));
    }

    /// The run `run` ends: a beat, or a failure with `failure`'s message.
    pub fn push_finish(&mut self, name: &str, run: &str, failure: Option<&str>) {
        let name = self.append(name);
        let run = self.append(run);
        let failure = failure.map(|m| self.append(m));
        self.ops.push((name, Op::Finish(run, failure)));
    }

    /// Sets or clears the service's team label.
    pub fn push_team(&mut self, name: &str, team: Option<&str>) {
        let name = self.append(name);
        let team = team.map(|t| self.append(t));
        self.ops.push((name, Op::SetTeam(team)));
    }

    fn append(&mut self, s: &str) -> Range<u32> {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        start..self.text.len() as u32
    }

    /// Applies every operation; returns what it did, and the reply to send
    /// once the round is published, if the sender waits for one.
    pub fn apply(&mut self, engine: &mut Engine, now: Millis) -> (Applied, Option<Reply>) {
        let refused = engine.refused();
        let beats = self.apply_ops(engine, now);
        let applied = Applied {
            beats,
            refused: engine.refused() - refused,
        };
        let reply = (self.done.take()).map(|done| Reply { done, applied });
        (applied, reply)
    }

    /// The text of a range of this batch.
    fn slice(&self, range: &Range<u32>) -> &str {
        &self.text[range.start as usize..range.end as usize]
    }

    fn apply_ops(&self, engine: &mut Engine, now: Millis) -> u64 {
        let mut beats = 0;
        for (name, op) in &self.ops {
            let name = &self.text[name.start as usize..name.end as usize];
            match op {
                Op::Beat => {
                    beats += 1;
                    engine.beat(now, name);
                }
                Op::Autobeat => {
                    beats += 1;
                    engine.autobeat(now, name);
                }
                Op::SetTimeout(kind, timeout) => engine.set_timeout(now, name, *kind, *timeout),
                Op::SetAlgorithm(algorithm) => engine.set_algorithm(now, name, *algorithm),
                Op::Fail(severity, message) => {
                    let message = &self.text[message.start as usize..message.end as usize];
                    engine.fail(now, name, *severity, message);
                }
                Op::SetTeam(team) => {
                    let team = team
                        .as_ref()
                        .map(|t| &self.text[t.start as usize..t.end as usize]);
                    engine.set_team(now, name, team);
                }
                Op::SetSchedule(schedule) => engine.set_schedule(now, name, schedule.clone()),
                Op::Start(run) => {
                    let run = run.as_ref().map(|r| self.slice(r));
                    engine.start_run(now, name, run);
                }
                Op::Finish(run, failure) => {
                    let failure = failure.as_ref().map(|m| (Severity::Error, self.slice(m)));
                    if failure.is_none() {
                        beats += 1;
                    }
                    engine.finish_run(now, name, self.slice(run), failure);
                }
                Op::Exit(0) => {
                    beats += 1;
                    engine.beat(now, name);
                }
                Op::Exit(status) => {
                    engine.fail(now, name, Severity::Error, &format!("exit status {status}"));
                }
                Op::SetMaxDuration(max) => engine.set_max_duration(now, name, *max),
                Op::Mute => engine.mute(now, name),
                Op::Unmute => engine.unmute(now, name),
                Op::Delete => {
                    engine.delete(now, name);
                }
            }
        }
        beats
    }
}

/// The op of a parsed line of `text`, its name and message as ranges.
fn op_of(text: &str, command: &Command<'_>) -> (Range<u32>, Op) {
    let message = || command.message.map_or(0..0, |m| range_in(text, m));
    let op = match command.action {
        Action::Beat | Action::Check(CheckStatus::Ok) => Op::Beat,
        Action::Autobeat => Op::Autobeat,
        Action::ErrTimeout | Action::WarnTimeout => {
            let kind = if command.action == Action::WarnTimeout {
                TimeoutKind::Warn
            } else {
                TimeoutKind::Err
            };
            let timeout =
                Timeout::from_seconds(command.value).expect("proto checks timeout values");
            Op::SetTimeout(kind, timeout)
        }
        Action::Fail | Action::Check(CheckStatus::Critical) => Op::Fail(Severity::Error, message()),
        Action::Start => Op::Start(None),
        Action::Exit => Op::Exit(u8::try_from(command.value).expect("proto checks exit statuses")),
        Action::Check(CheckStatus::Warning | CheckStatus::Unknown) => {
            Op::Fail(Severity::Warning, message())
        }
    };
    (range_in(text, command.name), op)
}

/// The range of `part`, a slice of `text`.
fn range_in(text: &str, part: &str) -> Range<u32> {
    let start = part.as_ptr() as usize - text.as_ptr() as usize;
    debug_assert!(start + part.len() <= text.len());
    start as u32..(start + part.len()) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use lovebeat_core::{EngineConfig, State};

    #[test]
    fn a_datagram_becomes_one_batch_in_order() {
        let text = "a.warn:1|g\nA.beat:1|c\na.err:2|g\na.beat:1|c\n".to_owned();
        let mut rejected = Vec::new();
        let batch = Batch::parse(text, lovebeat_proto::MAX_LINE, |r| rejected.push(r));
        assert_eq!(rejected, [Reject::BadName]);
        let mut engine = Engine::new(EngineConfig::default(), 0);
        let mut batch = batch;
        assert_eq!(batch.apply(&mut engine, 0).0.beats, 1);
        let s = engine.service("a").unwrap().record;
        assert_eq!(s.warn_timeout, Timeout::After(1000));
        assert_eq!(s.err_timeout, Timeout::After(2000));
        assert_eq!(s.state, State::Ok);
    }

    #[test]
    fn a_failure_keeps_its_message() {
        let mut batch = Batch::new();
        batch.push_fail("backup", Severity::Error, "disk full");
        let mut engine = Engine::new(EngineConfig::default(), 0);
        batch.apply(&mut engine, 0);
        let config = EngineConfig {
            max_services: 0,
            ..EngineConfig::default()
        };
        let (applied, _) = batch.apply(&mut Engine::new(config, 0), 0);
        assert_eq!(applied.refused, 1);
        let failure = engine
            .service("backup")
            .unwrap()
            .record
            .failure
            .clone()
            .unwrap();
        assert_eq!(failure.message, "disk full");
    }

    #[test]
    fn a_team_is_set_and_cleared() {
        let mut engine = Engine::new(EngineConfig::default(), 0);
        let mut batch = Batch::new();
        batch.push_team("backup", Some("ops"));
        batch.apply(&mut engine, 0);
        let team = engine.service("backup").unwrap().record.team.clone();
        assert_eq!(team.as_deref(), Some("ops"));
        let mut batch = Batch::new();
        batch.push_team("backup", None);
        batch.apply(&mut engine, 1);
        assert_eq!(engine.service("backup").unwrap().record.team, None);
    }
}
