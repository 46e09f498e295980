//! Reading data files: whole files, gzip when the bytes say so, and errors
//! that name the file.

use std::io::Read;
use std::path::{Path, PathBuf};

use ingot_core::{Error, Result};

/// An error about `path`'s content.
pub(crate) fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::File {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// The bytes of `path`, gunzipped if they start with the gzip magic.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    gunzip_if_needed(path, raw)
}

/// Gunzips `raw` if it is gzip data; `path` names it in errors.
pub(crate) fn gunzip_if_needed(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>> {
    if raw.len() < 2 || raw[0] != 0x1f || raw[1] != 0x8b {
        return Ok(raw);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| bad(path, format!("corrupt or truncated gzip data: {e}")))?;
    Ok(out)
}

/// The first of `names` (each tried raw and with `.gz`) that exists in `dir`.
pub(crate) fn find(dir: &Path, names: &[&str], what: &str) -> Result<PathBuf> {
    for name in names {
        for candidate in [dir.join(name), dir.join(format!("{name}.gz"))] {
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let err = if dir.is_dir() {
        format!(
            "no {what} file here (looked for {} and .gz)",
            names.join(", ")
        )
    } else {
        "no such directory".to_string()
    };
    Err(bad(dir, err))
}

/// A parsed IDX file: dimensions and the unsigned-byte payload.
pub(crate) struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Parses an IDX file of unsigned bytes with `rank` dimensions.
pub(crate) fn read_idx(path: &Path, rank: usize) -> Result<Idx> {
    parse_idx(path, read_maybe_gz(path)?, rank)
}

/// Parses IDX bytes already in memory; `path` names them in errors.
pub(crate) fn parse_idx(path: &Path, bytes: Vec<u8>, rank: usize) -> Result<Idx> {
    if bytes.len() < 4 + 4 * rank {
        return Err(bad(
            path,
            format!(
                "truncated: {} bytes, too few for an IDX header",
                bytes.len()
            ),
        ));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let expected = 0x0800 | rank as u32;
    if magic != expected {
        return Err(bad(
            path,
            format!(
                "wrong magic number {magic:#010x}, expected {expected:#010x} (unsigned bytes, {rank} dimensions)"
            ),
        ));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap_or([0; 4])) as usize
        })
        .collect();
    let header = 4 + 4 * rank;
    let size: usize = dims.iter().product();
    let body = bytes.len() - header;
    if body != size {
        let what = if body < size { "truncated" } else { "too long" };
        return Err(bad(
            path,
            format!("{what}: header says {dims:?} ({size} bytes) but {body} bytes follow"),
        ));
    }
    Ok(Idx {
        dims,
        data: bytes[header..].to_vec(),
    })
}
