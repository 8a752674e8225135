//! `embed-title`: seed articles without a vector; the host's embedder
//! (`[transform.config] embedder`, default `minilm`) turns each `title` into
//! `title_vector`, for all the records of a call at once.
//!
//! Input: `{"id": 0, "title": "...", "link": "..."}`. Output row: `id`,
//! `title`, `title_vector` (the embedder's dimension: 384 for
//! all-MiniLM-L6-v2), `link`.
use kmv_guest::{Config, Outcome, Record, Row, Transform, embed_field, export_transform};

/// One article of the seed tutorial, without its vector.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Article {
    id: i64,
    title: String,
    link: String,
}

/// Embeds the titles of seed articles.
pub struct EmbedTitle {
    embedder: String,
}

impl EmbedTitle {
    fn row(record: &Record) -> Result<Row, String> {
        let a: Article = record.json()?;
        Ok(Row::new()
            .with("id", a.id)
            .with("title", a.title)
            .with("link", a.link))
    }
}

impl Transform for EmbedTitle {
    fn init(config: Config) -> Result<Self, String> {
        let embedder = match config.get("embedder") {
            None => "minilm".to_string(),
            Some(v) => v
                .as_str()
                .ok_or("[transform.config] embedder must be a string: the name of an [embedders.NAME] table")?
                .to_string(),
        };
        Ok(EmbedTitle { embedder })
    }

    fn process(&mut self, record: Record) -> Outcome {
        self.process_batch(vec![record]).remove(0)
    }

    fn process_batch(&mut self, records: Vec<Record>) -> Vec<Outcome> {
        let rows = records.iter().map(Self::row).collect();
        embed_field(&self.embedder, "title", "title_vector", rows)
    }
}

export_transform!(EmbedTitle);

#[cfg(test)]
mod tests {
    use super::*;
    use kmv_guest::{Value, embed_field_with};

    #[test]
    fn titles_are_embedded_into_title_vector() {
        let records = [
            Record::from_value(br#"{"id": 1, "title": "ab", "link": "l"}"#),
            Record::from_value(br#"{"id": 2, "link": "l"}"#),
        ];
        let rows = records.iter().map(EmbedTitle::row).collect();
        let out = embed_field_with("title", "title_vector", rows, |t| {
            Ok(t.iter().map(|s| vec![s.len() as f32; 3]).collect())
        });
        let Outcome::Rows(rows) = &out[0] else {
            panic!("{out:?}")
        };
        let row = Row::from(rows[0].clone());
        assert_eq!(row.field_names(), ["id", "title", "link", "title_vector"]);
        assert_eq!(
            row.get("title_vector"),
            Some(&Value::FloatVector(vec![2.0; 3]))
        );
        assert!(matches!(&out[1], Outcome::Error(r) if r.contains("missing field `title`")));
    }
}
