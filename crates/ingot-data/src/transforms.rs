//! Sample transforms (torchvision's names): they run in the loader's
//! workers, each sample with its own random stream, so a seed reproduces
//! them whatever the number of workers. Images are `[C, H, W]`.

use ingot_core::{Error, Result};

use crate::dataset::Sample;
use crate::rng::SampleRng;

/// A change to one sample, possibly random.
///
/// ```
/// use ingot::data::{Sample, SampleRng, Target, Transform};
/// use ingot::Result;
///
/// /// Inverts pixel values.
/// struct Invert;
///
/// impl Transform for Invert {
///     fn apply(&self, mut s: Sample, _rng: &mut SampleRng) -> Result<Sample> {
///         s.features.iter_mut().for_each(|x| *x = 1.0 - *x);
///         Ok(s)
///     }
/// }
///
/// let s = Invert.apply(Sample::new(vec![0.25], vec![1, 1, 1], Target::Class(0)), &mut SampleRng::new(0, 0, 0))?;
/// assert_eq!(s.features, vec![0.75]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub trait Transform: Send + Sync {
    /// The transformed sample.
    fn apply(&self, sample: Sample, rng: &mut SampleRng) -> Result<Sample>;
}

fn chw(op: &'static str, s: &Sample) -> Result<(usize, usize, usize)> {
    match s.shape.as_slice() {
        &[c, h, w] if c * h * w == s.features.len() => Ok((c, h, w)),
        other => Err(Error::Shape {
            op,
            msg: format!(
                "expects an image [C, H, W], got shape {other:?} with {} values",
                s.features.len()
            ),
        }),
    }
}

/// Transforms applied in order.
///
/// ```
/// use ingot::data::{CenterCrop, Compose, Normalize, Sample, SampleRng, Target, Transform};
/// let t = Compose::new(vec![Box::new(CenterCrop::new((1, 1))), Box::new(Normalize::new(vec![0.5], vec![0.5]))]);
/// let s = Sample::new(vec![0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], vec![1, 3, 3], Target::Class(0));
/// assert_eq!(t.apply(s, &mut SampleRng::new(0, 0, 0))?.features, vec![1.0]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct Compose(Vec<Box<dyn Transform>>);

impl Compose {
    /// The composition of `transforms`.
    ///
    /// ```
    /// let _ = ingot::data::Compose::new(vec![]);
    /// ```
    pub fn new(transforms: Vec<Box<dyn Transform>>) -> Self {
        Compose(transforms)
    }
}

impl Transform for Compose {
    fn apply(&self, sample: Sample, rng: &mut SampleRng) -> Result<Sample> {
        self.0.iter().try_fold(sample, |s, t| t.apply(s, rng))
    }
}

/// `(x - mean[c]) / std[c]` per channel.
///
/// ```
/// use ingot::data::{Normalize, Sample, SampleRng, Target, Transform};
/// let s = Sample::new(vec![1.0, 3.0], vec![2, 1, 1], Target::Class(0));
/// let n = Normalize::new(vec![1.0, 1.0], vec![1.0, 2.0]).apply(s, &mut SampleRng::new(0, 0, 0))?;
/// assert_eq!(n.features, vec![0.0, 1.0]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct Normalize {
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Normalize {
    /// Per-channel mean and standard deviation.
    ///
    /// ```
    /// let mnist = ingot::data::Normalize::new(vec![0.1307], vec![0.3081]);
    /// ```
    pub fn new(mean: Vec<f32>, std: Vec<f32>) -> Self {
        Normalize { mean, std }
    }
}

impl Transform for Normalize {
    fn apply(&self, mut s: Sample, _rng: &mut SampleRng) -> Result<Sample> {
        let c = s.shape.first().copied().unwrap_or(0);
        if self.mean.len() != c || self.std.len() != c {
            return Err(Error::Shape {
                op: "Normalize",
                msg: format!(
                    "{} means and {} stds for {c} channels",
                    self.mean.len(),
                    self.std.len()
                ),
            });
        }
        if let Some(ch) = self.std.iter().position(|&sd| sd == 0.0 || !sd.is_finite()) {
            return Err(Error::InvalidArgument {
                op: "Normalize",
                msg: format!(
                    "std {} of channel {ch} would divide by zero (stds must be nonzero and finite)",
                    self.std[ch]
                ),
            });
        }
        let plane = s.features.len() / c.max(1);
        for (ch, values) in s.features.chunks_mut(plane.max(1)).enumerate() {
            let (m, sd) = (self.mean[ch], self.std[ch]);
            values.iter_mut().for_each(|x| *x = (*x - m) / sd);
        }
        Ok(s)
    }
}

