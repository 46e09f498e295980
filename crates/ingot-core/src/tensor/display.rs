//! Printing tensors the way PyTorch does: `tensor([[1., 2.], ...])`, aligned
//! columns, long dimensions summarized with `...`, and the dtype shown when
//! it is not the default of its kind.

use std::fmt;

use crate::{DType, HostData, Tensor};

/// Tensors with more elements than this print summarized.
const SUMMARIZE_ABOVE: usize = 1000;
/// Elements kept at each end of a summarized dimension.
const EDGE: usize = 3;

/// Formats each element; all strings of one tensor share a style.
fn format_elements(data: &HostData) -> Vec<String> {
    match data {
        HostData::Bool(v) => v
            .iter()
            .map(|&b| if b { "True".into() } else { "False".into() })
            .collect(),
        HostData::I64(v) => v.iter().map(|x| x.to_string()).collect(),
        HostData::I32(v) => v.iter().map(|x| x.to_string()).collect(),
        HostData::U8(v) => v.iter().map(|x| x.to_string()).collect(),
        float => {
            let vals: Vec<f64> = float.clone().into_vec();
            let finite: Vec<f64> = vals.iter().copied().filter(|x| x.is_finite()).collect();
            let integral = finite.iter().all(|x| x.fract() == 0.0);
            let max = finite.iter().fold(0f64, |m, x| m.max(x.abs()));
            let min = finite
                .iter()
                .filter(|x| **x != 0.0)
                .fold(f64::INFINITY, |m, x| m.min(x.abs()));
            let spread = min < 1e-4 || (min.is_finite() && max / min > 1e3);
            let sci = max >= 1e8 || (!integral && spread);
            vals.iter()
                .map(|&x| {
                    if x.is_nan() {
                        "nan".into()
                    } else if x.is_infinite() {
                        if x > 0.0 { "inf".into() } else { "-inf".into() }
                    } else if sci {
                        sci_format(x)
                    } else if integral {
                        format!("{x:.0}.")
                    } else {
                        format!("{x:.4}")
                    }
                })
                .collect()
        }
    }
}

/// `1.2346e+05`, as Python prints it.
fn sci_format(x: f64) -> String {
    let s = format!("{x:.4e}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = exp.strip_prefix('-').map_or(("+", exp), |d| ("-", d));
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// Writes the nested brackets of `shape` over `items` (row-major).
fn write_nested(
    out: &mut String,
    items: &[String],
    shape: &[usize],
    width: usize,
    indent: usize,
    summarize: bool,
) {
    if shape.is_empty() {
        out.push_str(&format!("{:>width$}", items[0]));
        return;
    }
    let n = shape[0];
    let inner: usize = shape[1..].iter().product();
    let shown: Vec<Option<usize>> = if summarize && n > 2 * EDGE {
        (0..EDGE)
            .map(Some)
            .chain([None])
            .chain((n - EDGE..n).map(Some))
            .collect()
    } else {
        (0..n).map(Some).collect()
    };
    out.push('[');
    for (k, i) in shown.iter().enumerate() {
        if k > 0 {
            out.push(',');
            if shape.len() == 1 {
                out.push(' ');
            } else {
                out.push_str(&"\n".repeat(shape.len() - 1));
                out.push_str(&" ".repeat(indent + 1));
            }
        }
        match i {
            Some(i) => write_nested(
                out,
                &items[i * inner..(i + 1) * inner],
                &shape[1..],
                width,
                indent + 1,
                summarize,
            ),
            None => out.push_str("..."),
        }
    }
    out.push(']');
}

impl fmt::Display for Tensor {
    /// Prints like PyTorch (evaluates the tensor).
    ///
    /// ```
    /// use ingot::{Device, Tensor};
    /// let t = Tensor::from_vec(vec![1.0f32, 2.5, -3.0, 4.0], &[2, 2], &Device::cpu())?;
    /// assert_eq!(t.to_string(), "tensor([[ 1.0000,  2.5000],\n        [-3.0000,  4.0000]])");
    /// # Ok::<(), ingot::Error>(())
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let data = match self.to_host() {
            Ok(d) => d,
            Err(e) => return write!(f, "tensor(<error: {e}>)"),
        };
        let items = format_elements(&data);
        let summarize = items.len() > SUMMARIZE_ABOVE;
        let width = items.iter().map(String::len).max().unwrap_or(0);
        let mut body = String::new();
        write_nested(
            &mut body,
            &items,
            self.shape(),
            width,
            "tensor(".len(),
            summarize,
        );
        if items.is_empty() {
            body = "[]".into();
        }
        let mut extras = Vec::new();
        if !matches!(self.dtype(), DType::F32 | DType::I64 | DType::Bool) {
            extras.push(format!("dtype={}", self.dtype()));
        }
        if self.device().location() != "cpu" {
            extras.push(format!("device={}", self.device()));
        }
        if self.requires_grad() {
            extras.push("requires_grad=True".into());
        }
        write!(f, "tensor({body}")?;
        for e in extras {
            write!(f, ", {e}")?;
        }
        write!(f, ")")
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tensor({:?}, {}, {}",
            self.shape(),
            self.dtype(),
            self.device()
        )?;
        if !self.is_evaluated() {
            write!(f, ", pending")?;
        }
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use crate::{DType, Device, Tensor};

    #[test]
    fn prints_like_pytorch() {
        let dev = Device::cpu();
        let t = Tensor::arange(0.0, 3.0, 1.0, DType::I64, &dev).unwrap();
        assert_eq!(t.to_string(), "tensor([0, 1, 2])");
        let t = Tensor::arange(0.0, 3.0, 1.0, DType::F32, &dev).unwrap();
        assert_eq!(t.to_string(), "tensor([0., 1., 2.])");
        let t = Tensor::from_vec(vec![1e-5f64, 1.0], &[2], &dev).unwrap();
        assert_eq!(
            t.to_string(),
            "tensor([1.0000e-05, 1.0000e+00], dtype=float64)"
        );
        let t = Tensor::from_vec(vec![true, false], &[2], &dev).unwrap();
        assert_eq!(t.to_string(), "tensor([ True, False])");
        let t = Tensor::full(&[], 2.0, DType::F32, &dev).unwrap();
        assert_eq!(t.to_string(), "tensor(2.)");
    }

    #[test]
    fn long_dimensions_are_summarized() {
        let t = Tensor::arange(0.0, 2000.0, 1.0, DType::I64, &Device::cpu()).unwrap();
        assert_eq!(
            t.to_string(),
            "tensor([   0,    1,    2, ..., 1997, 1998, 1999])"
        );
    }
}
