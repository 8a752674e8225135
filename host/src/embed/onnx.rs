//! The `local` provider's `engine = "onnx"`: the same sentence-transformers
//! model directory, its BERT run by ONNX Runtime from `model.onnx` (written
//! once from `model.safetensors` by `tests/embeddings/build_onnx.py`, which
//! needs only the onnx and safetensors wheels, or exported through torch by
//! `tests/embeddings/export_onnx.py`), with the runtime loaded
//! at start from a shared library a user installs from a package registry
//! (`pip install onnxruntime`: `onnxruntime/capi/libonnxruntime.so.*`).
//! Nothing is downloaded, at build time or at run time.
//!
//! Tokenization, pooling and normalization are the candle engine's
//! (`local.rs`); only the transformer's forward pass differs. ONNX Runtime
//! spreads each operator over the cores itself (intra-op threads = cores), so
//! batches run one after the other.

use super::EmbedError;
use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// ONNX Runtime is loaded once per process, from one library.
static RUNTIME: OnceLock<Result<(PathBuf, Environment), String>> = OnceLock::new();

fn model_err(path: &Path, reason: String) -> EmbedError {
    EmbedError::Model {
        path: path.to_path_buf(),
        reason,
    }
}

/// The runtime from `library`, loaded on first use.
fn runtime(library: &Path) -> Result<Environment, EmbedError> {
    // A wrong path is the common mistake: said before anything is loaded.
    if !library.is_file() {
        return Err(model_err(
            library,
            "no such file; name ONNX Runtime's shared library in `onnxruntime` (after `pip install onnxruntime`: \
             .../site-packages/onnxruntime/capi/libonnxruntime.so.*)"
                .into(),
        ));
    }
    let loaded = RUNTIME.get_or_init(|| {
        let builder = ort::init_from(library).map_err(|e| e.to_string())?;
        let env = builder
            .with_name("kmv-host")
            .build()
            .map_err(|e| e.to_string())?;
        Ok((library.to_path_buf(), env))
    });
    match loaded {
        Ok((path, env)) if path == library => Ok(env.clone()),
        Ok((path, _)) => Err(model_err(
            library,
            format!(
                "ONNX Runtime is already loaded from {}: one process loads one (name the same `onnxruntime` in every embedder)",
                path.display()
            ),
        )),
        Err(reason) => Err(model_err(
            library,
            format!(
                "cannot load ONNX Runtime: {reason} (install it with `pip install onnxruntime` and name its onnxruntime/capi/libonnxruntime.so.* file)"
            ),
        )),
    }
}

/// `model.onnx` in a session of its own.
pub(super) struct OnnxModel {
    session: Mutex<Session>,
    /// The export takes `token_type_ids` (BERT's do).
    token_types: bool,
    file: PathBuf,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl OnnxModel {
    /// Loads `dir/model.onnx` with ONNX Runtime from `library`.
    pub(super) fn load(dir: &Path, library: &Path) -> Result<OnnxModel, EmbedError> {
        let file = dir.join("model.onnx");
        if !file.is_file() {
            return Err(model_err(
                &file,
                "no such file (write it once: python tests/embeddings/build_onnx.py MODEL_DIR MODEL_DIR/model.onnx, in a venv with onnx, onnxruntime, safetensors and tokenizers)".into(),
            ));
        }
        let env = runtime(library)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let err = |e: String| model_err(&file, e);
        // Intra-op threads spin between operators (ONNX Runtime's default).
        // Measured with it off (embed bench, 2 cores): batch 1 ran 25% slower
        // and took 7% more CPU (threads woken per operator), batch 32 the same.
        let build = || -> ort::Result<Session> {
            Session::builder(&env)?
                .with_intra_threads(cores)?
                .with_inter_threads(1)?
                .with_optimization_level(GraphOptimizationLevel::All)?
                .commit_from_file(&file)
        };
        let session = build().map_err(|e| err(e.to_string()))?;
        let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        for needed in ["input_ids", "attention_mask"] {
            if !inputs.contains(&needed) {
                return Err(err(format!(
                    "the model has no input `{needed}` (inputs: {}); write it with tests/embeddings/build_onnx.py",
                    inputs.join(", ")
                )));
            }
        }
        if !session
            .outputs()
            .iter()
            .any(|o| o.name() == "last_hidden_state")
        {
            return Err(err(
                "the model has no output `last_hidden_state`; write it with tests/embeddings/build_onnx.py".into(),
            ));
        }
        let token_types = inputs.contains(&"token_type_ids");
        Ok(OnnxModel {
            session: Mutex::new(session),
            token_types,
            file,
        })
    }

    /// The hidden states of one batch of `n` texts padded to `len` tokens,
    /// `n × len × hidden` values, flat, and `hidden`.
    pub(super) fn hidden_states(
        &self,
        n: usize,
        len: usize,
        ids: Vec<i64>,
        types: Vec<i64>,
        mask: Vec<i64>,
    ) -> Result<(Vec<f32>, usize), EmbedError> {
        let failed = |e: ort::Error| EmbedError::Failed(format!("onnx model: {e}"));
        let tensor = |v: Vec<i64>| Tensor::from_array(([n, len], v)).map_err(failed);
        let mut inputs = ort::inputs![
            "input_ids" => tensor(ids)?,
            "attention_mask" => tensor(mask)?,
        ];
        if self.token_types {
            inputs.push(("token_type_ids".into(), tensor(types)?.into()));
        }
        let mut session = self
            .session
            .lock()
            .map_err(|_| EmbedError::Failed("onnx model: a previous call panicked".into()))?;
        let outputs = session.run(inputs).map_err(failed)?;
        let (shape, values) = outputs["last_hidden_state"]
            .try_extract_tensor::<f32>()
            .map_err(failed)?;
        let dims: Vec<i64> = shape.iter().copied().collect();
        match dims[..] {
            [a, b, hidden] if a as usize == n && b as usize == len && hidden > 0 => {
                Ok((values.to_vec(), hidden as usize))
            }
            _ => Err(EmbedError::Failed(format!(
                "onnx model {}: last_hidden_state has shape {dims:?}, expected [{n}, {len}, hidden]",
                self.file.display()
            ))),
        }
    }
}
