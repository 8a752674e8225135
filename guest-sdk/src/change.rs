//! [`Change`]s: rows to write and keys to delete, each to a [`Target`]
//! collection and partition, and the [`Outcome`] constructors for them.

use crate::{Action, Change, Field, Key, Outcome, Row, Target};
use serde_json::Value as Json;
use std::fmt;

impl Change {
    /// Writes `row` (an upsert, or an insert on an auto-id collection) to
    /// `[sink] collection`; [`Change::to`] names another collection.
    ///
    /// ```
    /// use kmv_guest::{Change, Row};
    ///
    /// let change = Change::row(Row::new().with("id", 7_i64)).to("articles").in_partition("news");
    /// assert_eq!(change.target.collection.as_deref(), Some("articles"));
    /// assert_eq!(change.target.partition.as_deref(), Some("news"));
    /// ```
    pub fn row(row: impl Into<Vec<Field>>) -> Change {
        Change {
            target: Target::default(),
            action: Action::Row(row.into()),
        }
    }

    /// Deletes the entity with primary key `key` from `[sink] collection`.
    /// Deleting a key that is not there is not an error.
    ///
    /// ```
    /// use kmv_guest::{Action, Change, Key};
    ///
    /// let change = Change::delete(17).to("articles");
    /// assert_eq!(change.action, Action::Delete(vec![Key::Int64(17)]));
    /// ```
    pub fn delete(key: impl Into<Key>) -> Change {
        Change::delete_keys([key])
    }

    /// Deletes the entities with these primary keys (see [`Change::delete`]).
    pub fn delete_keys<K: Into<Key>>(keys: impl IntoIterator<Item = K>) -> Change {
        Change {
            target: Target::default(),
            action: Action::Delete(keys.into_iter().map(Into::into).collect()),
        }
    }

    /// The same change, to `collection` (one the pipeline's `[sink]` allows).
    pub fn to(mut self, collection: impl Into<String>) -> Change {
        self.target.collection = Some(collection.into());
        self
    }

    /// The same change, in `partition` of its collection.
    pub fn in_partition(mut self, partition: impl Into<String>) -> Change {
        self.target.partition = Some(partition.into());
        self
    }

    /// The same change, to `target`.
    pub fn at(mut self, target: Target) -> Change {
        self.target = target;
        self
    }
}

impl Default for Target {
    /// `[sink] collection`, default partition.
    fn default() -> Target {
        Target {
            collection: None,
            partition: None,
        }
    }
}

impl Target {
    /// Collection `name`, default partition. See [`crate::route`] for
    /// targets taken from the topic name or a field.
    pub fn collection(name: impl Into<String>) -> Target {
        Target {
            collection: Some(name.into()),
            partition: None,
        }
    }

    /// The same target, in `partition`.
    pub fn in_partition(mut self, partition: impl Into<String>) -> Target {
        self.partition = Some(partition.into());
        self
    }
}

impl Key {
    /// The primary key in a JSON value: an integer is an Int64 key, a string
    /// a VarChar key; anything else is an error naming what it is.
    ///
    /// ```
    /// use kmv_guest::Key;
    /// use serde_json::json;
    ///
    /// assert_eq!(Key::from_json(&json!(7)), Ok(Key::Int64(7)));
    /// assert_eq!(Key::from_json(&json!("a-7")), Ok(Key::Varchar("a-7".into())));
    /// assert_eq!(
    ///     Key::from_json(&json!(1.5)).unwrap_err(),
    ///     "a primary key must be an integer or a string, found the number 1.5"
    /// );
    /// ```
    pub fn from_json(value: &Json) -> Result<Key, String> {
        match value {
            Json::String(s) => Ok(Key::Varchar(s.clone())),
            Json::Number(n) => n.as_i64().map(Key::Int64).ok_or_else(|| {
                format!("a primary key must be an integer or a string, found the number {n}")
            }),
            other => Err(format!(
                "a primary key must be an integer or a string, found {}",
                match other {
                    Json::Null => "null",
                    Json::Bool(_) => "a boolean",
                    Json::Array(_) => "an array",
                    _ => "an object",
                }
            )),
        }
    }
}

impl fmt::Display for Key {
    /// An Int64 key as its number, a VarChar key as a quoted string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Int64(n) => write!(f, "{n}"),
            Key::Varchar(s) => write!(f, "{s:?}"),
        }
    }
}

impl From<i64> for Key {
    fn from(v: i64) -> Key {
        Key::Int64(v)
    }
}

impl From<i32> for Key {
    fn from(v: i32) -> Key {
        Key::Int64(v.into())
    }
}

impl From<u32> for Key {
    fn from(v: u32) -> Key {
        Key::Int64(v.into())
    }
}

impl From<&str> for Key {
    fn from(v: &str) -> Key {
        Key::Varchar(v.to_string())
    }
}

impl From<String> for Key {
    fn from(v: String) -> Key {
        Key::Varchar(v)
    }
}

