//! Per-node clocks: simulated global time plus that node's offset and drift.

use crate::Time;

/// One node's view of time. `local(t) = t + offset + t·drift_ppm/10⁶`,
/// never below zero. Offsets and drift change only through faults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    offset_us: i64,
    drift_ppm: i64,
}

impl Clock {
    /// A clock `offset_us` ahead of global time (negative: behind) that gains
    /// `drift_ppm` microseconds per second.
    pub fn new(offset_us: i64, drift_ppm: i64) -> Clock {
        Clock {
            offset_us,
            drift_ppm,
        }
    }

    /// The local reading at global time `t`.
    #[inline]
    pub fn local(&self, t: Time) -> Time {
        if self.offset_us == 0 && self.drift_ppm == 0 {
            return t;
        }
        let drift = i128::from(t) * i128::from(self.drift_ppm) / 1_000_000;
        let v = i128::from(t) + i128::from(self.offset_us) + drift;
        v.clamp(0, i128::from(u64::MAX)) as u64
    }

    /// Global time that passes while this clock advances by `d` (for timers).
    #[inline]
    pub fn global_span(&self, d: Time) -> Time {
        if self.drift_ppm == 0 {
            return d;
        }
        let rate = 1_000_000 + i128::from(self.drift_ppm);
        if rate <= 0 {
            return d;
        }
        let g = (i128::from(d) * 1_000_000 + rate - 1) / rate;
        g.clamp(0, i128::from(u64::MAX)) as u64
    }

    /// Steps the clock by `delta_us` at once (it may go backwards).
    pub fn jump(&mut self, delta_us: i64) {
        self.offset_us = self.offset_us.saturating_add(delta_us);
    }

    /// Sets the offset so that the local reading at `t` is `t + offset_us`.
    pub fn set_skew(&mut self, t: Time, offset_us: i64) {
        let drift = i128::from(t) * i128::from(self.drift_ppm) / 1_000_000;
        self.offset_us = (i128::from(offset_us) - drift) as i64;
    }

    /// Changes the drift from global time `t` on without a jump in the reading.
    pub fn set_drift(&mut self, t: Time, drift_ppm: i64) {
        let before = i128::from(self.local(t));
        self.drift_ppm = drift_ppm;
        let drift = i128::from(t) * i128::from(drift_ppm) / 1_000_000;
        self.offset_us = (before - i128::from(t) - drift) as i64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_and_drift() {
        let c = Clock::new(5_000_000, 0);
        assert_eq!(c.local(1_000), 5_001_000);
        let d = Clock::new(0, 1_000); // +1 ms per second
        assert_eq!(d.local(10_000_000), 10_010_000);
        assert_eq!(Clock::new(-10, 0).local(3), 0, "never below zero");
    }

    #[test]
    fn drift_change_is_continuous() {
        let mut c = Clock::new(100, 500);
        let t = 7_000_000;
        let before = c.local(t);
        c.set_drift(t, -2_000);
        assert_eq!(c.local(t), before);
        assert!(c.local(t + 1_000_000) < before + 1_000_000);
    }

    #[test]
    fn timers_follow_drift() {
        let fast = Clock::new(0, 1_000_000); // runs at double speed
        assert_eq!(fast.global_span(1_000), 500);
        assert_eq!(Clock::default().global_span(1_000), 1_000);
    }

    #[test]
    fn jump_can_go_backwards() {
        let mut c = Clock::default();
        c.jump(-1_000);
        assert_eq!(c.local(5_000), 4_000);
        c.set_skew(5_000, 0);
        assert_eq!(c.local(5_000), 5_000);
    }
}