/// Crops `[top..top + h, left..left + w]` of every channel.
fn crop(
    s: Sample,
    (c, h, w): (usize, usize, usize),
    top: usize,
    left: usize,
    (th, tw): (usize, usize),
) -> Sample {
    let mut out = Vec::with_capacity(c * th * tw);
    for ch in 0..c {
        for y in top..top + th {
            let row = (ch * h + y) * w;
            out.extend_from_slice(&s.features[row + left..row + left + tw]);
        }
    }
    Sample {
        features: out,
        shape: vec![c, th, tw],
        target: s.target,
    }
}

/// Zero-pads by `padding` on every side, then crops a random `size` window.
///
/// ```
/// use ingot::data::{RandomCrop, Sample, SampleRng, Target, Transform};
/// let s = Sample::new(vec![1.0; 4], vec![1, 2, 2], Target::Class(0));
/// let c = RandomCrop::new((2, 2), 1).apply(s, &mut SampleRng::new(0, 0, 0))?;
/// assert_eq!(c.shape, vec![1, 2, 2]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct RandomCrop {
    size: (usize, usize),
    padding: usize,
}

impl RandomCrop {
    /// Windows of `(h, w)` after padding by `padding`.
    ///
    /// ```
    /// let cifar = ingot::data::RandomCrop::new((32, 32), 4);
    /// ```
    pub fn new(size: (usize, usize), padding: usize) -> Self {
        RandomCrop { size, padding }
    }
}

impl Transform for RandomCrop {
    fn apply(&self, s: Sample, rng: &mut SampleRng) -> Result<Sample> {
        let (c, h, w) = chw("RandomCrop", &s)?;
        let p = self.padding;
        let (ph, pw) = (h + 2 * p, w + 2 * p);
        let (th, tw) = self.size;
        if th > ph || tw > pw {
            return Err(Error::Shape {
                op: "RandomCrop",
                msg: format!(
                    "crop {:?} is larger than the padded image ({ph}, {pw})",
                    self.size
                ),
            });
        }
        let mut padded = vec![0f32; c * ph * pw];
        for ch in 0..c {
            for y in 0..h {
                let src = &s.features[(ch * h + y) * w..][..w];
                padded[(ch * ph + y + p) * pw + p..][..w].copy_from_slice(src);
            }
        }
        let top = rng.below(ph - th + 1);
        let left = rng.below(pw - tw + 1);
        Ok(crop(
            Sample {
                features: padded,
                shape: vec![c, ph, pw],
                target: s.target,
            },
            (c, ph, pw),
            top,
            left,
            self.size,
        ))
    }
}

/// Mirrors the image left-right with probability `p`.
///
/// ```
/// use ingot::data::{RandomHorizontalFlip, Sample, SampleRng, Target, Transform};
/// let s = Sample::new(vec![1.0, 2.0], vec![1, 1, 2], Target::Class(0));
/// let f = RandomHorizontalFlip::new(1.0).apply(s, &mut SampleRng::new(0, 0, 0))?;
/// assert_eq!(f.features, vec![2.0, 1.0]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct RandomHorizontalFlip {
    p: f32,
}

impl RandomHorizontalFlip {
    /// Flips with probability `p` (torchvision's default is 0.5).
    ///
    /// ```
    /// let _ = ingot::data::RandomHorizontalFlip::new(0.5);
    /// ```
    pub fn new(p: f32) -> Self {
        RandomHorizontalFlip { p }
    }
}

impl Transform for RandomHorizontalFlip {
    fn apply(&self, mut s: Sample, rng: &mut SampleRng) -> Result<Sample> {
        let (_, _, w) = chw("RandomHorizontalFlip", &s)?;
        if rng.next_f32() < self.p {
            s.features
                .chunks_mut(w.max(1))
                .for_each(|row| row.reverse());
        }
        Ok(s)
    }
}

