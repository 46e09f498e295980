//! The one error type of ingot and its `Result` alias.

use std::path::PathBuf;

use crate::DType;

/// Everything that can go wrong in ingot, with a message a user can act on.
///
/// Errors are raised where the mistake is made: a shape mismatch is reported by
/// the call that builds the op, not later when the graph runs.
///
/// ```
/// use ingot::{DType, Device, Error, Tensor};
/// let dev = Device::cpu();
/// let a = Tensor::zeros(&[2, 3], DType::F32, &dev)?;
/// let b = Tensor::zeros(&[4], DType::F32, &dev)?;
/// let err = a.add(&b).unwrap_err();
/// assert!(matches!(err, Error::Shape { op: "add", .. }));
/// # Ok::<(), ingot::Error>(())
/// ```
///
/// `Debug` prints the same message as `Display`, so that a program whose
/// `main` returns [`Result`] ends with a line a user can read:
///
/// ```
/// let err = ingot::device("tpu").unwrap_err();
/// assert_eq!(format!("{err:?}"), err.to_string());
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Operand shapes that do not fit the op.
    #[error("{op}: {msg}")]
    Shape { op: &'static str, msg: String },
    /// A dimension index outside `-rank..rank`.
    #[error("{op}: dimension {dim} is out of range for a tensor of rank {rank}")]
    DimOutOfRange {
        op: &'static str,
        dim: isize,
        rank: usize,
    },
    /// A dtype the op does not accept.
    #[error("{op}: {msg}")]
    DType { op: &'static str, msg: String },
    /// Operands on different devices.
    #[error("{op}: expected all tensors on the same device, found {lhs} and {rhs}")]
    DeviceMismatch {
        op: &'static str,
        lhs: String,
        rhs: String,
    },
    /// An index (in an index tensor or an argument) outside its dimension.
    #[error("{op}: index {index} is out of bounds for dimension {dim} with size {size}")]
    IndexOutOfBounds {
        op: &'static str,
        index: i64,
        dim: usize,
        size: usize,
    },
    /// A bad argument that is not a shape, dim, dtype or device problem.
    #[error("{op}: {msg}")]
    InvalidArgument { op: &'static str, msg: String },
    /// Misuse of autograd, such as calling `backward` on a tensor without a graph.
    #[error("autograd: {0}")]
    Autograd(String),
    /// A backend that cannot do what was asked, or failed doing it.
    #[error("{backend}: {msg}")]
    Backend { backend: String, msg: String },
    /// Memory that a device could not give.
    #[error("{device}: out of memory: cannot allocate {bytes} bytes for {what}")]
    OutOfMemory {
        device: String,
        bytes: u64,
        what: String,
    },
    /// A file that could not be read or written, or whose content is wrong.
    #[error("{}: {msg}", path.display())]
    File { path: PathBuf, msg: String },
    /// An I/O error with the file it happened on.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// `Result` with ingot's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn shape(op: &'static str, msg: impl Into<String>) -> Self {
        Error::Shape {
            op,
            msg: msg.into(),
        }
    }

    pub(crate) fn dtype(op: &'static str, msg: impl Into<String>) -> Self {
        Error::DType {
            op,
            msg: msg.into(),
        }
    }

    pub(crate) fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        Error::InvalidArgument {
            op,
            msg: msg.into(),
        }
    }

    pub(crate) fn unsupported_dtype(op: &'static str, dtype: DType) -> Self {
        Error::DType {
            op,
            msg: format!("dtype {dtype:?} is not supported"),
        }
    }
}
