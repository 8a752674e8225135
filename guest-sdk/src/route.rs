//! Routing: which collection a change goes to, from the topic name or from a
//! field of the row.
//!
//! A pipeline that consumes several topics (one per table, as Debezium
//! writes them) can send each table to its own collection:
//!
//! ```
//! use kmv_guest::{Outcome, Record, route};
//!
//! let mut record = Record::from_value(br#"{"id": 1, "title": "Hi"}"#);
//! record.topic = "cdc.public.articles".into();
//! let outcome = Outcome::from(record.json_row()).to(route::table_of_topic(&record.topic));
//! let Outcome::Changes(changes) = outcome else { panic!() };
//! assert_eq!(changes[0].target.collection.as_deref(), Some("articles"));
//! ```
//!
//! The collection must be one the pipeline's `[sink]` allows; the host
//! rejects a change to any other.

use crate::{Row, Target, Value};

/// The table part of a Debezium topic name: the text after the last dot.
/// Debezium names a table's topic `prefix.schema.table` (PostgreSQL, SQL
/// Server, Db2, Oracle) or `prefix.database.table` (MySQL, MariaDB), so
/// this is the table's name, which is what a collection is usually called.
/// A topic without a dot is returned whole.
///
/// ```
/// use kmv_guest::route::table_of_topic;
///
/// assert_eq!(table_of_topic("cdc.public.articles"), "articles");
/// assert_eq!(table_of_topic("articles"), "articles");
/// ```
pub fn table_of_topic(topic: &str) -> &str {
    topic.rsplit('.').next().unwrap_or(topic)
}

impl Target {
    /// The collection named like the table of `topic` (see
    /// [`table_of_topic`]), default partition.
    pub fn from_topic(topic: &str) -> Target {
        Target::collection(table_of_topic(topic))
    }

    /// The collection named by the text field `field` of `row`, default
    /// partition: for one topic whose records go to several collections
    /// (for example by tenant).
    ///
    /// ```
    /// use kmv_guest::{Row, Target};
    ///
    /// let row = Row::new().with("id", 1_i64).with("tenant", "acme");
    /// assert_eq!(Target::from_field(&row, "tenant"), Ok(Target::collection("acme")));
    /// assert_eq!(
    ///     Target::from_field(&row, "id").unwrap_err(),
    ///     "cannot route by field `id`: it is an integer, not the text of a collection name"
    /// );
    /// ```
    pub fn from_field(row: &Row, field: &str) -> Result<Target, String> {
        match row.get(field) {
            Some(Value::Varchar(name)) if !name.is_empty() => Ok(Target::collection(name.clone())),
            Some(Value::Varchar(_)) => Err(format!("cannot route by field `{field}`: it is empty")),
            Some(other) => Err(format!(
                "cannot route by field `{field}`: it is {}, not the text of a collection name",
                other.kind()
            )),
            None => Err(format!("cannot route by field `{field}`: it is missing")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        assert_eq!(table_of_topic("cdc.inventory.orders"), "orders");
        assert_eq!(table_of_topic("a."), "");
        assert_eq!(
            Target::from_topic("cdc.public.articles"),
            Target::collection("articles")
        );
    }

    #[test]
    fn field_routes() {
        let row = Row::new().with("t", "").with("n", None::<i64>);
        assert!(Target::from_field(&row, "t").unwrap_err().contains("empty"));
        assert!(Target::from_field(&row, "n").unwrap_err().contains("null"));
        assert!(
            Target::from_field(&row, "x")
                .unwrap_err()
                .contains("missing")
        );
    }
}
