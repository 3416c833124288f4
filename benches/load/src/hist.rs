//! A latency histogram in microseconds: exact below 1,024 µs, then 64 buckets per power of
//! two (under 1.6% error), so that generator processes can add theirs together.

const LINEAR: u64 = 1024;
const SUB: u64 = 64;
const BUCKETS: usize = (LINEAR + SUB * 54) as usize;

pub struct Histogram {
    counts: Vec<u64>,
    pub max: u64,
    pub total: u64,
}

fn bucket(us: u64) -> usize {
    if us < LINEAR {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros() as u64; // >= 10
    let mantissa = (us >> (exp - 6)) & (SUB - 1);
    (LINEAR + (exp - 10) * SUB + mantissa) as usize
}

/// The smallest value that falls in bucket `b`, plus half its width.
fn value(b: usize) -> u64 {
    let b = b as u64;
    if b < LINEAR {
        return b;
    }
    let exp = (b - LINEAR) / SUB + 10;
    let mantissa = (b - LINEAR) % SUB;
    let low = (1 << exp) + (mantissa << (exp - 6));
    low + (1 << (exp - 6)) / 2
}

impl Histogram {
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            max: 0,
            total: 0,
        }
    }

    pub fn record(&mut self, us: u64) {
        self.counts[bucket(us).min(BUCKETS - 1)] += 1;
        self.max = self.max.max(us);
        self.total += 1;
    }

    /// The value at quantile `q` (0..=1), in microseconds.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return value(b).min(self.max);
            }
        }
        self.max
    }

    /// `max total b:c b:c ...` on one line.
    pub fn encode(&self) -> String {
        let mut line = format!("{} {}", self.max, self.total);
        for (b, &c) in self.counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            line.push_str(&format!(" {b}:{c}"));
        }
        line
    }

    pub fn add_encoded(&mut self, line: &str) -> Option<()> {
        let mut words = line.split_whitespace();
        self.max = self.max.max(words.next()?.parse().ok()?);
        self.total += words.next()?.parse::<u64>().ok()?;
        for word in words {
            let (b, c) = word.split_once(':')?;
            let b: usize = b.parse().ok()?;
            *self.counts.get_mut(b)? += c.parse::<u64>().ok()?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip_within_two_percent() {
        for us in [0, 1, 999, 1023, 1024, 1500, 65_000, 1_000_000, 30_000_000] {
            let v = value(bucket(us));
            assert!(
                (v as f64 - us as f64).abs() <= us as f64 * 0.02 + 1.0,
                "{us} -> {v}"
            );
        }
        let mut h = Histogram::new();
        (1..=100).for_each(|v| h.record(v));
        assert_eq!(h.quantile(0.5), 50);
        assert_eq!(h.quantile(0.99), 99);
        let mut sum = Histogram::new();
        sum.add_encoded(&h.encode()).unwrap();
        assert_eq!((sum.total, sum.max, sum.quantile(0.5)), (100, 100, 50));
    }
}
