//! [`StateDict`]: named tensors in PyTorch's key layout, and their
//! safetensors files.
//!
//! The safetensors format: an 8-byte little-endian header length `n`, `n`
//! bytes of JSON mapping each name to `{dtype, shape, data_offsets}`, then the
//! little-endian tensor data. Files written here load with
//! `safetensors.torch.load_file`, and files PyTorch writes load here.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use ingot_core::{DType, Device, Error, HostData, Result, Tensor};
use serde_json::{Map, Value, json};

/// Named tensors in insertion order, keyed like PyTorch's `state_dict()`.
///
/// ```
/// use ingot::nn::StateDict;
/// use ingot::{DType, Device, Tensor};
/// let mut sd = StateDict::new();
/// sd.insert("0.weight", Tensor::zeros(&[2, 3], DType::F32, &Device::cpu())?);
/// assert_eq!(sd.keys(), vec!["0.weight"]);
/// assert_eq!(sd.get("0.weight").unwrap().shape(), &[2, 3]);
/// # Ok::<(), ingot::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct StateDict {
    entries: Vec<(String, Tensor)>,
    index: HashMap<String, usize>,
}

impl StateDict {
    /// An empty state dict.
    ///
    /// ```
    /// assert!(ingot::nn::StateDict::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The tensor stored under `key`.
    ///
    /// ```
    /// assert!(ingot::nn::StateDict::new().get("x").is_none());
    /// ```
    pub fn get(&self, key: &str) -> Option<&Tensor> {
        self.index.get(key).map(|&i| &self.entries[i].1)
    }

    /// Inserts or replaces `key`.
    ///
    /// ```
    /// # use ingot::{nn::StateDict, DType, Device, Tensor};
    /// let mut sd = StateDict::new();
    /// sd.insert("a", Tensor::zeros(&[1], DType::F32, &Device::cpu())?);
    /// sd.insert("a", Tensor::zeros(&[2], DType::F32, &Device::cpu())?);
    /// assert_eq!(sd.len(), 1);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn insert(&mut self, key: impl Into<String>, tensor: Tensor) {
        let key = key.into();
        match self.index.get(&key) {
            Some(&i) => self.entries[i].1 = tensor,
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push((key, tensor));
            }
        }
    }

    /// Removes and returns `key`.
    ///
    /// ```
    /// # use ingot::{nn::StateDict, DType, Device, Tensor};
    /// let mut sd = StateDict::new();
    /// sd.insert("a", Tensor::zeros(&[1], DType::F32, &Device::cpu())?);
    /// assert!(sd.remove("a").is_some());
    /// assert!(sd.is_empty());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn remove(&mut self, key: &str) -> Option<Tensor> {
        let i = self.index.remove(key)?;
        let (_, t) = self.entries.remove(i);
        for v in self.index.values_mut() {
            if *v > i {
                *v -= 1;
            }
        }
        Some(t)
    }

    /// The keys in order.
    ///
    /// ```
    /// assert!(ingot::nn::StateDict::new().keys().is_empty());
    /// ```
    pub fn keys(&self) -> Vec<String> {
        self.entries.iter().map(|(k, _)| k.clone()).collect()
    }

    /// `(key, tensor)` pairs in order.
    ///
    /// ```
    /// assert_eq!(ingot::nn::StateDict::new().iter().count(), 0);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.entries.iter().map(|(k, t)| (k.as_str(), t))
    }

    /// Number of entries.
    ///
    /// ```
    /// assert_eq!(ingot::nn::StateDict::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    ///
    /// ```
    /// assert!(ingot::nn::StateDict::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A copy with every tensor on `device`.
    ///
    /// ```
    /// # use ingot::{nn::StateDict, Device};
    /// let sd = StateDict::new().to_device(&Device::cpu())?;
    /// assert!(sd.is_empty());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn to_device(&self, device: &Device) -> Result<StateDict> {
        let mut out = StateDict::new();
        for (k, t) in self.iter() {
            out.insert(k, t.to_device(device)?);
        }
        Ok(out)
    }

    /// Reads a safetensors file onto `device`. A truncated or malformed file
    /// is an error naming the file and the problem.
    ///
    /// ```
    /// # use ingot::{nn::StateDict, DType, Device, Tensor};
    /// let path = std::env::temp_dir().join("ingot-doc-load.safetensors");
    /// let mut sd = StateDict::new();
    /// sd.insert("w", Tensor::ones(&[2], DType::BF16, &Device::cpu())?);
    /// sd.save_safetensors(&path)?;
    /// let back = StateDict::load_safetensors(&path, &Device::cpu())?;
    /// assert_eq!(back.get("w").unwrap().dtype(), DType::BF16);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn load_safetensors(path: impl AsRef<Path>, device: &Device) -> Result<StateDict> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        decode(&bytes, device).map_err(|msg| Error::File {
            path: path.to_path_buf(),
            msg,
        })
    }

    /// Writes a safetensors file, atomically (a temporary file in the same
    /// directory, renamed over `path` once complete).
    ///
    /// ```
    /// # use ingot::{nn::StateDict, DType, Device, Tensor};
    /// let path = std::env::temp_dir().join("ingot-doc-save.safetensors");
    /// let mut sd = StateDict::new();
    /// sd.insert("b", Tensor::zeros(&[3], DType::F32, &Device::cpu())?);
    /// sd.save_safetensors(&path)?;
    /// assert!(path.exists());
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<()> {
        let bytes = self.encode()?;
        write_atomically(path.as_ref(), &bytes)
    }

    /// The safetensors encoding of this state dict.
    fn encode(&self) -> Result<Vec<u8>> {
        ingot_core::eval(&self.entries.iter().map(|(_, t)| t).collect::<Vec<_>>())?;
        let mut header = Map::new();
        header.insert("__metadata__".into(), json!({"format": "pt"}));
        let mut data = Vec::new();
        for (k, t) in &self.entries {
            let start = data.len();
            append_le(&t.to_host()?, &mut data);
            header.insert(k.clone(), json!({"dtype": st_name(t.dtype()), "shape": t.shape(), "data_offsets": [start, data.len()]}));
        }
        let mut head =
            serde_json::to_vec(&Value::Object(header)).map_err(|e| Error::InvalidArgument {
                op: "save_safetensors",
                msg: e.to_string(),
            })?;
        while head.len() % 8 != 0 {
            head.push(b' ');
        }
        let mut out = Vec::with_capacity(8 + head.len() + data.len());
        out.extend_from_slice(&(head.len() as u64).to_le_bytes());
        out.extend_from_slice(&head);
        out.extend_from_slice(&data);
        Ok(out)
    }
}

