//! Time, given by the caller: sockless has no clock of its own.
//!
//! An [`Instant`] is a point on the caller's monotonic clock, measured from any epoch the
//! caller likes (boot, process start, the first connection). Durations are
//! [`core::time::Duration`].

pub use core::time::Duration;

/// A point in time on the caller's monotonic clock, as the time elapsed since an epoch of
/// the caller's choosing. All instants given to one connection must share that epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(Duration);

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant(Duration::ZERO);

    /// The instant `elapsed` after the epoch.
    pub const fn from_elapsed(elapsed: Duration) -> Self {
        Instant(elapsed)
    }

    /// The instant `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: u64) -> Self {
        let (secs, millis) = split_millis(millis);
        Instant(Duration::new(secs, millis * 1_000_000))
    }

    /// The time elapsed since the epoch.
    pub const fn elapsed_since_epoch(self) -> Duration {
        self.0
    }

    /// `self + duration`, saturating at the largest representable instant.
    pub fn saturating_add(self, duration: Duration) -> Self {
        Instant(self.0.saturating_add(duration))
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

/// `millis` as whole seconds and the milliseconds left over (below 1000). On a 64-bit
/// target the division by a constant is a multiplication and a shift; elsewhere it is
/// long division in 16-bit steps (see below).
#[cfg(target_pointer_width = "64")]
const fn split_millis(millis: u64) -> (u64, u32) {
    (millis / 1000, (millis % 1000) as u32)
}

#[cfg(not(target_pointer_width = "64"))]
use split_millis_in_steps as split_millis;

/// `millis` as whole seconds and the milliseconds left over (below 1000), by long division
/// in 16-bit steps. Every step divides a `u32` (a remainder below 1000, shifted up 16 bits,
/// plus 16 more bits of `millis`), so 32-bit targets need no 64-bit division routine, which
/// would cost them about 900 bytes of flash for this one conversion.
#[cfg(any(test, not(target_pointer_width = "64")))]
const fn split_millis_in_steps(millis: u64) -> (u64, u32) {
    let mut secs = 0;
    let mut rest = 0u32;
    let mut shift = u64::BITS;
    while shift > 0 {
        shift -= 16;
        let step = rest << 16 | (millis >> shift) as u32 & 0xffff;
        secs = secs << 16 | (step / 1000) as u64;
        rest = step % 1000;
    }
    (secs, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_order_and_add() {
        let a = Instant::from_millis(5);
        let b = a.saturating_add(Duration::from_millis(10));
        assert!(b > a);
        assert_eq!(b.saturating_duration_since(a), Duration::from_millis(10));
        assert_eq!(a.saturating_duration_since(b), Duration::ZERO);
        let max = Instant::from_elapsed(Duration::MAX);
        assert_eq!(
            Instant::from_millis(u64::MAX).elapsed_since_epoch(),
            Duration::from_millis(u64::MAX)
        );
        assert_eq!(max.saturating_add(Duration::from_secs(1)), max);
    }

    proptest::proptest! {
        #[test]
        fn from_millis_agrees_with_duration(millis in proptest::num::u64::ANY) {
            proptest::prop_assert_eq!(
                Instant::from_millis(millis).elapsed_since_epoch(),
                Duration::from_millis(millis)
            );
        }

        #[test]
        fn long_division_in_16_bit_steps_agrees_with_division(millis in proptest::num::u64::ANY) {
            proptest::prop_assert_eq!(
                split_millis_in_steps(millis),
                (millis / 1000, (millis % 1000) as u32)
            );
        }
    }
}
