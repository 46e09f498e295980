//! Element types: [`DType`], the Rust types that map onto them ([`Element`]),
//! PyTorch's type promotion, and [`HostData`], a typed buffer in host memory.

use half::{bf16, f16};

/// The element type of a tensor. The names follow `torch.float64`, ...
///
/// ```
/// use ingot::DType;
/// assert!(DType::BF16.is_float());
/// assert_eq!(DType::I32.size_in_bytes(), 4);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// 64-bit IEEE float (`torch.float64`).
    F64,
    /// 32-bit IEEE float (`torch.float32`), the default float type.
    F32,
    /// 16-bit IEEE half float (`torch.float16`); computed in `F32` on the CPU.
    F16,
    /// bfloat16 (`torch.bfloat16`); computed in `F32` on the CPU.
    BF16,
    /// 64-bit signed integer (`torch.int64`), the dtype of indices.
    I64,
    /// 32-bit signed integer (`torch.int32`).
    I32,
    /// 8-bit unsigned integer (`torch.uint8`).
    U8,
    /// Boolean (`torch.bool`), the result of comparisons.
    Bool,
}

impl DType {
    /// Every dtype, in declaration order.
    ///
    /// ```
    /// assert_eq!(ingot::DType::ALL.len(), 8);
    /// ```
    pub const ALL: [DType; 8] = [
        DType::F64,
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::I64,
        DType::I32,
        DType::U8,
        DType::Bool,
    ];

    /// Whether this is a floating-point dtype.
    ///
    /// ```
    /// assert!(!ingot::DType::I64.is_float());
    /// ```
    pub fn is_float(self) -> bool {
        matches!(self, DType::F64 | DType::F32 | DType::F16 | DType::BF16)
    }

    /// Whether this is an integer dtype (`Bool` is not).
    ///
    /// ```
    /// assert!(ingot::DType::U8.is_int());
    /// ```
    pub fn is_int(self) -> bool {
        matches!(self, DType::I64 | DType::I32 | DType::U8)
    }

    /// Bytes per element.
    ///
    /// ```
    /// assert_eq!(ingot::DType::BF16.size_in_bytes(), 2);
    /// ```
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::U8 | DType::Bool => 1,
        }
    }

    /// The dtype PyTorch gives `a op b`: bool < integers < floats; within a
    /// category the wider type wins, and `F16` with `BF16` gives `F32`.
    ///
    /// ```
    /// use ingot::DType;
    /// assert_eq!(DType::promote(DType::I64, DType::F16), DType::F16);
    /// assert_eq!(DType::promote(DType::F16, DType::BF16), DType::F32);
    /// assert_eq!(DType::promote(DType::U8, DType::I32), DType::I32);
    /// ```
    pub fn promote(a: DType, b: DType) -> DType {
        if a == b {
            return a;
        }
        match (a.category(), b.category()) {
            (ca, cb) if ca > cb => a,
            (ca, cb) if ca < cb => b,
            _ => match (a, b) {
                (DType::F16, DType::BF16) | (DType::BF16, DType::F16) => DType::F32,
                _ => {
                    if a.rank() > b.rank() {
                        a
                    } else {
                        b
                    }
                }
            },
        }
    }

    /// The torch-style name, such as `float32`.
    ///
    /// ```
    /// assert_eq!(ingot::DType::I64.torch_name(), "int64");
    /// ```
    pub fn torch_name(self) -> &'static str {
        match self {
            DType::F64 => "float64",
            DType::F32 => "float32",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::I64 => "int64",
            DType::I32 => "int32",
            DType::U8 => "uint8",
            DType::Bool => "bool",
        }
    }

    fn category(self) -> u8 {
        match self {
            DType::Bool => 0,
            DType::I64 | DType::I32 | DType::U8 => 1,
            _ => 2,
        }
    }

    fn rank(self) -> u8 {
        match self {
            DType::F64 | DType::I64 => 3,
            DType::F32 | DType::I32 => 2,
            DType::F16 | DType::BF16 | DType::U8 => 1,
            DType::Bool => 0,
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.torch_name())
    }
}

/// A typed buffer in host memory, one variant per [`DType`]. Backends take
/// uploads and give downloads in this form; the CPU backend stores it as is.
///
/// ```
/// use ingot::{DType, HostData};
/// let h = HostData::from(vec![1.0f32, 2.0]);
/// assert_eq!(h.dtype(), DType::F32);
/// assert_eq!(h.len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum HostData {
    F64(Vec<f64>),
    F32(Vec<f32>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    I64(Vec<i64>),
    I32(Vec<i32>),
    U8(Vec<u8>),
    Bool(Vec<bool>),
}

/// Runs `$body` with `$v` bound to the `Vec` inside a [`HostData`] (or a
/// reference to one), whatever its element type.
#[macro_export]
#[doc(hidden)]
macro_rules! with_host_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            $crate::HostData::F64($v) => $body,
            $crate::HostData::F32($v) => $body,
            $crate::HostData::F16($v) => $body,
            $crate::HostData::BF16($v) => $body,
            $crate::HostData::I64($v) => $body,
            $crate::HostData::I32($v) => $body,
            $crate::HostData::U8($v) => $body,
            $crate::HostData::Bool($v) => $body,
        }
    };
}

