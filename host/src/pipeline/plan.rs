//! The order in which a chunk's changes are sent.
//!
//! A chunk's changes must leave each collection as if they were applied one
//! at a time, in record order. Changes to different collections (or
//! partitions) are independent. Within one, for upsert collections, the
//! last change per primary key is all that matters: an earlier row or
//! delete of the same key is *superseded* and not sent (Milvus 2.6 also
//! refuses two rows with one key in one upsert), and the deletes are sent
//! before the rows, so "delete, then row" leaves the row and "row, then
//! delete" leaves nothing. Insert collections keep every row (a repeated key
//! is refused as before); a delete of a key inserted earlier in the chunk
//! sends what came before it first.

use super::chunk::{Op, OpAction, RowTag};
use crate::sink::{EncodedRow, MilvusSink, PrimaryKey, WriteOp};
use std::collections::HashMap;
use std::sync::Arc;

/// Deletes then rows, for one collection and partition.
#[derive(Debug)]
pub struct Step {
    pub sink: Arc<MilvusSink>,
    pub partition: Option<Arc<str>>,
    pub deletes: Vec<(PrimaryKey, RowTag)>,
    pub rows: Vec<(EncodedRow, RowTag)>,
}

/// What to send, in order, and how many changes were superseded.
#[derive(Debug, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub superseded: u64,
}

/// One collection and partition's pending changes.
struct Group {
    sink: Arc<MilvusSink>,
    partition: Option<Arc<str>>,
    upsert: bool,
    deletes: Vec<(PrimaryKey, RowTag)>,
    deleting: HashMap<PrimaryKey, usize>,
    rows: Vec<Option<(EncodedRow, RowTag)>>,
    row_at: HashMap<PrimaryKey, usize>,
    /// Steps already closed (insert collections only).
    done: Vec<Step>,
}

impl Group {
    fn new(sink: Arc<MilvusSink>, partition: Option<Arc<str>>) -> Group {
        Group {
            upsert: sink.write_op() == WriteOp::Upsert,
            sink,
            partition,
            deletes: Vec::new(),
            deleting: HashMap::new(),
            rows: Vec::new(),
            row_at: HashMap::new(),
            done: Vec::new(),
        }
    }

    /// Takes one change; `true` when it superseded an earlier one.
    fn push(&mut self, action: OpAction, tag: RowTag) -> u64 {
        let mut superseded = 0;
        match action {
            OpAction::Row(row) => {
                if let (true, Some(pk)) = (self.upsert, &row.pk) {
                    if let Some(i) = self.row_at.insert(pk.clone(), self.rows.len()) {
                        self.rows[i] = None;
                        superseded += 1;
                    }
                } else if let Some(pk) = &row.pk {
                    self.row_at.insert(pk.clone(), self.rows.len());
                }
                self.rows.push(Some((row, tag)));
            }
            OpAction::Delete(key) => {
                match self.row_at.remove(&key) {
                    Some(i) if self.upsert => {
                        self.rows[i] = None;
                        superseded += 1;
                    }
                    // An insert collection: the row must go before the delete.
                    Some(_) => self.close_step(),
                    None => {}
                }
                if let Some(&i) = self.deleting.get(&key) {
                    // The same delete again: the later record's takes its place.
                    self.deletes[i].1 = tag;
                    superseded += 1;
                } else {
                    self.deleting.insert(key.clone(), self.deletes.len());
                    self.deletes.push((key, tag));
                }
            }
        }
        superseded
    }

    fn close_step(&mut self) {
        let step = self.take_step();
        self.done.push(step);
    }

    fn take_step(&mut self) -> Step {
        self.deleting.clear();
        self.row_at.clear();
        Step {
            sink: self.sink.clone(),
            partition: self.partition.clone(),
            deletes: std::mem::take(&mut self.deletes),
            rows: std::mem::take(&mut self.rows)
                .into_iter()
                .flatten()
                .collect(),
        }
    }

    fn finish(mut self) -> Vec<Step> {
        let last = self.take_step();
        let mut steps = self.done;
        steps.push(last);
        steps.retain(|s| !(s.deletes.is_empty() && s.rows.is_empty()));
        steps
    }
}