impl std::fmt::Debug for StateDict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.entries
                    .iter()
                    .map(|(k, t)| (k, (t.shape(), t.dtype()))),
            )
            .finish()
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it
/// over `path`, so a reader never sees a partial file. Temporary files that
/// an earlier writer of `path` left (killed before its rename) are removed.
///
/// ```
/// let path = std::env::temp_dir().join("ingot-doc-atomic.txt");
/// std::fs::write(path.with_file_name(".ingot-doc-atomic.txt.tmp-1"), b"left by a crash")?;
/// ingot::nn::write_atomically(&path, b"done")?;
/// assert_eq!(std::fs::read(&path)?, b"done");
/// assert!(!path.with_file_name(".ingot-doc-atomic.txt.tmp-1").exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| Error::File {
        path: path.to_path_buf(),
        msg: "not a file path".into(),
    })?;
    let stale = format!(".{}.tmp-", name.to_string_lossy());
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&stale) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let tmp: PathBuf = dir.join(format!("{stale}{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

fn st_name(d: DType) -> &'static str {
    match d {
        DType::F64 => "F64",
        DType::F32 => "F32",
        DType::F16 => "F16",
        DType::BF16 => "BF16",
        DType::I64 => "I64",
        DType::I32 => "I32",
        DType::U8 => "U8",
        DType::Bool => "BOOL",
    }
}

fn st_dtype(name: &str) -> Option<DType> {
    DType::ALL.into_iter().find(|&d| st_name(d) == name)
}

fn append_le(h: &HostData, out: &mut Vec<u8>) {
    match h {
        HostData::F64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        HostData::F32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        HostData::F16(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_bits().to_le_bytes())),
        HostData::BF16(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_bits().to_le_bytes())),
        HostData::I64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        HostData::I32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        HostData::U8(v) => out.extend_from_slice(v),
        HostData::Bool(v) => out.extend(v.iter().map(|&b| b as u8)),
    }
}

