//! Login attempts limited per (user name, client address), so that guessing one account's
//! password is slow while other users at the same station PC are unaffected.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

#[derive(Debug)]
pub struct LoginLimiter {
    limiter: DefaultKeyedRateLimiter<(String, IpAddr)>,
}

impl LoginLimiter {
    pub fn per_minute(attempts: u32) -> Self {
        let burst = NonZeroU32::new(attempts.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(burst)),
        }
    }

    /// `Err(wait)` when this user and address have used up their attempts.
    pub fn check(&self, username: &str, addr: IpAddr) -> Result<(), Duration> {
        let key = (username.to_lowercase(), addr);
        self.limiter.check_key(&key).map_err(|not_until| {
            not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ))
        })?;
        if self.limiter.len() > 100_000 {
            self.limiter.retain_recent();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_user_and_address() {
        let limiter = LoginLimiter::per_minute(3);
        let a: IpAddr = "10.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let b: IpAddr = "10.0.0.2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        for _ in 0..3 {
            assert!(limiter.check("kim", a).is_ok());
        }
        assert!(limiter.check("kim", a).is_err());
        assert!(
            limiter.check("KIM", a).is_err(),
            "user names are case-insensitive here"
        );
        assert!(limiter.check("kim", b).is_ok());
        assert!(limiter.check("lee", a).is_ok());
    }
}
