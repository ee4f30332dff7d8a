//! Login throttling: after a few failed logins for a username, further
//! attempts for it are refused for a delay that doubles with every failure.
//! Unknown usernames are counted the same way, so the answers never tell
//! whether an account exists. Pure over an explicit clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Failures allowed before the first delay.
pub const FREE_FAILURES: u32 = 5;
/// The first delay; each further failure doubles it.
const FIRST_DELAY: Duration = Duration::from_secs(10);
/// The longest delay.
const MAX_DELAY: Duration = Duration::from_secs(300);
/// Failures older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(900);
/// Usernames remembered at most; beyond it the stalest are dropped, so a
/// flood of made-up names cannot grow memory without bound.
const MAX_ENTRIES: usize = 10_000;

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

/// Failed logins per username.
#[derive(Debug, Default)]
pub struct Throttle {
    users: HashMap<String, Failures>,
}

impl Throttle {
    /// `Err(wait)` while `user` must wait before trying again.
    pub fn check(&mut self, user: &str, now: Instant) -> Result<(), Duration> {
        match self.users.get(user) {
            Some(f) if now.duration_since(f.last) >= FORGET_AFTER => {
                self.users.remove(user);
                Ok(())
            }
            Some(Failures { blocked_until: Some(until), .. }) if *until > now => Err(*until - now),
            _ => Ok(()),
        }
    }

    /// Records a failed login.
    pub fn fail(&mut self, user: &str, now: Instant) {
        if self.users.len() >= MAX_ENTRIES && !self.users.contains_key(user) {
            self.users.retain(|_, f| now.duration_since(f.last) < FORGET_AFTER);
            if self.users.len() >= MAX_ENTRIES
                && let Some(stalest) = self.users.iter().min_by_key(|(_, f)| f.last).map(|(k, _)| k.clone())
            {
                self.users.remove(&stalest);
            }
        }
        let f = self.users.entry(user.to_string()).or_insert(Failures { count: 0, last: now, blocked_until: None });
        f.count += 1;
        f.last = now;
        if f.count >= FREE_FAILURES {
            let doublings = (f.count - FREE_FAILURES).min(16);
            f.blocked_until = Some(now + FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY));
        }
    }

    /// Forgets the failures after a successful login.
    pub fn succeed(&mut self, user: &str) {
        self.users.remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_after_the_free_failures_and_double() {
        let mut t = Throttle::default();
        let start = Instant::now();
        for _ in 0..FREE_FAILURES - 1 {
            t.fail("bob", start);
            assert_eq!(t.check("bob", start), Ok(()));
        }
        t.fail("bob", start);
        assert_eq!(t.check("bob", start), Err(FIRST_DELAY));
        assert_eq!(t.check("alice", start), Ok(()), "per username");
        let later = start + FIRST_DELAY;
        assert_eq!(t.check("bob", later), Ok(()));
        t.fail("bob", later);
        assert_eq!(t.check("bob", later), Err(FIRST_DELAY * 2));
        t.succeed("bob");
        assert_eq!(t.check("bob", later), Ok(()));
    }

    #[test]
    fn delays_are_capped_and_failures_forgotten() {
        let mut t = Throttle::default();
        let now = Instant::now();
        for _ in 0..40 {
            t.fail("eve", now);
        }
        assert_eq!(t.check("eve", now), Err(MAX_DELAY));
        assert_eq!(t.check("eve", now + FORGET_AFTER), Ok(()));
    }
}
