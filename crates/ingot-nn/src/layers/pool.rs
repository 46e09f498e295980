//! Pooling layers.

use ingot_core::{Device, Error, Result, Tensor};

use crate::Module;

/// 2-D max pooling (`torch.nn.MaxPool2d`); the stride defaults to the
/// kernel size.
///
/// ```
/// use ingot::nn::{MaxPool2d, Module};
/// use ingot::{DType, Device, Tensor};
/// let x = Tensor::ones(&[1, 3, 8, 8], DType::F32, &Device::cpu())?;
/// assert_eq!(MaxPool2d::new(2).forward(&x)?.shape(), &[1, 3, 4, 4]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct MaxPool2d {
    kernel: usize,
    stride: usize,
    padding: usize,
}

impl MaxPool2d {
    /// Pooling over `kernel x kernel` windows with stride `kernel`.
    ///
    /// ```
    /// let _ = ingot::nn::MaxPool2d::new(2);
    /// ```
    pub fn new(kernel: usize) -> Self {
        MaxPool2d {
            kernel,
            stride: kernel,
            padding: 0,
        }
    }

    /// Pooling with an explicit stride and padding.
    ///
    /// ```
    /// use ingot::nn::{MaxPool2d, Module};
    /// # use ingot::{DType, Device, Tensor};
    /// let x = Tensor::ones(&[1, 1, 7, 7], DType::F32, &Device::cpu())?;
    /// assert_eq!(MaxPool2d::with_stride_padding(3, 2, 1).forward(&x)?.shape(), &[1, 1, 4, 4]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn with_stride_padding(kernel: usize, stride: usize, padding: usize) -> Self {
        MaxPool2d {
            kernel,
            stride,
            padding,
        }
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.max_pool2d(self.kernel, self.stride, self.padding)
    }
    fn type_name(&self) -> String {
        "MaxPool2d".into()
    }
    fn extra_repr(&self) -> String {
        format!(
            "kernel_size={}, stride={}, padding={}, dilation=1, ceil_mode=False",
            self.kernel, self.stride, self.padding
        )
    }
}

/// 2-D average pooling (`torch.nn.AvgPool2d`, `count_include_pad=True`).
///
/// ```
/// use ingot::nn::{AvgPool2d, Module};
/// use ingot::{DType, Device, Tensor};
/// let x = Tensor::ones(&[1, 3, 8, 8], DType::F32, &Device::cpu())?;
/// assert_eq!(AvgPool2d::new(4).forward(&x)?.shape(), &[1, 3, 2, 2]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct AvgPool2d {
    kernel: usize,
    stride: usize,
    padding: usize,
}

impl AvgPool2d {
    /// Pooling over `kernel x kernel` windows with stride `kernel`.
    ///
    /// ```
    /// let _ = ingot::nn::AvgPool2d::new(2);
    /// ```
    pub fn new(kernel: usize) -> Self {
        AvgPool2d {
            kernel,
            stride: kernel,
            padding: 0,
        }
    }

    /// Pooling with an explicit stride and padding.
    ///
    /// ```
    /// use ingot::nn::{AvgPool2d, Module};
    /// # use ingot::{DType, Device, Tensor};
    /// let x = Tensor::ones(&[1, 1, 5, 5], DType::F32, &Device::cpu())?;
    /// assert_eq!(AvgPool2d::with_stride_padding(3, 1, 1).forward(&x)?.shape(), &[1, 1, 5, 5]);
    /// # Ok::<(), ingot::Error>(())
    /// ```
    pub fn with_stride_padding(kernel: usize, stride: usize, padding: usize) -> Self {
        AvgPool2d {
            kernel,
            stride,
            padding,
        }
    }
}

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.avg_pool2d(self.kernel, self.stride, self.padding)
    }
    fn type_name(&self) -> String {
        "AvgPool2d".into()
    }
    fn extra_repr(&self) -> String {
        format!(
            "kernel_size={}, stride={}, padding={}",
            self.kernel, self.stride, self.padding
        )
    }
}

/// Average pooling to a fixed output size (`torch.nn.AdaptiveAvgPool2d`):
/// output cell `i` averages input rows `floor(i H / h) .. ceil((i + 1) H / h)`,
/// and likewise for columns.
///
/// ```
/// use ingot::nn::{AdaptiveAvgPool2d, Module};
/// use ingot::{DType, Device, Tensor};
/// let x = Tensor::ones(&[2, 3, 7, 5], DType::F32, &Device::cpu())?;
/// assert_eq!(AdaptiveAvgPool2d::new((3, 2)).forward(&x)?.shape(), &[2, 3, 3, 2]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct AdaptiveAvgPool2d {
    output: (usize, usize),
}

impl AdaptiveAvgPool2d {
    /// Pooling to `(h, w)`.
    ///
    /// ```
    /// let _ = ingot::nn::AdaptiveAvgPool2d::new((1, 1));
    /// ```
    pub fn new(output: (usize, usize)) -> Self {
        AdaptiveAvgPool2d { output }
    }
}

/// The `[out, size]` matrix averaging each adaptive window of one axis.
fn averaging_matrix(out: usize, size: usize, x: &Tensor, device: &Device) -> Result<Tensor> {
    let mut m = vec![0.0f64; out * size];
    for i in 0..out {
        let (start, end) = (i * size / out, ((i + 1) * size).div_ceil(out));
        for j in start..end {
            m[i * size + j] = 1.0 / (end - start) as f64;
        }
    }
    Tensor::from_vec(m, &[out, size], device)?.to_dtype(x.dtype())
}

impl Module for AdaptiveAvgPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (oh, ow) = self.output;
        if x.dim() != 4 || oh == 0 || ow == 0 {
            return Err(Error::Shape {
                op: "AdaptiveAvgPool2d",
                msg: format!(
                    "expects [N, C, H, W] and a positive output size, got {:?} and {:?}",
                    x.shape(),
                    self.output
                ),
            });
        }
        let (h, w) = (x.shape()[2], x.shape()[3]);
        if (oh, ow) == (1, 1) {
            return x.mean(&[2, 3], true);
        }
        if h % oh == 0 && w % ow == 0 {
            return x.avg_pool2d_with((h / oh, w / ow), (h / oh, w / ow), (0, 0), true);
        }
        let rows = averaging_matrix(oh, h, x, x.device())?;
        let cols = averaging_matrix(ow, w, x, x.device())?;
        rows.matmul(&x.matmul(&cols.t()?)?)
    }
    fn type_name(&self) -> String {
        "AdaptiveAvgPool2d".into()
    }
    fn extra_repr(&self) -> String {
        format!("output_size={:?}", self.output)
    }
}
