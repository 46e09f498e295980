//! Gradient-tracking and eager-evaluation switches.

use std::cell::Cell;
use std::sync::atomic::{AtomicU8, Ordering};

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Runs `f` with gradient tracking off on this thread (like `torch.no_grad()`),
/// restoring the previous setting afterwards, even if `f` panics.
///
/// ```
/// use ingot::{DType, Device, Tensor};
/// let w = Tensor::ones(&[2], DType::F32, &Device::cpu())?.requires_grad_(true);
/// let y = ingot::no_grad(|| w.mul_scalar(2.0))?;
/// assert!(!y.requires_grad());
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            GRAD_ENABLED.with(|g| g.set(self.0));
        }
    }
    let _restore = Restore(GRAD_ENABLED.with(|g| g.replace(false)));
    f()
}

/// Whether ops record autograd edges on this thread.
///
/// ```
/// assert!(ingot::is_grad_enabled());
/// assert!(!ingot::no_grad(ingot::is_grad_enabled));
/// ```
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

const EAGER_UNSET: u8 = 2;
static EAGER: AtomicU8 = AtomicU8::new(EAGER_UNSET);

/// Evaluates every op as soon as it is built (for debugging: errors and
/// timings then point at single ops). Off by default; the environment variable
/// `INGOT_EAGER=1` turns it on at start-up.
///
/// ```
/// use ingot::{DType, Device, Tensor};
/// ingot::set_eager(true);
/// let y = Tensor::ones(&[2], DType::F32, &Device::cpu())?.exp()?;
/// assert!(y.is_evaluated());
/// ingot::set_eager(false);
/// # Ok::<(), ingot::Error>(())
/// ```
pub fn set_eager(eager: bool) {
    EAGER.store(eager as u8, Ordering::Relaxed);
}

/// Whether eager mode is on.
///
/// ```
/// ingot::set_eager(false);
/// assert!(!ingot::is_eager());
/// ```
pub fn is_eager() -> bool {
    match EAGER.load(Ordering::Relaxed) {
        EAGER_UNSET => {
            let on = std::env::var("INGOT_EAGER")
                .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
            // Another thread may have called set_eager meanwhile; keep its value.
            let _ =
                EAGER.compare_exchange(EAGER_UNSET, on as u8, Ordering::Relaxed, Ordering::Relaxed);
            EAGER.load(Ordering::Relaxed) == 1
        }
        v => v == 1,
    }
}