impl HostData {
    /// The dtype of the elements.
    ///
    /// ```
    /// assert_eq!(ingot::HostData::from(vec![1i64]).dtype(), ingot::DType::I64);
    /// ```
    pub fn dtype(&self) -> DType {
        match self {
            HostData::F64(_) => DType::F64,
            HostData::F32(_) => DType::F32,
            HostData::F16(_) => DType::F16,
            HostData::BF16(_) => DType::BF16,
            HostData::I64(_) => DType::I64,
            HostData::I32(_) => DType::I32,
            HostData::U8(_) => DType::U8,
            HostData::Bool(_) => DType::Bool,
        }
    }

    /// Number of elements.
    ///
    /// ```
    /// assert_eq!(ingot::HostData::from(vec![true, false]).len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        with_host_data!(self, v => v.len())
    }

    /// Whether there are no elements.
    ///
    /// ```
    /// assert!(ingot::HostData::from(Vec::<u8>::new()).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size in bytes.
    ///
    /// ```
    /// assert_eq!(ingot::HostData::from(vec![0.0f64; 3]).byte_len(), 24);
    /// ```
    pub fn byte_len(&self) -> usize {
        self.len() * self.dtype().size_in_bytes()
    }

    /// A buffer of `len` zeros of `dtype`.
    ///
    /// ```
    /// use ingot::{DType, HostData};
    /// assert_eq!(HostData::zeros(DType::U8, 2), HostData::from(vec![0u8, 0]));
    /// ```
    pub fn zeros(dtype: DType, len: usize) -> HostData {
        match dtype {
            DType::F64 => HostData::F64(vec![0.0; len]),
            DType::F32 => HostData::F32(vec![0.0; len]),
            DType::F16 => HostData::F16(vec![f16::ZERO; len]),
            DType::BF16 => HostData::BF16(vec![bf16::ZERO; len]),
            DType::I64 => HostData::I64(vec![0; len]),
            DType::I32 => HostData::I32(vec![0; len]),
            DType::U8 => HostData::U8(vec![0; len]),
            DType::Bool => HostData::Bool(vec![false; len]),
        }
    }

    /// A buffer of `len` zeros of `dtype`, or `None` when the memory cannot
    /// be had (more bytes than an allocation may hold, or than the system
    /// gives): the fallible form of [`HostData::zeros`]. The pages come
    /// zeroed from the allocator, untouched until written.
    ///
    /// ```
    /// use ingot::{DType, HostData};
    /// assert_eq!(HostData::try_zeros(DType::I32, 2), Some(HostData::from(vec![0i32, 0])));
    /// assert_eq!(HostData::try_zeros(DType::F64, usize::MAX / 4), None);
    /// ```
    pub fn try_zeros(dtype: DType, len: usize) -> Option<HostData> {
        // SAFETY (of each call): every element type of `HostData` (IEEE
        // floats, f16 and bf16 bit patterns, integers, `bool`) has all-zero
        // bytes as a valid value, zero (`false` for `bool`).
        unsafe {
            Some(match dtype {
                DType::F64 => HostData::F64(zeroed_vec(len)?),
                DType::F32 => HostData::F32(zeroed_vec(len)?),
                DType::F16 => HostData::F16(zeroed_vec(len)?),
                DType::BF16 => HostData::BF16(zeroed_vec(len)?),
                DType::I64 => HostData::I64(zeroed_vec(len)?),
                DType::I32 => HostData::I32(zeroed_vec(len)?),
                DType::U8 => HostData::U8(zeroed_vec(len)?),
                DType::Bool => HostData::Bool(zeroed_vec(len)?),
            })
        }
    }

    /// A copy of the buffer, or `None` when the memory cannot be had.
    ///
    /// ```
    /// let h = ingot::HostData::from(vec![1u8, 2]);
    /// assert_eq!(h.try_clone(), Some(h));
    /// ```
    pub fn try_clone(&self) -> Option<HostData> {
        fn copy<T: Clone>(v: &[T]) -> Option<Vec<T>> {
            let mut out = Vec::new();
            out.try_reserve_exact(v.len()).ok()?;
            out.extend_from_slice(v);
            Some(out)
        }
        Some(match self {
            HostData::F64(v) => HostData::F64(copy(v)?),
            HostData::F32(v) => HostData::F32(copy(v)?),
            HostData::F16(v) => HostData::F16(copy(v)?),
            HostData::BF16(v) => HostData::BF16(copy(v)?),
            HostData::I64(v) => HostData::I64(copy(v)?),
            HostData::I32(v) => HostData::I32(copy(v)?),
            HostData::U8(v) => HostData::U8(copy(v)?),
            HostData::Bool(v) => HostData::Bool(copy(v)?),
        })
    }

    /// The elements converted to `T` (numeric `as`-style conversion through
    /// `f64`, except between equal types, which move without conversion).
    ///
    /// ```
    /// let h = ingot::HostData::from(vec![1.5f32, -2.0]);
    /// assert_eq!(h.into_vec::<f64>(), vec![1.5, -2.0]);
    /// ```
    pub fn into_vec<T: Element>(self) -> Vec<T> {
        T::from_host(self)
    }

    /// The same values as `dtype`, converted on the host (float to
    /// integer saturates like Rust's `as`).
    ///
    /// ```
    /// use ingot::{DType, HostData};
    /// let h = HostData::from(vec![0.1f64]).converted(DType::F32);
    /// assert_eq!(h, HostData::from(vec![0.1f32]));
    /// ```
    pub fn converted(self, dtype: DType) -> HostData {
        match dtype {
            DType::F64 => HostData::F64(self.into_vec()),
            DType::F32 => HostData::F32(self.into_vec()),
            DType::F16 => HostData::F16(self.into_vec()),
            DType::BF16 => HostData::BF16(self.into_vec()),
            DType::I64 => HostData::I64(self.into_vec()),
            DType::I32 => HostData::I32(self.into_vec()),
            DType::U8 => HostData::U8(self.into_vec()),
            DType::Bool => HostData::Bool(self.into_vec()),
        }
    }

    /// The element at `i` as `f64` (`None` past the end).
    ///
    /// ```
    /// assert_eq!(ingot::HostData::from(vec![3i32]).get_f64(0), Some(3.0));
    /// ```
    pub fn get_f64(&self, i: usize) -> Option<f64> {
        with_host_data!(self, v => v.get(i).map(|x| x.to_f64()))
    }
}

