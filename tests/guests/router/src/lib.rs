//! Routes seed articles by a field: `{"id", "title", "title_vector",
//! "link", "shelf", "deleted"?}` goes to the collection that
//! `[transform.config] shelves` maps `shelf` to (a shelf it does not map
//! goes to `shelf` itself, for the host to refuse), in `partition` when the
//! record names one, as a row, or as a delete of `id` when `deleted` is true.

use kmv_guest::{Change, Config, Outcome, Record, Row, Transform, export_transform};
use std::collections::BTreeMap;

#[derive(serde::Deserialize)]
struct Article {
    id: i64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    title_vector: Vec<f32>,
    #[serde(default)]
    link: String,
    shelf: String,
    #[serde(default)]
    partition: Option<String>,
    #[serde(default)]
    deleted: bool,
}

#[derive(serde::Deserialize)]
struct Settings {
    shelves: BTreeMap<String, String>,
}

/// Routes each article to its shelf's collection.
pub struct Router(Settings);

impl Transform for Router {
    fn init(config: Config) -> Result<Self, String> {
        config.deserialize().map(Router)
    }

    fn process(&mut self, record: Record) -> Outcome {
        let a: Article = match record.json() {
            Ok(a) => a,
            Err(reason) => return Outcome::Error(reason),
        };
        let collection = self.0.shelves.get(&a.shelf).unwrap_or(&a.shelf).clone();
        let change = if a.deleted {
            Change::delete(a.id)
        } else {
            Change::row(
                Row::new()
                    .with("id", a.id)
                    .with("title", a.title)
                    .with("title_vector", a.title_vector)
                    .with("link", a.link),
            )
        };
        let change = match a.partition {
            Some(p) => change.to(collection).in_partition(p),
            None => change.to(collection),
        };
        Outcome::changes([change])
    }
}

export_transform!(Router);
