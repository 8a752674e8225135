//! The `local` provider: a sentence-transformers model directory run on the
//! CPU with candle's BERT and the `tokenizers` crate.
//!
//! The directory holds `config.json` (the BERT configuration),
//! `tokenizer.json` and `model.safetensors`, and, as sentence-transformers
//! writes them, `modules.json` (the module list: a `Normalize` module means
//! unit-length vectors), `1_Pooling/config.json` (mean, CLS or max pooling)
//! and `sentence_bert_config.json` (`max_seq_length`: longer texts are cut).
//! Nothing is downloaded: a missing file is an error naming it.
//!
//! Two engines run the transformer: candle (`model.safetensors`, the
//! default) and, with the cargo feature `onnx-embedder`, ONNX Runtime
//! (`model.onnx`, see `onnx.rs`); tokenization and pooling are shared.

use super::EmbedError;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use tokenizers::{Encoding, Tokenizer, TruncationParams};

/// How token vectors become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The mean of the token vectors (padding excluded).
    Mean,
    /// The first (`[CLS]`) token's vector.
    Cls,
    /// The element-wise maximum of the token vectors (padding excluded).
    Max,
}

/// What runs the transformer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    /// candle, from `model.safetensors`.
    Candle,
    /// ONNX Runtime loaded from `library`, from `model.onnx`.
    #[cfg(feature = "onnx-embedder")]
    Onnx {
        /// The runtime's shared library (`libonnxruntime.so.*`).
        library: PathBuf,
    },
}

enum Model {
    Candle(BertModel),
    #[cfg(feature = "onnx-embedder")]
    Onnx(super::onnx::OnnxModel),
}

/// A loaded sentence-transformers model.
pub struct LocalEmbedder {
    model: Model,
    /// Cuts at `max_seq_length`, pads nothing (batches are padded here).
    tokenizer: Tokenizer,
    /// The id padding takes (`[PAD]`).
    pad_id: u32,
    pooling: Pooling,
    normalize: bool,
    max_seq_length: usize,
    dimension: usize,
    batch_size: usize,
    dir: PathBuf,
    /// One single-thread pool per core: each runs whole batches, its matrix
    /// products included (candle's run in the calling rayon pool).
    pools: Vec<rayon::ThreadPool>,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("dir", &self.dir)
            .field("pooling", &self.pooling)
            .field("normalize", &self.normalize)
            .field("max_seq_length", &self.max_seq_length)
            .field("dimension", &self.dimension)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EmbedError> {
    let text = std::fs::read_to_string(path).map_err(|e| EmbedError::Model {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| EmbedError::Model {
        path: path.to_path_buf(),
        reason: format!("not valid: {e}"),
    })
}

fn model_err(path: &Path, reason: String) -> EmbedError {
    EmbedError::Model {
        path: path.to_path_buf(),
        reason,
    }
}

/// `modules.json`: which modules follow the transformer, as the pooling
/// module's directory (if any) and whether vectors are normalized. Without
/// it, sentence-transformers uses mean pooling and no normalization.
fn read_modules(dir: &Path) -> Result<(Option<PathBuf>, bool), EmbedError> {
    let modules_path = dir.join("modules.json");
    let (mut pooling_dir, mut normalize) = (None, false);
    if !modules_path.is_file() {
        return Ok((pooling_dir, normalize));
    }
    let modules: Vec<serde_json::Value> = read_json(&modules_path)?;
    for m in modules {
        let entry: ModuleEntry = serde_json::from_value(m.clone())
            .map_err(|e| model_err(&modules_path, format!("not valid: {e}")))?;
        let path = m.get("path").and_then(|p| p.as_str()).unwrap_or("");
        match entry.kind.rsplit('.').next().unwrap_or("") {
            "Transformer" => {}
            "Pooling" => pooling_dir = Some(dir.join(path)),
            "Normalize" => normalize = true,
            other => {
                return Err(model_err(
                    &modules_path,
                    format!(
                        "module type `{}` is not supported (only Transformer, Pooling, Normalize)",
                        if other.is_empty() { &entry.kind } else { other }
                    ),
                ));
            }
        }
    }
    Ok((pooling_dir, normalize))
}

/// The pooling module's `config.json`: exactly one of mean, CLS or max.
fn read_pooling(pooling_path: &Path) -> Result<Pooling, EmbedError> {
    let p: PoolingConfig = read_json(pooling_path)?;
    match (
        p.pooling_mode_mean_tokens,
        p.pooling_mode_cls_token,
        p.pooling_mode_max_tokens,
        p.pooling_mode_mean_sqrt_len_tokens,
    ) {
        (true, false, false, false) => Ok(Pooling::Mean),
        (false, true, false, false) => Ok(Pooling::Cls),
        (false, false, true, false) => Ok(Pooling::Max),
        _ => Err(model_err(
            pooling_path,
            "only one of mean, cls or max pooling is supported".into(),
        )),
    }
}

/// `tokenizer.json`, cutting texts at `max_seq_length` tokens and padding
/// nothing, and the id it pads with (its own padding settings', else 0, BERT's
/// `[PAD]`).
fn load_tokenizer(dir: &Path, max_seq_length: usize) -> Result<(Tokenizer, u32), EmbedError> {
    let tokenizer_path = dir.join("tokenizer.json");
    let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
        .map_err(|e| model_err(&tokenizer_path, e.to_string()))?;
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_seq_length,
            ..Default::default()
        }))
        .map_err(|e| model_err(&tokenizer_path, e.to_string()))?;
    let pad_id = tokenizer.get_padding().map_or(0, |p| p.pad_id);
    tokenizer.with_padding(None);
    Ok((tokenizer, pad_id))
}