/// `len` zeroed elements from the allocator, or `None` when the allocation
/// fails or its size overflows.
///
/// # Safety
/// All-zero bytes must be a valid value of `T`.
unsafe fn zeroed_vec<T>(len: usize) -> Option<Vec<T>> {
    let layout = std::alloc::Layout::array::<T>(len).ok()?;
    if layout.size() == 0 {
        return Some(Vec::new());
    }
    // SAFETY: the layout has a nonzero size (checked above).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `ptr` was allocated by the global allocator with the layout of
    // `[T; len]`, so capacity `len` matches it; its `len` elements are
    // zeroed, which the caller guarantees is a valid `T`.
    Some(unsafe { Vec::from_raw_parts(ptr, len, len) })
}

/// A Rust type that can be the element of a tensor.
///
/// Implemented for `f64 f32 f16 bf16 i64 i32 u8 bool`.
///
/// ```
/// use ingot::{DType, Element};
/// assert_eq!(<half::bf16 as Element>::DTYPE, DType::BF16);
/// assert_eq!(i32::from_f64(7.9), 7);
/// ```
pub trait Element: Copy + Send + Sync + std::fmt::Debug + 'static {
    /// The dtype of tensors holding this type.
    const DTYPE: DType;
    /// Wraps a vector as host data.
    fn into_host(v: Vec<Self>) -> HostData;
    /// Takes a vector out of host data, converting when the dtype differs.
    fn from_host(h: HostData) -> Vec<Self>;
    /// The value as `f64`.
    fn to_f64(self) -> f64;
    /// The value from `f64`, saturating for integers like Rust's `as`.
    fn from_f64(v: f64) -> Self;
}

macro_rules! element {
    ($t:ty, $variant:ident, $to:expr, $from:expr) => {
        impl Element for $t {
            const DTYPE: DType = DType::$variant;
            fn into_host(v: Vec<Self>) -> HostData {
                HostData::$variant(v)
            }
            fn from_host(h: HostData) -> Vec<Self> {
                match h {
                    HostData::$variant(v) => v,
                    other => with_host_data!(other, v => v
                        .into_iter()
                        .map(|x| Self::from_f64(x.to_f64()))
                        .collect()),
                }
            }
            fn to_f64(self) -> f64 {
                let to: fn($t) -> f64 = $to;
                to(self)
            }
            fn from_f64(v: f64) -> Self {
                let from: fn(f64) -> $t = $from;
                from(v)
            }
        }
        impl From<Vec<$t>> for HostData {
            fn from(v: Vec<$t>) -> Self {
                HostData::$variant(v)
            }
        }
    };
}

element!(f64, F64, |x| x, |v| v);
element!(f32, F32, |x| x as f64, |v| v as f32);
element!(f16, F16, |x| x.to_f64(), f16::from_f64);
element!(bf16, BF16, |x| x.to_f64(), bf16::from_f64);
element!(i64, I64, |x| x as f64, |v| v as i64);
element!(i32, I32, |x| x as f64, |v| v as i32);
element!(u8, U8, |x| x as f64, |v| v as u8);
element!(bool, Bool, |x| if x { 1.0 } else { 0.0 }, |v| v != 0.0);
