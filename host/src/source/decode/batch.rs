//! A polled batch with its records decoded: what the transform reads,
//! and its outcomes placed back beside the records as consumed.

use super::super::TopicPartition;
use crate::transform::{KafkaRecord, ValueForm};
use std::collections::BTreeSet;

/// A polled batch with its records decoded for the transform.
#[derive(Debug)]
pub struct Decoded {
    /// The records as consumed: their offsets are committed, and a failed
    /// one is dead-lettered with these bytes.
    pub records: Vec<KafkaRecord>,
    /// `None`: the formats pass through (the transform reads `records`).
    /// Else, per record of `records`, why it could not be decoded; and the
    /// decoded records, in order, of those that could.
    decoded: Option<(Vec<Option<String>>, Vec<KafkaRecord>)>,
    /// The form of the values the transform reads.
    form: ValueForm,
}

impl Decoded {
    /// A batch whose formats pass through.
    pub fn unchanged(records: Vec<KafkaRecord>) -> Decoded {
        Decoded {
            records,
            decoded: None,
            form: ValueForm::Bytes,
        }
    }

    /// A batch decoded by [`Decoder`] (`results` one per record), whose
    /// values are in `form` ([`Decoder::value_form`]).
    pub fn from_results(
        records: Vec<KafkaRecord>,
        results: Vec<Result<KafkaRecord, String>>,
        form: ValueForm,
    ) -> Decoded {
        let mut failures = Vec::with_capacity(records.len());
        let mut good = Vec::with_capacity(records.len());
        for result in results {
            match result {
                Ok(r) => {
                    failures.push(None);
                    good.push(r);
                }
                Err(e) => failures.push(Some(e)),
            }
        }
        Decoded {
            records,
            decoded: Some((failures, good)),
            form,
        }
    }

    /// The form of [`transform_input`](Self::transform_input)'s values.
    pub fn form(&self) -> ValueForm {
        self.form
    }

    /// The records the transform reads: the decoded ones, in order.
    pub fn transform_input(&self) -> &[KafkaRecord] {
        match &self.decoded {
            None => &self.records,
            Some((_, good)) => good,
        }
    }

    /// The transform's `outcomes` (one per [`transform_input`](Self::transform_input)
    /// record) placed beside `records`: `Err(reason)` for a record that
    /// could not be decoded.
    pub fn place<T>(&self, outcomes: Vec<T>) -> Vec<Result<T, String>> {
        let Some((failures, _)) = &self.decoded else {
            return outcomes.into_iter().map(Ok).collect();
        };
        let mut outcomes = outcomes.into_iter();
        failures
            .iter()
            .map(|failure| match failure {
                Some(reason) => Err(reason.clone()),
                None => outcomes.next().ok_or_else(|| {
                    "the transform returned fewer outcomes than records".to_string()
                }),
            })
            .collect()
    }

    pub(super) fn drop_partitions(&mut self, revoked: &BTreeSet<TopicPartition>) {
        self.records
            .retain(|r| !revoked.contains(&(r.topic.clone(), r.partition)));
    }
}