/// The BERT weights of `model.safetensors`, on the CPU.
fn load_model(dir: &Path, config: &BertConfig) -> Result<BertModel, EmbedError> {
    let weights = dir.join("model.safetensors");
    if !weights.is_file() {
        return Err(model_err(&weights, "no such file".into()));
    }
    let device = Device::Cpu;
    // Read into memory rather than memory-mapped: no `unsafe` needed.
    let vb = VarBuilder::from_buffered_safetensors(
        std::fs::read(&weights).map_err(|e| model_err(&weights, e.to_string()))?,
        DType::F32,
        &device,
    )
    .map_err(|e| model_err(&weights, e.to_string()))?;
    BertModel::load(vb, config).map_err(|e| model_err(&weights, e.to_string()))
}

impl LocalEmbedder {
    /// Loads the model in `dir` for `engine`; `batch_size` texts go through
    /// the model at once.
    pub fn load(
        dir: &Path,
        batch_size: usize,
        engine: &Engine,
    ) -> Result<LocalEmbedder, EmbedError> {
        if !dir.is_dir() {
            return Err(model_err(
                dir,
                "no such directory (fetch the model with tests/embeddings/fetch_model.sh, or point model_dir at a sentence-transformers directory)".into(),
            ));
        }
        let config: BertConfig = read_json(&dir.join("config.json"))?;
        let (pooling_dir, normalize) = read_modules(dir)?;
        let pooling_path = pooling_dir
            .unwrap_or_else(|| dir.join("1_Pooling"))
            .join("config.json");
        let pooling = if pooling_path.is_file() {
            read_pooling(&pooling_path)?
        } else {
            Pooling::Mean
        };
        let st_path = dir.join("sentence_bert_config.json");
        let max_seq_length = if st_path.is_file() {
            read_json::<SentenceBertConfig>(&st_path)?.max_seq_length
        } else {
            None
        }
        .unwrap_or(config.max_position_embeddings)
        .min(config.max_position_embeddings);
        let (tokenizer, pad_id) = load_tokenizer(dir, max_seq_length)?;
        let model = match engine {
            Engine::Candle => Model::Candle(load_model(dir, &config)?),
            #[cfg(feature = "onnx-embedder")]
            Engine::Onnx { library } => Model::Onnx(super::onnx::OnnxModel::load(dir, library)?),
        };
        Ok(LocalEmbedder {
            model,
            tokenizer,
            pad_id,
            pooling,
            normalize,
            max_seq_length,
            dimension: config.hidden_size,
            batch_size: batch_size.max(1),
            dir: dir.to_path_buf(),
            pools: (0..std::thread::available_parallelism().map_or(1, |n| n.get()))
                .map(|_| rayon::ThreadPoolBuilder::new().num_threads(1).build())
                .collect::<Result<_, _>>()
                .map_err(|e| model_err(dir, format!("thread pool: {e}")))?,
        })
    }

