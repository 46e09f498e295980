//! Seeded randomness for shuffling and transforms: a Philox4x32-10 stream
//! per `(seed, epoch, sample)`, so results do not depend on which worker
//! prepared a batch.

use ingot_core::rng::philox4x32_10;

/// A counter-based random stream.
///
/// ```
/// use ingot::data::SampleRng;
/// let a = SampleRng::new(1, 0, 5).permutation(10);
/// let b = SampleRng::new(1, 0, 5).permutation(10);
/// assert_eq!(a, b);
/// assert_ne!(a, SampleRng::new(1, 1, 5).permutation(10));
/// ```
pub struct SampleRng {
    key: [u32; 2],
    counter: [u32; 4],
    block: [u32; 4],
    used: usize,
}

impl SampleRng {
    /// The stream of sample `index` in epoch `epoch` under `seed`.
    ///
    /// ```
    /// let mut r = ingot::data::SampleRng::new(0, 0, 0);
    /// assert!(r.next_f32() < 1.0);
    /// ```
    pub fn new(seed: u64, epoch: u64, index: u64) -> SampleRng {
        SampleRng {
            key: [seed as u32, (seed >> 32) as u32],
            counter: [0, index as u32, (index >> 32) as u32, epoch as u32],
            block: [0; 4],
            used: 4,
        }
    }

    /// The next 32 random bits.
    ///
    /// ```
    /// let mut r = ingot::data::SampleRng::new(3, 0, 0);
    /// assert_ne!(r.next_u32(), r.next_u32());
    /// ```
    pub fn next_u32(&mut self) -> u32 {
        if self.used == 4 {
            self.block = philox4x32_10(self.counter, self.key);
            self.counter[0] = self.counter[0].wrapping_add(1);
            self.used = 0;
        }
        self.used += 1;
        self.block[self.used - 1]
    }

    /// Uniform in `[0, 1)`.
    ///
    /// ```
    /// let x = ingot::data::SampleRng::new(3, 0, 0).next_f32();
    /// assert!((0.0..1.0).contains(&x));
    /// ```
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    /// Uniform in `0..n` (`n > 0`), without modulo bias.
    ///
    /// ```
    /// let mut r = ingot::data::SampleRng::new(3, 0, 0);
    /// assert!((0..7).all(|_| r.below(3) < 3));
    /// ```
    pub fn below(&mut self, n: usize) -> usize {
        let n = n.max(1) as u64;
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = ((self.next_u32() as u64) << 32) | self.next_u32() as u64;
            if x < zone {
                return (x % n) as usize;
            }
        }
    }

    /// A uniformly random permutation of `0..n` (Fisher-Yates).
    ///
    /// ```
    /// let mut p = ingot::data::SampleRng::new(9, 0, 0).permutation(5);
    /// p.sort();
    /// assert_eq!(p, vec![0, 1, 2, 3, 4]);
    /// ```
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
        v
    }
}