/// Orders `ops` (in record order) into steps.
pub fn plan(ops: Vec<Op>) -> Plan {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<(usize, Option<Arc<str>>), usize> = HashMap::new();
    let mut superseded = 0;
    for op in ops {
        // Sinks are shared per collection: the pointer names it.
        let key = (Arc::as_ptr(&op.sink) as usize, op.partition.clone());
        let g = *index.entry(key).or_insert_with(|| {
            groups.push(Group::new(op.sink.clone(), op.partition.clone()));
            groups.len() - 1
        });
        superseded += groups[g].push(op.action, op.tag);
    }
    Plan {
        steps: groups.into_iter().flat_map(Group::finish).collect(),
        superseded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::mock::offline_sink;
    use crate::transform::KafkaRecord;

    fn tag(offset: i64) -> RowTag {
        Arc::new(KafkaRecord::new("t", 0, offset, None))
    }

    fn row(sink: &Arc<MilvusSink>, id: i64, offset: i64) -> Op {
        Op {
            sink: sink.clone(),
            partition: None,
            action: OpAction::Row(EncodedRow {
                json: format!(r#"{{"id":{id},"v":[0.5,{offset}]}}"#).into_bytes(),
                pk: Some(PrimaryKey::Int(id)),
            }),
            tag: tag(offset),
        }
    }

    fn delete(sink: &Arc<MilvusSink>, id: i64, offset: i64) -> Op {
        Op {
            sink: sink.clone(),
            partition: None,
            action: OpAction::Delete(PrimaryKey::Int(id)),
            tag: tag(offset),
        }
    }

    /// A step as its deleted ids and its rows' (id, record offset).
    type Shape = (Vec<i64>, Vec<(i64, i64)>);

    /// Each step's shape.
    fn shape(plan: &Plan) -> Vec<Shape> {
        let id = |k: &PrimaryKey| match k {
            PrimaryKey::Int(i) => *i,
            PrimaryKey::Str(_) => unreachable!(),
        };
        plan.steps
            .iter()
            .map(|s| {
                (
                    s.deletes.iter().map(|(k, _)| id(k)).collect(),
                    s.rows
                        .iter()
                        .map(|(r, t)| (id(r.pk.as_ref().unwrap()), t.offset))
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn upserts_keep_the_last_change_per_key_and_delete_first() {
        let s = Arc::new(offline_sink("c", "upsert"));
        let ops = vec![
            row(&s, 1, 0),
            row(&s, 2, 1),
            row(&s, 1, 2),    // supersedes offset 0
            delete(&s, 2, 3), // supersedes the row of offset 1
            delete(&s, 3, 4),
            row(&s, 3, 5), // after its delete: the row stays
            delete(&s, 4, 6),
            delete(&s, 4, 7), // the same delete again
        ];
        let plan = plan(ops);
        assert_eq!(plan.superseded, 3);
        assert_eq!(shape(&plan), vec![(vec![2, 3, 4], vec![(1, 2), (3, 5)])]);
        // The repeated delete carries the later record.
        assert_eq!(plan.steps[0].deletes[2].1.offset, 7);
    }

    #[test]
    fn collections_and_partitions_are_planned_apart() {
        let a = Arc::new(offline_sink("a", "upsert"));
        let b = Arc::new(offline_sink("b", "upsert"));
        let mut in_p = row(&a, 1, 2);
        in_p.partition = Some("p".into());
        let plan = plan(vec![row(&a, 1, 0), delete(&b, 1, 1), in_p, row(&b, 2, 3)]);
        assert_eq!(plan.superseded, 0);
        let names: Vec<(String, Option<&str>)> = plan
            .steps
            .iter()
            .map(|s| (s.sink.schema().name.clone(), s.partition.as_deref()))
            .collect();
        assert_eq!(
            names,
            [
                ("a".to_string(), None),
                ("b".to_string(), None),
                ("a".to_string(), Some("p"))
            ]
        );
        assert_eq!(
            shape(&plan),
            vec![
                (vec![], vec![(1, 0)]),
                (vec![1], vec![(2, 3)]),
                (vec![], vec![(1, 2)])
            ]
        );
    }

    #[test]
    fn inserts_send_a_row_before_a_later_delete_of_its_key() {
        let s = Arc::new(offline_sink("c", "insert"));
        let plan = plan(vec![
            row(&s, 1, 0),
            row(&s, 2, 1),
            delete(&s, 1, 2),
            row(&s, 1, 3),
        ]);
        assert_eq!(plan.superseded, 0);
        assert_eq!(
            shape(&plan),
            vec![(vec![], vec![(1, 0), (2, 1)]), (vec![1], vec![(1, 3)])]
        );
    }

    /// Applying the plan gives what applying every change in order gives,
    /// for random streams over a few keys (upsert collections).
    #[test]
    fn the_plan_applies_like_the_changes_in_order() {
        use std::collections::BTreeMap;
        let s = Arc::new(offline_sink("c", "upsert"));
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..200 {
            let mut ops = Vec::new();
            let mut model: BTreeMap<i64, i64> = BTreeMap::new();
            for offset in 0..(1 + next(30) as i64) {
                let id = next(5) as i64;
                if next(3) == 0 {
                    ops.push(delete(&s, id, offset));
                    model.remove(&id);
                } else {
                    ops.push(row(&s, id, offset));
                    model.insert(id, offset);
                }
            }
            let plan = plan(ops);
            let mut applied: BTreeMap<i64, i64> = BTreeMap::new();
            for (deletes, rows) in shape(&plan) {
                for id in deletes {
                    applied.remove(&id);
                }
                for (id, offset) in rows {
                    assert!(applied.insert(id, offset).is_none(), "two rows for {id}");
                }
            }
            assert_eq!(applied, model);
        }
    }
}
