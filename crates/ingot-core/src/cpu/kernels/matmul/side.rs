//! Which side of a product the threads split: chosen per shape by timing
//! both.
//!
//! A product split over threads gives each thread a block of output rows
//! or a block of columns. Which runs faster depends on the machine as much
//! as on the shape. On a 16-core host (`gemm` 0.19, 16 threads),
//! `[1024, 1024] @ [1024, 1024]` ran faster split by columns (1.55-1.85
//! ms against 1.62-2.11 by rows), while `[128, 784] @ [784, 256]`, which
//! the size rule (split the larger side) splits by columns, ran 63-73 us
//! by rows against 86-111 us; on the 2-core development VM both sides ran
//! alike. So where both sides give the same result bit for bit, a shape's
//! first products try both, alternating, and the shape keeps the other
//! side only if it ran clearly faster; the same shapes recur in every step
//! of a training loop, so the trials cost little.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// The side of the output a product is split along.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Side {
    Rows,
    Cols,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Rows => Side::Cols,
            Side::Cols => Side::Rows,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Timed products per side before a shape's side is chosen.
const TRIALS: usize = 5;
/// The other side is chosen only if its median time is below this share
/// of the default side's: the times of a shared machine come and go by
/// more than a few percent, and a side once chosen is kept, so a close
/// call leaves the size rule standing.
const MARGIN: f64 = 0.92;
/// Shapes remembered; past these, new shapes keep the default side.
const MAX_SHAPES: usize = 4096;

/// A product's shape and thread count: `(m, k, n, threads)`.
pub(super) type Shape = (usize, usize, usize, usize);

/// What is known of one shape.
#[derive(Debug)]
enum State {
    /// The size rule's side, the trials handed out so far, and each
    /// side's times.
    Trying {
        default: Side,
        handed: usize,
        times: [Vec<f64>; 2],
    },
    Chosen(Side),
}

/// The side each shape is split along (see the module doc).
pub(super) struct Sides {
    shapes: Mutex<BTreeMap<Shape, State>>,
}

impl Sides {
    pub(super) const fn new() -> Self {
        Self {
            shapes: Mutex::new(BTreeMap::new()),
        }
    }

    /// The side to split a product of `shape` along, given the size rule's
    /// `default`, and whether to time the product and pass the time to
    /// [`Sides::record`]. A shape's first product warms up untimed on the
    /// default side; the next `2 * TRIALS` alternate the sides.
    pub(super) fn pick(&self, shape: Shape, default: Side) -> (Side, bool) {
        let mut shapes = self.shapes.lock().unwrap_or_else(|e| e.into_inner());
        if !shapes.contains_key(&shape) && shapes.len() >= MAX_SHAPES {
            return (default, false);
        }
        let state = shapes.entry(shape).or_insert(State::Trying {
            default,
            handed: 0,
            times: [Vec::new(), Vec::new()],
        });
        match state {
            State::Chosen(side) => (*side, false),
            State::Trying { handed, .. } if *handed > 2 * TRIALS => (default, false),
            State::Trying { handed, .. } => {
                let n = *handed;
                *handed += 1;
                match n {
                    0 => (default, false),
                    n if n % 2 == 1 => (default, true),
                    _ => (default.other(), true),
                }
            }
        }
    }

    /// Records that a product of `shape` split along `side` took `secs`;
    /// once every trial is timed, chooses the shape's side by the sides'
    /// median times.
    pub(super) fn record(&self, shape: Shape, (side, secs): (Side, f64)) {
        let mut shapes = self.shapes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(State::Trying { default, times, .. }) = shapes.get_mut(&shape) {
            let default = *default;
            times[side.index()].push(secs);
            if times.iter().all(|t| t.len() >= TRIALS) {
                let medians = times.each_mut().map(|t| median(t));
                let other = default.other();
                let faster = medians[other.index()] < MARGIN * medians[default.index()];
                let side = if faster { other } else { default };
                shapes.insert(shape, State::Chosen(side));
            }
        }
    }
}

/// The median of `times` (the upper one of an even count), reordering
/// them.
fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a shape's trials with `times(side)` as each product's time and
    /// returns the side it settles on, checking the trials' order.
    fn settle(sides: &Sides, shape: Shape, default: Side, times: impl Fn(Side) -> f64) -> Side {
        assert_eq!(sides.pick(shape, default), (default, false), "warm-up");
        for trial in 0..2 * TRIALS {
            let (side, timed) = sides.pick(shape, default);
            let want = if trial % 2 == 0 {
                default
            } else {
                default.other()
            };
            assert_eq!((side, timed), (want, true), "trial {trial}");
            sides.record(shape, (side, times(side)));
        }
        let (side, timed) = sides.pick(shape, default);
        assert!(!timed);
        assert_eq!(sides.pick(shape, default), (side, false), "kept");
        side
    }

    #[test]
    fn each_shape_keeps_the_side_that_ran_faster() {
        let sides = Sides::new();
        let cols_fast = |s| if s == Side::Cols { 1.0 } else { 2.0 };
        assert_eq!(
            settle(&sides, (1, 2, 3, 4), Side::Rows, cols_fast),
            Side::Cols
        );
        assert_eq!(
            settle(&sides, (5, 6, 7, 8), Side::Cols, cols_fast),
            Side::Cols
        );
        let rows_fast = |s| if s == Side::Rows { 1.0 } else { 2.0 };
        assert_eq!(
            settle(&sides, (9, 2, 3, 4), Side::Cols, rows_fast),
            Side::Rows
        );
        // Within the margin, the default stands.
        let close = |s| if s == Side::Cols { 0.93 } else { 1.0 };
        assert_eq!(settle(&sides, (1, 1, 1, 2), Side::Rows, close), Side::Rows);
        // Shapes are told apart by every dimension and the thread count.
        assert_eq!(sides.pick((1, 2, 3, 5), Side::Rows), (Side::Rows, false));
        assert_eq!(sides.pick((1, 2, 3, 4), Side::Rows), (Side::Cols, false));
    }

    #[test]
    fn outliers_do_not_decide() {
        let sides = Sides::new();
        let shape = (3, 3, 3, 2);
        sides.pick(shape, Side::Rows);
        // Trials alternate rows and columns: two slow products on the
        // default side and two fast ones on the other do not move the
        // medians (rows 1.0, columns 1.1).
        let times = [5.0, 0.1, 1.0, 1.1, 9.0, 0.2, 1.0, 1.1, 1.0, 1.1];
        for t in times {
            let (side, _) = sides.pick(shape, Side::Rows);
            sides.record(shape, (side, t));
        }
        assert_eq!(sides.pick(shape, Side::Rows), (Side::Rows, false));
    }
}