    /// The length of the vectors.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// The most tokens of a text that are read; the rest is cut.
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// How many tokens the model reads of `text` (special tokens included,
    /// at most [`LocalEmbedder::max_seq_length`]) and whether it was cut.
    pub fn token_count(&self, text: &str) -> Result<(usize, bool), EmbedError> {
        let e = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| EmbedError::Failed(format!("tokenizer: {e}")))?;
        Ok((e.get_ids().len(), !e.get_overflowing().is_empty()))
    }

    /// Embeds `texts`, one vector per text, in order. Texts are tokenized,
    /// sorted by their number of tokens and run in batches of `batch_size`,
    /// each padded to its longest text, so that short texts are not padded to
    /// the length of long ones (sentence-transformers sorts by characters,
    /// which pads 8% more on the benchmark's sentences).
    ///
    /// With more than one batch, each core runs whole batches on its own
    /// (one single-thread pool per core, taking the next batch when done):
    /// candle runs its matrix products on all cores but its element-wise
    /// operations (GELU, bias and residual adds, softmax; about 40% of a
    /// batch's time) on the calling thread only, so one batch at a time
    /// leaves the other core idle for those, and splitting each small
    /// matrix product over both cores costs a synchronisation per product.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EmbedError::Failed(format!("tokenizer: {e}")))?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].len()));
        let chunks: Vec<&[usize]> = order.chunks(self.batch_size).collect();
        let run = |chunk: &[usize]| {
            let batch: Vec<&Encoding> = chunk.iter().map(|&i| &encodings[i]).collect();
            self.embed_batch(&batch)
        };
        type Done = (usize, Result<Vec<Vec<f32>>, EmbedError>);
        // ONNX Runtime spreads each operator over the cores itself.
        let sequential = !matches!(self.model, Model::Candle(_));
        let results: Vec<Done> = if sequential || chunks.len() <= 1 || self.pools.len() <= 1 {
            chunks.iter().map(|c| run(c)).enumerate().collect()
        } else {
            // The longest batches come first and each pool takes the next
            // one when it is done, so the pools finish close together.
            let next = std::sync::atomic::AtomicUsize::new(0);
            let work = || {
                let mut done = Vec::new();
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(chunk) = chunks.get(k) else { break };
                    done.push((k, run(chunk)));
                }
                done
            };
            std::thread::scope(|scope| {
                let handles: Vec<_> = self
                    .pools
                    .iter()
                    .take(chunks.len())
                    .map(|pool| scope.spawn(|| pool.install(work)))
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().expect("an embedding thread panicked"))
                    .collect()
            })
        };
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for (k, vectors) in results {
            for (&i, v) in chunks[k].iter().zip(vectors?) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// One batch, padded here to its longest text.
    fn embed_batch(&self, encodings: &[&Encoding]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let len = encodings.iter().map(|e| e.len()).max().unwrap_or(0);
        let n = encodings.len();
        let mut ids: Vec<u32> = Vec::with_capacity(n * len);
        let mut types: Vec<u32> = Vec::with_capacity(n * len);
        let mut mask: Vec<u32> = Vec::with_capacity(n * len);
        for e in encodings {
            let pad = len - e.len();
            ids.extend(e.get_ids());
            ids.extend(std::iter::repeat_n(self.pad_id, pad));
            types.extend(e.get_type_ids());
            types.extend(std::iter::repeat_n(0, pad));
            mask.extend(e.get_attention_mask());
            mask.extend(std::iter::repeat_n(0, pad));
        }
        let hidden = match &self.model {
            Model::Candle(model) => {
                let forward = || -> candle_core::Result<Tensor> {
                    let device = &model.device;
                    let ids = Tensor::from_vec(ids, (n, len), device)?;
                    let types = Tensor::from_vec(types, (n, len), device)?;
                    let mask = Tensor::from_vec(mask.clone(), (n, len), device)?;
                    model.forward(&ids, &types, Some(&mask))
                };
                forward().map_err(|e| EmbedError::Failed(format!("model: {e}")))?
            }
            #[cfg(feature = "onnx-embedder")]
            Model::Onnx(model) => {
                let wide = |v: Vec<u32>| v.into_iter().map(i64::from).collect::<Vec<i64>>();
                let (values, hidden) =
                    model.hidden_states(n, len, wide(ids), wide(types), wide(mask.clone()))?;
                Tensor::from_vec(values, (n, len, hidden), &Device::Cpu)
                    .map_err(|e| EmbedError::Failed(format!("model: {e}")))?
            }
        };
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let mask = Tensor::from_vec(mask, (n, len), &Device::Cpu)?;
            let mask_f = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let pooled = match self.pooling {
                Pooling::Mean => {
                    let sum = hidden.broadcast_mul(&mask_f)?.sum(1)?;
                    let count = mask_f.sum(1)?.clamp(1e-9, f32::MAX)?;
                    sum.broadcast_div(&count)?
                }
                Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
                Pooling::Max => {
                    // Padding gets a very low value so that it never wins.
                    let low = ((mask_f.ones_like()? - &mask_f)? * -1e9)?;
                    hidden.broadcast_add(&low)?.max(1)?
                }
            };
            let pooled = if self.normalize {
                let norm = pooled
                    .sqr()?
                    .sum_keepdim(1)?
                    .sqrt()?
                    .clamp(1e-12, f32::MAX)?;
                pooled.broadcast_div(&norm)?
            } else {
                pooled
            };
            pooled.to_vec2::<f32>()
        };
        run().map_err(|e| EmbedError::Failed(format!("model: {e}")))
    }
}
