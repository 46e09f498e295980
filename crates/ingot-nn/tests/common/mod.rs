//! Reading `tests/reference/nn_reference.*` (written by
//! `gen_nn_reference.py`) and comparing tensors.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use ingot::nn::StateDict;
use ingot::{Device, Tensor};
use serde_json::Value;

pub fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference")
}

pub struct Reference {
    pub tensors: StateDict,
    pub cases: Vec<Value>,
}

pub fn reference() -> &'static Reference {
    static R: OnceLock<Reference> = OnceLock::new();
    R.get_or_init(|| {
        let dir = reference_dir();
        let tensors =
            StateDict::load_safetensors(dir.join("nn_reference.safetensors"), &Device::cpu())
                .expect("reference tensors");
        let json: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("nn_reference.json")).expect("reference json"),
        )
        .expect("json");
        Reference {
            tensors,
            cases: json["cases"].as_array().expect("cases").clone(),
        }
    })
}

impl Reference {
    pub fn get(&self, case: &str, name: &str) -> Tensor {
        self.tensors
            .get(&format!("{case}/{name}"))
            .unwrap_or_else(|| panic!("reference has no {case}/{name}"))
            .clone()
    }

    pub fn try_get(&self, case: &str, name: &str) -> Option<Tensor> {
        self.tensors.get(&format!("{case}/{name}")).cloned()
    }

    /// Entries under `{case}/{prefix}/`, with that prefix removed.
    pub fn state(&self, case: &str, prefix: &str) -> StateDict {
        let head = format!("{case}/{prefix}/");
        let mut sd = StateDict::new();
        for (k, t) in self.tensors.iter() {
            if let Some(rest) = k.strip_prefix(&head) {
                sd.insert(rest, t.clone());
            }
        }
        sd
    }

    pub fn cases_of(&self, kind: &str) -> Vec<&Value> {
        self.cases.iter().filter(|c| c["kind"] == kind).collect()
    }
}

/// `None` if `got` matches `want` within `|g - w| <= atol + rtol |w|`, else
/// the worst violation as a multiple of the allowance.
pub fn mismatch(got: &Tensor, want: &Tensor, rtol: f64, atol: f64) -> Option<String> {
    if got.shape() != want.shape() {
        return Some(format!("shape {:?} vs {:?}", got.shape(), want.shape()));
    }
    let g = got.to_vec::<f64>().unwrap();
    let w = want.to_vec::<f64>().unwrap();
    let worst = g
        .iter()
        .zip(&w)
        .map(|(a, b)| (a - b).abs() / (atol + rtol * b.abs()))
        .fold(0.0, f64::max);
    (worst > 1.0).then(|| format!("off by {worst:.2}x the tolerance"))
}
