//! A token-bucket rate limit shared by every transfer in one direction.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Limits bytes per second; 0 means no limit. Changeable while in use.
#[derive(Debug)]
pub struct Limiter {
    rate: AtomicU64,
    state: Mutex<(Instant, f64)>,
}

impl Limiter {
    /// A limiter at `rate` bytes per second (0: unlimited).
    pub fn new(rate: u64) -> Limiter {
        Limiter {
            rate: AtomicU64::new(rate),
            state: Mutex::new((Instant::now(), 0.0)),
        }
    }

    /// The current rate.
    pub fn rate(&self) -> u64 {
        self.rate.load(Ordering::Relaxed)
    }

    /// Changes the rate.
    pub fn set_rate(&self, rate: u64) {
        self.rate.store(rate, Ordering::Relaxed);
    }

    /// How long to wait before `n` more bytes may go (the bucket goes into debt for them).
    fn charge(&self, n: u64) -> Duration {
        let rate = self.rate();
        if rate == 0 {
            return Duration::ZERO;
        }
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let elapsed = now.duration_since(s.0).as_secs_f64();
        // Refill, with at most a quarter second of burst.
        s.1 = (s.1 + elapsed * rate as f64).min(rate as f64 / 4.0);
        s.0 = now;
        s.1 -= n as f64;
        if s.1 >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-s.1 / rate as f64)
        }
    }

    /// Waits until `n` bytes may pass.
    pub async fn take(&self, n: u64) {
        let wait = self.charge(n);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Parses a rate like `500K`, `2M`, `1.5M` or `1000000` (bytes per second; K = 1000).
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1e3),
        Some('m' | 'M') => (&s[..s.len() - 1], 1e6),
        Some('g' | 'G') => (&s[..s.len() - 1], 1e9),
        _ => (s, 1.0),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a rate (try 500K or 2M bytes per second)"))?;
    if !(0.0..=1e12).contains(&v) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok((v * mult) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_suffixes_and_bad_ones_are_refused() {
        assert_eq!(parse_rate("500K"), Ok(500_000));
        assert_eq!(parse_rate("2M"), Ok(2_000_000));
        assert_eq!(parse_rate("1.5m"), Ok(1_500_000));
        assert_eq!(parse_rate("0"), Ok(0));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("-1M").is_err());
    }

    #[tokio::test]
    async fn a_limiter_holds_the_average_rate() {
        let l = Limiter::new(4_000_000);
        let start = Instant::now();
        for _ in 0..8 {
            l.take(1_000_000).await;
        }
        // 8 MB at 4 MB/s, less the quarter-second burst it starts without: about 2 s.
        let t = start.elapsed().as_secs_f64();
        assert!((1.6..3.0).contains(&t), "took {t}s");
        let free = Limiter::new(0);
        let start = Instant::now();
        free.take(u64::MAX).await;
        assert!(start.elapsed() < Duration::from_millis(50));
    }
}
