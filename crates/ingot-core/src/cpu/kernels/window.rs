//! Which outputs of a sliding window (convolution or pooling) read the image
//! rather than its padding.

use std::ops::Range;

/// The outputs `o` (of `out` along one axis) whose input
/// `o * stride + off - pad` lies inside `0..size`, where `off` is the tap's
/// offset in the window (kernel index times dilation).
pub(crate) fn tap_range(
    out: usize,
    size: usize,
    stride: usize,
    pad: usize,
    off: usize,
) -> Range<usize> {
    // o * stride + off >= pad  and  o * stride + off < pad + size
    let lo = if off >= pad {
        0
    } else {
        (pad - off).div_ceil(stride)
    };
    let hi = if pad + size > off {
        (pad + size - off).div_ceil(stride)
    } else {
        0
    };
    lo.min(out)..hi.min(out).max(lo.min(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_skip_the_padding() {
        // 4 inputs, stride 1, pad 1, tap 0 reads input o - 1: outputs 1..4.
        assert_eq!(tap_range(4, 4, 1, 1, 0), 1..4);
        assert_eq!(tap_range(4, 4, 1, 1, 2), 0..3);
        // stride 2: output o reads 2o - 1 + off
        assert_eq!(tap_range(3, 5, 2, 1, 0), 1..3);
        // a tap entirely in the padding
        assert_eq!(tap_range(2, 1, 1, 3, 0), 2..2);
    }
}
