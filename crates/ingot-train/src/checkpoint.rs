//! Checkpoints: a directory with the weights (`model.safetensors`, PyTorch
//! key names), the optimizer's tensors (`optimizer.safetensors`) and the
//! training state (`state.json`: epoch, step, RNG, scheduler, history,
//! optimizer scalars, caller metadata).
//!
//! A save never touches the checkpoint it replaces until the new one is
//! whole: it writes every file into a staging directory beside it
//! (`.NAME.staging`), syncs it, then moves the old directory aside
//! (`.NAME.previous`), renames the staging directory into place and removes
//! the old one. A crash at any point leaves a checkpoint that loads: the
//! old one, the new one, or the old one under `.NAME.previous`, where
//! [`Checkpoint::load`] and the next save look for it. A failed save (a
//! full disk) removes what it wrote and leaves the old checkpoint as it was.
//!
//! `state.json` records the size and FNV-1a hash of the other files, so a
//! truncated, corrupt or mismatched checkpoint is an error naming the file,
//! not a silent partial load.

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

    /// Writes the checkpoint as the directory `dir`, replacing the one there
    /// as a whole and atomically (see the module docs): at every instant,
    /// the previous or the new checkpoint loads. A directory that holds
    /// anything but a checkpoint's files is not replaced (an error).
    ///
    /// ```
    /// let dir = std::env::temp_dir().join("ingot-doc-save-checkpoint");
    /// ingot::train::Checkpoint::new(ingot::nn::StateDict::new()).save(&dir)?;
    /// assert!(dir.join("state.json").exists());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        Checkpoint::tidy(dir)?;
        let (staging, previous) = (sibling(dir, "staging")?, sibling(dir, "previous")?);
        if dir.exists() {
            check_replaceable(dir)?;
        }
        // Until the new checkpoint is in place, a failure puts the old one
        // back (if it was set aside) and removes what was staged.
        let undo = |e: Error| {
            let _ = std::fs::rename(&previous, dir);
            let _ = std::fs::remove_dir_all(&staging);
            e
        };
        fs_io(&staging, std::fs::create_dir_all(&staging))
            .and_then(|()| fault::point())
            .and_then(|()| self.write_files(&staging))
            .and_then(|()| sync_dir(&staging))
            .and_then(|()| fault::point())
            .map_err(undo)?;
        if dir.exists() {
            rename(dir, &previous)
                .and_then(|()| fault::point())
                .map_err(undo)?;
        }
        rename(&staging, dir).map_err(undo)?;
        fault::crash_point();
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        remove_dir(&previous)?;
        fault::crash_point();
        Ok(())
    }

    /// Clears up after a save of `dir` that was interrupted (a crash, a
    /// kill): removes its staging directory, and puts the old checkpoint
    /// back if the new one never got into place, or removes it if it did.
    /// [`Checkpoint::save`] does this first; call it when resuming from a
    /// run that may have been killed, so that nothing is left behind.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join("ingot-doc-tidy/checkpoint-last");
    /// ingot::train::Checkpoint::tidy(&dir)?; // nothing to do
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn tidy(dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        let (staging, previous) = (sibling(dir, "staging")?, sibling(dir, "previous")?);
        remove_dir(&staging)?;
        if previous.is_dir() {
            if dir.exists() {
                remove_dir(&previous)?;
            } else {
                rename(&previous, dir)?;
            }
        }
        Ok(())
    }

    /// Writes the checkpoint's files into the (new, empty) directory `dir`,
    /// `state.json` last.
    fn write_files(&self, dir: &Path) -> Result<()> {
        let mut files = Map::new();
        let mut write = |name: &str, sd: &StateDict| -> Result<()> {
            let path = dir.join(name);
            sd.save_safetensors(&path)?;
            fault::point()?;
            let bytes = fs_io(&path, std::fs::read(&path))?;
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
        write_atomically(&dir.join(STATE), &text)?;
        fault::point()
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
        let mut dir = Checkpoint::dir_of(path);
        if !dir.is_dir() {
            // A save that crashed between setting the old checkpoint aside
            // and renaming the new one in left it here.
            if let Ok(previous) = sibling(&dir, "previous")
                && previous.join(STATE).is_file()
            {
                dir = previous;
            }
        }
        if dir.is_file() {
            return Err(bad(
                &dir,
                "not a checkpoint: a checkpoint is a directory (with state.json) or a .safetensors file",
            ));
        }
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
            if expected["bytes"].as_u64() != Some(bytes.len() as u64) {
                return Err(bad(
                    &p,
                    format!(
                        "is {} bytes, but {STATE} records {}: truncated, or from another save",
                        bytes.len(),
                        expected["bytes"]
                    ),
                ));
            }
            let hash = fnv1a(&bytes);
            if expected["fnv1a64"].as_str() != Some(hash.as_str()) {
                return Err(bad(
                    &p,
                    format!(
                        "its FNV-1a hash {hash} differs from the {} that {STATE} records: corrupt, or from another save",
                        expected["fnv1a64"]
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

/// `.NAME.WHAT` beside `dir`: where a save stages the new checkpoint and
/// sets the old one aside.
fn sibling(dir: &Path, what: &str) -> Result<PathBuf> {
    let name = dir
        .file_name()
        .filter(|n| *n != "..")
        .ok_or_else(|| bad(dir, "a checkpoint directory needs a name"))?;
    Ok(dir.with_file_name(format!(".{}.{what}", name.to_string_lossy())))
}

/// Errors unless `dir` holds only what a checkpoint save writes, so that
/// replacing it loses nothing of the user's.
fn check_replaceable(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        return Err(bad(dir, "exists and is not a directory"));
    }
    for entry in fs_io(dir, std::fs::read_dir(dir))? {
        let name = fs_io(dir, entry)?.file_name();
        let name = name.to_string_lossy();
        let ours = [MODEL, OPTIMIZER, STATE]
            .iter()
            .any(|f| name == *f || name.starts_with(&format!(".{f}.tmp-")));
        if !ours {
            return Err(bad(
                dir,
                format!(
                    "holds {name}, which is not part of a checkpoint: not replacing it (save to another directory)"
                ),
            ));
        }
    }
    Ok(())
}

fn fs_io<T>(path: &Path, r: std::io::Result<T>) -> Result<T> {
    r.map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    fs_io(from, std::fs::rename(from, to))
}

/// Removes a directory and everything in it, if it is there.
fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => fs_io(dir, Err(e)),
        _ => Ok(()),
    }
}

/// Makes a directory's entries durable (a no-op where directories cannot
/// be opened for syncing).
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    fs_io(dir, std::fs::File::open(dir).and_then(|d| d.sync_all()))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Fault injection: the points mark each step of a save after which a
/// crash leaves the disk in a new state. With `INGOT_CHECKPOINT_FAULT_AT=N`
/// set, the process aborts at its N-th point (counting from 0 over all
/// saves), as a kill would stop it. The tests of this crate arm a point per
/// thread instead, to panic there (a crash) or to fail there as a full disk
/// would (only the points before the switch can fail: after it, the save
/// has only cleanup left).
mod fault {
    use std::cell::Cell;

    use ingot_core::Result;

    /// What an armed point does.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub(super) enum Fault {
        /// Stops the save dead: `abort` in a program, a panic in a test.
        Crash,
        /// Fails with the error of a full disk.
        #[cfg(test)]
        DiskFull,
    }

    thread_local! {
        static ARMED: Cell<Option<(usize, Fault)>> = Cell::new(
            std::env::var("INGOT_CHECKPOINT_FAULT_AT")
                .ok()
                .and_then(|v| v.parse().ok())
                .map(|at| (at, Fault::Crash)),
        );
        static PASSED: Cell<usize> = const { Cell::new(0) };
    }

    /// The fault armed for this point, if any.
    fn fires() -> Option<Fault> {
        let (at, fault) = ARMED.get()?;
        let n = PASSED.get();
        PASSED.set(n + 1);
        (n == at).then_some(fault)
    }

    fn crash() -> ! {
        let n = PASSED.get() - 1;
        if cfg!(test) {
            panic!("injected crash at checkpoint step {n}");
        }
        eprintln!("INGOT_CHECKPOINT_FAULT_AT: aborting at checkpoint step {n}");
        std::process::abort();
    }

    /// A step before the switch: a crash, or a failure, if armed.
    pub(super) fn point() -> Result<()> {
        match fires() {
            None => Ok(()),
            Some(Fault::Crash) => crash(),
            #[cfg(test)]
            Some(Fault::DiskFull) => Err(ingot_core::Error::Io {
                path: "(injected)".into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "no space left on device",
                ),
            }),
        }
    }

    /// A step after the switch: a crash, if armed.
    pub(super) fn crash_point() {
        if fires() == Some(Fault::Crash) {
            crash();
        }
    }

    /// Arms the `at`-th point from now on this thread (`None`: none).
    #[cfg(test)]
    pub(super) fn arm(armed: Option<(usize, Fault)>) {
        ARMED.set(armed);
        PASSED.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_core::Tensor;

    /// A checkpoint whose weight holds `v` and whose state says `v`.
    fn numbered(v: f32) -> Checkpoint {
        let mut model = StateDict::new();
        model.insert(
            "w",
            Tensor::from_vec(vec![v; 1000], &[1000], &Device::cpu()).unwrap(),
        );
        let mut tensors = StateDict::new();
        tensors.insert(
            "m",
            Tensor::from_vec(vec![-v; 10], &[10], &Device::cpu()).unwrap(),
        );
        Checkpoint {
            model,
            optimizer: Some(OptimizerState {
                tensors,
                scalars: [("step".to_string(), v as f64)].into(),
            }),
            state: json!({ "v": v }),
        }
    }

    /// The number a checkpoint at `dir` was saved with, checking that its
    /// model, optimizer and state all agree.
    fn number_at(dir: &Path) -> Result<f32> {
        let c = Checkpoint::load(dir, &Device::cpu())?;
        let v = c.state["v"].as_f64().unwrap() as f32;
        assert_eq!(c.model.get("w").unwrap().to_vec::<f32>()?, vec![v; 1000]);
        let o = c.optimizer.unwrap();
        assert_eq!(o.tensors.get("m").unwrap().to_vec::<f32>()?, vec![-v; 10]);
        assert_eq!(o.scalars["step"], v as f64);
        Ok(v)
    }

    /// The names in `dir`'s parent, sorted.
    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn fresh_dir(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("ingot-ckpt-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        root.join("checkpoint-last")
    }

    #[test]
    fn a_crash_at_any_step_of_a_save_leaves_a_checkpoint_that_loads() {
        let dir = fresh_dir("crash");
        let mut outcomes = Vec::new();
        for at in 0.. {
            numbered(1.0).save(&dir).unwrap();
            fault::arm(Some((at, fault::Fault::Crash)));
            let crashed = std::panic::catch_unwind(|| numbered(2.0).save(&dir)).is_err();
            fault::arm(None);
            if !crashed {
                assert_eq!(number_at(&dir).unwrap(), 2.0);
                break;
            }
            // The old or the new checkpoint, never a mix or nothing.
            let v = number_at(&dir).unwrap();
            assert!(v == 1.0 || v == 2.0, "step {at}: {v}");
            outcomes.push(v);
            // The next save succeeds and leaves nothing else behind.
            numbered(3.0).save(&dir).unwrap();
            assert_eq!(number_at(&dir).unwrap(), 3.0);
            assert_eq!(
                listing(&dir),
                vec!["checkpoint-last"],
                "after a crash at step {at}"
            );
        }
        // Every step was tried: staging, each file, the switch, the cleanup.
        eprintln!(
            "crashes at {} steps: {} left the old checkpoint, {} the new one",
            outcomes.len(),
            outcomes.iter().filter(|&&v| v == 1.0).count(),
            outcomes.iter().filter(|&&v| v == 2.0).count()
        );
        assert!(outcomes.len() >= 8, "{outcomes:?}");
        assert!(
            outcomes.contains(&1.0) && outcomes.contains(&2.0),
            "{outcomes:?}"
        );
    }

    #[test]
    fn a_failed_save_leaves_the_previous_checkpoint_and_no_files() {
        let dir = fresh_dir("fail");
        let mut failures = 0;
        for at in 0.. {
            numbered(1.0).save(&dir).unwrap();
            fault::arm(Some((at, fault::Fault::DiskFull)));
            let saved = numbered(2.0).save(&dir);
            fault::arm(None);
            match saved {
                Ok(()) => {
                    assert_eq!(number_at(&dir).unwrap(), 2.0);
                    break;
                }
                Err(e) => {
                    assert!(e.to_string().contains("no space left"), "{e}");
                    assert_eq!(number_at(&dir).unwrap(), 1.0, "failure at step {at}");
                    assert_eq!(
                        listing(&dir),
                        vec!["checkpoint-last"],
                        "failure at step {at}"
                    );
                    failures += 1;
                }
            }
        }
        eprintln!("a full disk at {failures} steps: each left the old checkpoint and nothing else");
        assert!(failures >= 5, "{failures}");
        // What a crashed save left (a half-written staging directory) goes
        // with the next save.
        let staging = dir.with_file_name(".checkpoint-last.staging");
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::write(staging.join(MODEL), b"partial").unwrap();
        numbered(3.0).save(&dir).unwrap();
        assert_eq!(number_at(&dir).unwrap(), 3.0);
        assert_eq!(listing(&dir), vec!["checkpoint-last"]);
    }

    #[test]
    fn a_directory_with_other_files_is_not_replaced() {
        let dir = fresh_dir("foreign");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
        let err = numbered(1.0).save(&dir).unwrap_err().to_string();
        assert!(err.contains("notes.txt"), "{err}");
        assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap(), b"mine");
        assert_eq!(listing(&dir), vec!["checkpoint-last"]);
    }

    #[test]
    fn a_flipped_byte_is_reported_as_a_hash_mismatch() {
        let dir = fresh_dir("flip");
        numbered(1.0).save(&dir).unwrap();
        let path = dir.join(MODEL);
        let mut bytes = std::fs::read(&path).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = number_at(&dir).unwrap_err().to_string();
        assert!(
            err.contains("FNV-1a hash") && err.contains("corrupt"),
            "{err}"
        );
        bytes.pop();
        std::fs::write(&path, &bytes).unwrap();
        let err = number_at(&dir).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }
}
