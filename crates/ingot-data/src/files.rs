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

/// The bytes of `path`, gunzipped if they start with the gzip magic; more
/// than `limit` bytes (after inflating) is an error, found without inflating
/// past the limit.
pub(crate) fn read_maybe_gz(path: &Path, limit: usize) -> Result<Vec<u8>> {
    let raw = read_file(path)?;
    let out = read_up_to(path, maybe_gz(&raw), limit as u64 + 1)?;
    if out.len() > limit {
        return Err(bad(
            path,
            format!("holds more than the {limit} bytes a file of this kind can have"),
        ));
    }
    Ok(out)
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// At most `n` bytes from `reader`, which reads (or inflates) the file at
/// `path`: the buffer grows with what arrives, never with a declared size.
fn read_up_to(path: &Path, reader: impl Read, n: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    reader
        .take(n)
        .read_to_end(&mut out)
        .map_err(|e| bad(path, format!("corrupt or truncated gzip data: {e}")))?;
    Ok(out)
}

/// A reader of `raw`, inflating it if it is gzip data.
pub(crate) fn maybe_gz(raw: &[u8]) -> Box<dyn Read + '_> {
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        Box::new(flate2::read::GzDecoder::new(raw))
    } else {
        Box::new(raw)
    }
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
    parse_idx(path, &read_file(path)?, rank)
}

/// Parses IDX bytes (gzipped or not) already in memory; `path` names them
/// in errors. Inflates no more than the header declares (and one byte, to
/// tell a file that is too long).
pub(crate) fn parse_idx(path: &Path, raw: &[u8], rank: usize) -> Result<Idx> {
    let mut reader = maybe_gz(raw);
    let header = read_up_to(path, &mut reader, 4 + 4 * rank as u64)?;
    if header.len() < 4 + 4 * rank {
        return Err(bad(
            path,
            format!(
                "truncated: {} bytes, too few for an IDX header",
                header.len()
            ),
        ));
    }
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let expected = 0x0800 | rank as u32;
    if magic != expected {
        return Err(bad(
            path,
            format!(
                "wrong magic number {magic:#010x}, expected {expected:#010x} (unsigned bytes, {rank} dimensions)"
            ),
        ));
    }
    let dims: Vec<usize> = header[4..]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let size = ingot_core::shape::checked_numel(&dims)
        .filter(|&n| n < isize::MAX as usize)
        .ok_or_else(|| bad(path, format!("header says {dims:?}, which is too large")))?;
    let data = read_up_to(path, reader, size as u64 + 1)?;
    if data.len() != size {
        let what = if data.len() < size {
            format!(
                "truncated: header says {dims:?} ({size} bytes) but {} bytes follow",
                data.len()
            )
        } else {
            format!("too long: header says {dims:?} ({size} bytes) but more bytes follow")
        };
        return Err(bad(path, what));
    }
    Ok(Idx { dims, data })
}