/// Crops the central `size` window (offsets rounded like torchvision).
///
/// ```
/// use ingot::data::{CenterCrop, Sample, SampleRng, Target, Transform};
/// let s = Sample::new((0..9).map(|v| v as f32).collect(), vec![1, 3, 3], Target::Class(0));
/// assert_eq!(CenterCrop::new((1, 1)).apply(s, &mut SampleRng::new(0, 0, 0))?.features, vec![4.0]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct CenterCrop {
    size: (usize, usize),
}

impl CenterCrop {
    /// The central `(h, w)` window.
    ///
    /// ```
    /// let _ = ingot::data::CenterCrop::new((224, 224));
    /// ```
    pub fn new(size: (usize, usize)) -> Self {
        CenterCrop { size }
    }
}

impl Transform for CenterCrop {
    fn apply(&self, s: Sample, _rng: &mut SampleRng) -> Result<Sample> {
        let (c, h, w) = chw("CenterCrop", &s)?;
        let (th, tw) = self.size;
        if th > h || tw > w {
            return Err(Error::Shape {
                op: "CenterCrop",
                msg: format!("crop {:?} is larger than the image ({h}, {w})", self.size),
            });
        }
        let top = ((h - th) as f64 / 2.0).round() as usize;
        let left = ((w - tw) as f64 / 2.0).round() as usize;
        Ok(crop(s, (c, h, w), top, left, self.size))
    }
}

/// Bilinear resize to `(h, w)` (half-pixel centers, as
/// `interpolate(mode="bilinear", align_corners=False)`).
///
/// ```
/// use ingot::data::{Resize, Sample, SampleRng, Target, Transform};
/// let s = Sample::new(vec![0.0, 1.0], vec![1, 1, 2], Target::Class(0));
/// let r = Resize::new((1, 4)).apply(s, &mut SampleRng::new(0, 0, 0))?;
/// assert_eq!(r.features, vec![0.0, 0.25, 0.75, 1.0]);
/// # Ok::<(), ingot::Error>(())
/// ```
pub struct Resize {
    size: (usize, usize),
}

impl Resize {
    /// Resize to `(h, w)`.
    ///
    /// ```
    /// let _ = ingot::data::Resize::new((32, 32));
    /// ```
    pub fn new(size: (usize, usize)) -> Self {
        Resize { size }
    }
}

/// Source index pairs and weights for resizing `from` to `to` samples.
fn taps(from: usize, to: usize) -> Vec<(usize, usize, f32)> {
    let scale = from as f64 / to as f64;
    (0..to)
        .map(|i| {
            let x = ((i as f64 + 0.5) * scale - 0.5).max(0.0);
            let lo = (x.floor() as usize).min(from - 1);
            let hi = (lo + 1).min(from - 1);
            (lo, hi, (x - lo as f64) as f32)
        })
        .collect()
}

impl Transform for Resize {
    fn apply(&self, s: Sample, _rng: &mut SampleRng) -> Result<Sample> {
        let (c, h, w) = chw("Resize", &s)?;
        let (th, tw) = self.size;
        if h == 0 || w == 0 || th == 0 || tw == 0 {
            return Err(Error::Shape {
                op: "Resize",
                msg: format!("cannot resize ({h}, {w}) to {:?}", self.size),
            });
        }
        let (ys, xs) = (taps(h, th), taps(w, tw));
        let mut out = vec![0f32; c * th * tw];
        for ch in 0..c {
            let plane = &s.features[ch * h * w..(ch + 1) * h * w];
            for (y, &(y0, y1, fy)) in ys.iter().enumerate() {
                for (x, &(x0, x1, fx)) in xs.iter().enumerate() {
                    let top = plane[y0 * w + x0] * (1.0 - fx) + plane[y0 * w + x1] * fx;
                    let bottom = plane[y1 * w + x0] * (1.0 - fx) + plane[y1 * w + x1] * fx;
                    out[(ch * th + y) * tw + x] = top * (1.0 - fy) + bottom * fy;
                }
            }
        }
        Ok(Sample {
            features: out,
            shape: vec![c, th, tw],
            target: s.target,
        })
    }
}