impl Outcome {
    /// Applies these changes, in order; no changes is a skip.
    ///
    /// ```
    /// use kmv_guest::{Change, Outcome, Row};
    ///
    /// // An article moved from one collection to another.
    /// let outcome = Outcome::changes([
    ///     Change::delete(7).to("drafts"),
    ///     Change::row(Row::new().with("id", 7_i64).with("title", "Hi")).to("articles"),
    /// ]);
    /// assert!(matches!(outcome, Outcome::Changes(c) if c.len() == 2));
    /// ```
    pub fn changes(changes: impl IntoIterator<Item = Change>) -> Outcome {
        Outcome::Changes(changes.into_iter().collect())
    }

    /// Deletes the entities with these primary keys from `[sink] collection`
    /// ([`Outcome::to`] names another one).
    ///
    /// ```
    /// use kmv_guest::{Change, Outcome};
    ///
    /// assert_eq!(Outcome::delete([3, 4]), Outcome::changes([Change::delete_keys([3, 4])]));
    /// assert_eq!(Outcome::delete(["a"]), Outcome::changes([Change::delete("a")]));
    /// ```
    pub fn delete<K: Into<Key>>(keys: impl IntoIterator<Item = K>) -> Outcome {
        Outcome::Changes(vec![Change::delete_keys(keys)])
    }

    /// The same outcome with every row and delete sent to `collection`:
    /// [`Outcome::Rows`] become [`Outcome::Changes`], the target collection
    /// of each change is replaced, a skip or an error stays as it is.
    ///
    /// ```
    /// use kmv_guest::{Change, Outcome, Row};
    ///
    /// let outcome = Outcome::from(Row::new().with("id", 1_i64)).to("articles");
    /// assert_eq!(
    ///     outcome,
    ///     Outcome::changes([Change::row(Row::new().with("id", 1_i64)).to("articles")])
    /// );
    /// assert_eq!(Outcome::Skip.to("articles"), Outcome::Skip);
    /// ```
    pub fn to(self, collection: impl Into<String>) -> Outcome {
        let collection = collection.into();
        self.map_targets(|t| t.collection = Some(collection.clone()))
    }

    /// The same outcome with every row and delete sent to `partition` (see
    /// [`Outcome::to`]).
    pub fn in_partition(self, partition: impl Into<String>) -> Outcome {
        let partition = partition.into();
        self.map_targets(|t| t.partition = Some(partition.clone()))
    }

    fn map_targets(self, mut f: impl FnMut(&mut Target)) -> Outcome {
        let mut changes = match self {
            Outcome::Rows(rows) => rows.into_iter().map(Change::row).collect(),
            Outcome::Changes(changes) => changes,
            other => return other,
        };
        for change in &mut changes {
            f(&mut change.target);
        }
        Outcome::Changes(changes)
    }
}

impl From<Change> for Outcome {
    fn from(change: Change) -> Outcome {
        Outcome::Changes(vec![change])
    }
}

impl From<Vec<Change>> for Outcome {
    fn from(changes: Vec<Change>) -> Outcome {
        Outcome::Changes(changes)
    }
}

impl From<Row> for Change {
    fn from(row: Row) -> Change {
        Change::row(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_from_rust_and_json() {
        assert_eq!(Key::from(5_i64), Key::Int64(5));
        assert_eq!(Key::from(5_i32), Key::Int64(5));
        assert_eq!(Key::from("x"), Key::Varchar("x".into()));
        assert_eq!(Key::from(String::from("x")), Key::Varchar("x".into()));
        assert_eq!(Key::from_json(&json!(i64::MAX)), Ok(Key::Int64(i64::MAX)));
        assert!(
            Key::from_json(&json!(u64::MAX))
                .unwrap_err()
                .contains("18446744073709551615")
        );
        assert!(Key::from_json(&json!(null)).unwrap_err().ends_with("null"));
        assert!(
            Key::from_json(&json!({}))
                .unwrap_err()
                .ends_with("an object")
        );
        assert_eq!(Key::Int64(3).to_string(), "3");
        assert_eq!(Key::Varchar("a\"b".into()).to_string(), r#""a\"b""#);
    }

    #[test]
    fn targets_of_every_change() {
        let outcome = Outcome::changes([
            Change::row(Row::new().with("id", 1)),
            Change::delete(2).to("old"),
        ])
        .to("articles")
        .in_partition("p1");
        let Outcome::Changes(changes) = outcome else {
            panic!("{outcome:?}")
        };
        for change in &changes {
            assert_eq!(
                change.target,
                Target::collection("articles").in_partition("p1")
            );
        }
        assert_eq!(changes[1].action, Action::Delete(vec![Key::Int64(2)]));
        let error = Outcome::error("bad").to("articles");
        assert_eq!(error, Outcome::Error("bad".into()));
    }

    #[test]
    fn rows_become_changes_in_order() {
        let rows = Outcome::Rows(vec![
            Row::new().with("id", 1).into(),
            Row::new().with("id", 2).into(),
        ]);
        let Outcome::Changes(changes) = rows.in_partition("p") else {
            panic!()
        };
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].target.collection, None);
        assert_eq!(
            changes[1].action,
            Action::Row(Row::new().with("id", 2).into())
        );
        assert_eq!(Outcome::changes([]), Outcome::Changes(vec![]));
    }
}
