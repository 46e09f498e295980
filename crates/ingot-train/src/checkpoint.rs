//! Checkpoints: a directory with the weights (`model.safetensors`, PyTorch
//! key names), the optimizer's tensors (`optimizer.safetensors`) and the
//! training state (`state.json`: epoch, step, RNG, scheduler, history,
//! optimizer scalars, caller metadata).
//!
//! Every file is written atomically (temporary file, then rename), and
//! `state.json`, written last, records the size and FNV-1a hash of the other
//! files, so a truncated, corrupt or mismatched checkpoint is an error
//! naming the file, not a silent partial load.

use std::path::{Path, PathBuf};

use ingot_core::{Device, Error, Result};
use ingot_nn::optim::OptimizerState;
use ingot_nn::{StateDict, write_atomically};
use serde_json::{Map, Value, json};

/// Everything needed to continue a run, or to use its model.
///
/// ```
/// use ingot::nn::{Linear, Module};
/// use ingot::train::Checkpoint;
/// let dir = std::env::temp_dir().join("ingot-doc-checkpoint");
/// let model = Linear::new(3, 2, &ingot::Device::cpu())?;
/// Checkpoint::new(model.state_dict()).save(&dir)?;
/// let back = Checkpoint::load(&dir, &ingot::Device::cpu())?;
/// assert_eq!(back.model.keys(), vec!["weight", "bias"]);
/// # Ok::<(), ingot::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// Weights and buffers, by PyTorch key.
    pub model: StateDict,
    /// The optimizer's state, if saved.
    pub optimizer: Option<OptimizerState>,
    /// Training state and metadata (a JSON object).
    pub state: Value,
}

const MODEL: &str = "model.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";
const STATE: &str = "state.json";

/// FNV-1a, 64 bits: a cheap fingerprint of a file's bytes.
fn fnv1a(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::File {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

impl Checkpoint {
    /// A checkpoint of weights only.
    ///
    /// ```
    /// let c = ingot::train::Checkpoint::new(ingot::nn::StateDict::new());
    /// assert!(c.optimizer.is_none());
    /// ```
    pub fn new(model: StateDict) -> Checkpoint {
        Checkpoint {
            model,
            optimizer: None,
            state: json!({}),
        }
    }

    /// The checkpoint directory that `path` names: the directory itself, or
    /// the directory of one of its files.
    ///
    /// ```
    /// use ingot::train::Checkpoint;
    /// assert_eq!(Checkpoint::dir_of("run/best/model.safetensors".as_ref()), std::path::PathBuf::from("run/best"));
    /// ```
    pub fn dir_of(path: &Path) -> PathBuf {
        let is_member = path
            .file_name()
            .is_some_and(|n| n == MODEL || n == OPTIMIZER || n == STATE);
        if is_member {
            path.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            path.to_path_buf()
        }
    }

    /// Writes the checkpoint into `dir` (created if needed).
    ///
    /// ```
    /// let dir = std::env::temp_dir().join("ingot-doc-save-checkpoint");
    /// ingot::train::Checkpoint::new(ingot::nn::StateDict::new()).save(&dir)?;
    /// assert!(dir.join("state.json").exists());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut files = Map::new();
        let mut write = |name: &str, sd: &StateDict| -> Result<()> {
            let path = dir.join(name);
            sd.save_safetensors(&path)?;
            let bytes = std::fs::read(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            files.insert(
                name.into(),
                json!({"bytes": bytes.len(), "fnv1a64": fnv1a(&bytes)}),
            );
            Ok(())
        };
        write(MODEL, &self.model)?;
        let mut scalars = Value::Null;
        if let Some(o) = &self.optimizer {
            write(OPTIMIZER, &o.tensors)?;
            scalars = json!(o.scalars);
        }
        let doc = json!({"format": "ingot-checkpoint", "version": 1, "files": files, "optimizer_scalars": scalars, "state": self.state});
        let text =
            serde_json::to_vec_pretty(&doc).map_err(|e| bad(&dir.join(STATE), e.to_string()))?;
        write_atomically(&dir.join(STATE), &text)
    }

    /// Reads a checkpoint written by [`Checkpoint::save`] from its directory
    /// (or any of its files), checking every file against `state.json`. A
    /// bare `.safetensors` file loads as weights only.
    ///
    /// ```
    /// let err = ingot::train::Checkpoint::load("/nonexistent/ckpt", &ingot::Device::cpu()).unwrap_err();
    /// assert_eq!(err.to_string(), "/nonexistent/ckpt: no checkpoint here: no such directory (or .safetensors file)");
    /// ```
    pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Checkpoint> {
        let path = path.as_ref();
        if path.is_file()
            && path.extension().is_some_and(|e| e == "safetensors")
            && !path.with_file_name(STATE).is_file()
        {
            return Ok(Checkpoint::new(StateDict::load_safetensors(path, device)?));
        }
        let dir = Checkpoint::dir_of(path);
        if !dir.is_dir() {
            return Err(bad(
                &dir,
                "no checkpoint here: no such directory (or .safetensors file)",
            ));
        }
        let state_path = dir.join(STATE);
        if !state_path.is_file() {
            return Err(bad(
                &dir,
                format!("not a checkpoint directory: it has no {STATE}"),
            ));
        }
        let text = std::fs::read(&state_path).map_err(|source| Error::Io {
            path: state_path.clone(),
            source,
        })?;
        let doc: Value = serde_json::from_slice(&text).map_err(|e| {
            bad(
                &state_path,
                format!("not a valid checkpoint state (truncated or corrupt JSON): {e}"),
            )
        })?;
        if doc["format"] != "ingot-checkpoint" {
            return Err(bad(
                &state_path,
                "not an ingot checkpoint (no \"format\": \"ingot-checkpoint\")",
            ));
        }
        let check = |name: &str| -> Result<Option<PathBuf>> {
            let Some(expected) = doc["files"].get(name) else {
                return Ok(None);
            };
            let p = dir.join(name);
            let bytes = std::fs::read(&p).map_err(|source| Error::Io {
                path: p.clone(),
                source,
            })?;
            if expected["bytes"].as_u64() != Some(bytes.len() as u64)
                || expected["fnv1a64"].as_str() != Some(fnv1a(&bytes).as_str())
            {
                return Err(bad(
                    &p,
                    format!(
                        "does not match {STATE} ({} bytes; expected {}): truncated, corrupt or from another save",
                        bytes.len(),
                        expected["bytes"]
                    ),
                ));
            }
            Ok(Some(p))
        };
        let model_path =
            check(MODEL)?.ok_or_else(|| bad(&state_path, format!("lists no {MODEL}")))?;
        let model = StateDict::load_safetensors(&model_path, device)?;
        let optimizer = match check(OPTIMIZER)? {
            Some(p) => {
                let scalars = doc["optimizer_scalars"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| v.as_f64().map(|v| (k.clone(), v)))
                            .collect()
                    })
                    .unwrap_or_default();
                Some(OptimizerState {
                    tensors: StateDict::load_safetensors(&p, device)?,
                    scalars,
                })
            }
            None => None,
        };
        Ok(Checkpoint {
            model,
            optimizer,
            state: doc["state"].clone(),
        })
    }
}