fn from_le(dtype: DType, b: &[u8]) -> std::result::Result<HostData, String> {
    fn chunks<const N: usize, T>(b: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        b.chunks_exact(N)
            .map(|c| f(c.try_into().unwrap_or([0; N])))
            .collect()
    }
    Ok(match dtype {
        DType::F64 => HostData::F64(chunks(b, f64::from_le_bytes)),
        DType::F32 => HostData::F32(chunks(b, f32::from_le_bytes)),
        DType::F16 => HostData::F16(chunks(b, |c| f16::from_bits(u16::from_le_bytes(c)))),
        DType::BF16 => HostData::BF16(chunks(b, |c| bf16::from_bits(u16::from_le_bytes(c)))),
        DType::I64 => HostData::I64(chunks(b, i64::from_le_bytes)),
        DType::I32 => HostData::I32(chunks(b, i32::from_le_bytes)),
        DType::U8 => HostData::U8(b.to_vec()),
        DType::Bool => {
            if let Some(bad) = b.iter().find(|&&x| x > 1) {
                return Err(format!("a BOOL tensor holds the byte {bad}"));
            }
            HostData::Bool(b.iter().map(|&x| x == 1).collect())
        }
    })
}

/// The largest header the reference implementation reads.
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Parses a safetensors image; errors describe what is wrong.
fn decode(bytes: &[u8], device: &Device) -> std::result::Result<StateDict, String> {
    if bytes.len() < 8 {
        return Err(format!(
            "truncated: {} bytes, too short for the header length",
            bytes.len()
        ));
    }
    let n = u64::from_le_bytes(
        bytes[..8]
            .try_into()
            .map_err(|_| "unreadable header length")?,
    );
    if n > MAX_HEADER_BYTES {
        return Err(format!(
            "header length {n} is larger than the {MAX_HEADER_BYTES} bytes a safetensors header may have"
        ));
    }
    let n = n as usize;
    if n > bytes.len() - 8 {
        return Err(format!(
            "truncated: header of {n} bytes, but only {} follow",
            bytes.len() - 8
        ));
    }
    if bytes.get(8) != Some(&b'{') {
        return Err("header is not valid JSON: it does not start with '{'".into());
    }
    let header: Value = serde_json::from_slice(&bytes[8..8 + n])
        .map_err(|e| format!("header is not valid JSON: {e}"))?;
    let header = header.as_object().ok_or("header is not a JSON object")?;
    let data = &bytes[8 + n..];
    let mut entries = Vec::new();
    for (name, info) in header {
        if name == "__metadata__" {
            continue;
        }
        let dtype_name = info["dtype"]
            .as_str()
            .ok_or_else(|| format!("{name}: no dtype"))?;
        let dtype = st_dtype(dtype_name)
            .ok_or_else(|| format!("{name}: unsupported dtype {dtype_name}"))?;
        let shape: Vec<usize> = info["shape"]
            .as_array()
            .ok_or_else(|| format!("{name}: no shape"))?
            .iter()
            .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("{name}: shape is not a list of sizes"))?;
        let offsets: Vec<usize> = info["data_offsets"]
            .as_array()
            .filter(|a| a.len() == 2)
            .and_then(|a| {
                a.iter()
                    .map(|o| o.as_u64().and_then(|o| usize::try_from(o).ok()))
                    .collect()
            })
            .ok_or_else(|| format!("{name}: data_offsets must be [begin, end]"))?;
        let (begin, end) = (offsets[0], offsets[1]);
        let expected = ingot_core::shape::check_size("load_safetensors", &shape, dtype)
            .map_err(|_| format!("{name}: shape {shape:?} of {dtype_name} is too large"))?
            * dtype.size_in_bytes();
        if end < begin || end - begin != expected {
            return Err(format!(
                "{name}: data_offsets [{begin}, {end}] do not hold {expected} bytes of {dtype_name} {shape:?}"
            ));
        }
        if end > data.len() {
            return Err(format!(
                "truncated: {name} ends at byte {end} of the data, which has {} bytes",
                data.len()
            ));
        }
        entries.push((begin, name.clone(), dtype, shape, end));
    }
    entries.sort_by_key(|e| (e.0, e.4));
    // As the reference implementation requires: the tensors tile the data
    // exactly, in order, with no gap, overlap or trailing byte.
    let mut covered = 0;
    for (begin, name, _, _, end) in &entries {
        if *begin != covered {
            return Err(format!(
                "{name}: data_offsets start at byte {begin}, but the tensors before it end at {covered} (a gap or an overlap)"
            ));
        }
        covered = *end;
    }
    if covered != data.len() {
        return Err(format!(
            "the tensors cover {covered} bytes of data, but {} follow the header",
            data.len()
        ));
    }
    let mut sd = StateDict::new();
    for (begin, name, dtype, shape, end) in entries {
        let host = from_le(dtype, &data[begin..end]).map_err(|e| format!("{name}: {e}"))?;
        let t = Tensor::from_host(host, &shape, device).map_err(|e| format!("{name}: {e}"))?;
        sd.insert(name, t);
    }
    Ok(sd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StateDict {
        let dev = Device::cpu();
        let mut sd = StateDict::new();
        sd.insert(
            "a.weight",
            Tensor::from_vec(vec![1.5f32, -2.0, 3.25], &[3], &dev).unwrap(),
        );
        sd.insert("a.count", Tensor::from_vec(vec![7i64], &[], &dev).unwrap());
        sd.insert(
            "b",
            Tensor::from_vec(vec![true, false], &[2], &dev).unwrap(),
        );
        sd.insert(
            "h",
            Tensor::from_vec(vec![f16::from_f32(0.5)], &[1, 1], &dev).unwrap(),
        );
        sd
    }

    #[test]
    fn round_trips_every_dtype_and_shape() {
        let bytes = sample().encode().unwrap();
        let back = decode(&bytes, &Device::cpu()).unwrap();
        assert_eq!(back.keys(), vec!["a.weight", "a.count", "b", "h"]);
        assert_eq!(
            back.get("a.weight").unwrap().to_vec::<f32>().unwrap(),
            vec![1.5, -2.0, 3.25]
        );
        assert_eq!(back.get("a.count").unwrap().shape(), &[] as &[usize]);
        assert_eq!(back.get("a.count").unwrap().item::<i64>().unwrap(), 7);
        assert_eq!(
            back.get("b").unwrap().to_vec::<bool>().unwrap(),
            vec![true, false]
        );
        assert_eq!(back.get("h").unwrap().dtype(), DType::F16);
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        let bytes = sample().encode().unwrap();
        for cut in [0, 4, 12, bytes.len() - 1] {
            let err = decode(&bytes[..cut], &Device::cpu()).unwrap_err();
            assert!(
                err.contains("truncated") || err.contains("JSON"),
                "cut at {cut}: {err}"
            );
        }
        let mut bad = bytes.clone();
        bad[8] = b'#';
        assert!(decode(&bad, &Device::cpu()).unwrap_err().contains("JSON"));
        let mut renamed = bytes.clone();
        let at = renamed.windows(5).position(|w| w == b"\"I64\"").unwrap();
        renamed[at + 2..at + 4].copy_from_slice(b"08");
        assert!(
            decode(&renamed, &Device::cpu())
                .unwrap_err()
                .contains("unsupported dtype I08")
        );
    }

    /// A safetensors image of `header` (JSON text) and `data`.
    fn image(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn offsets_must_tile_the_data_exactly() {
        let dev = Device::cpu();
        let two = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#;
        let data = [0u8; 12];
        assert_eq!(
            decode(&image(two, &data), &dev).unwrap().keys(),
            vec!["a", "b"]
        );
        let cases = [
            (
                "shifted by 4",
                image(
                    &two.replace("[0,8]", "[4,12]").replace("[8,12]", "[12,16]"),
                    &[0; 16],
                ),
                "start at byte 4",
            ),
            (
                "overlapping",
                image(&two.replace("[8,12]", "[4,8]"), &data[..8]),
                "an overlap",
            ),
            (
                "trailing bytes",
                image(two, &[0u8; 13]),
                "13 follow the header",
            ),
            (
                "a gap",
                image(&two.replace("[8,12]", "[9,13]"), &[0u8; 13]),
                "start at byte 9",
            ),
            (
                "absurd shape",
                image(
                    r#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}"#,
                    &[],
                ),
                "too large",
            ),
            (
                "absurd header length",
                {
                    let mut b = image(two, &data);
                    b[..8].copy_from_slice(&u64::MAX.to_le_bytes());
                    b
                },
                "larger than",
            ),
        ];
        for (what, bytes, expected) in cases {
            let err = decode(&bytes, &dev).unwrap_err();
            assert!(err.contains(expected), "{what}: {err}");
        }
        // A header length one short or one long of the real one.
        let good = sample().encode().unwrap();
        let n = u64::from_le_bytes(good[..8].try_into().unwrap());
        for m in [n - 1, n + 1] {
            let mut b = good.clone();
            b[..8].copy_from_slice(&m.to_le_bytes());
            assert!(
                decode(&b, &dev).is_err(),
                "header length {m} instead of {n}"
            );
        }
    }
}
