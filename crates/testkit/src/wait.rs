//! Polling with a deadline, for state that the cluster's controllers reach
//! asynchronously.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use crate::Error;

/// How often [`wait_for`] looks again.
const POLL: Duration = Duration::from_millis(200);

/// Calls `check` until it returns `Ok(value)`, and returns that value.
///
/// `check` returns `Err(state)` for "not yet", with what it saw; the last
/// such state is in the timeout error, so a failing test explains itself.
pub async fn wait_for<T, S, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T, Error>
where
    S: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, S>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let state = match check().await {
            Ok(value) => return Ok(value),
            Err(state) => state,
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Timeout { what: what.to_string(), timeout, last: format!("{state:?}") });
        }
        tokio::time::sleep(POLL).await;
    }
}
