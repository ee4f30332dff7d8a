//! Following progress with a watch: polling a list of a thousand objects
//! would load the API server that is being measured.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kube::Api;
use kube::runtime::watcher;

/// Watches `api` until each of `goals` holds for `n` objects at once, and
/// returns when each was first reached, in order. Goals are cumulative (the
/// second implies the first), so each is waited for after the one before.
/// Each second in which the counts moved, prints how many objects have
/// reached each goal (the curve, not only its end: where a peer starts late,
/// or slows down), with `what` they are.
pub async fn watch_until<K>(
    api: &Api<K>,
    what: &str,
    n: usize,
    goals: &[&(dyn Fn(&K) -> bool + Sync)],
    timeout: Duration,
) -> Result<Vec<Instant>, String>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    let mut reached = Vec::new();
    let mut level: HashMap<String, usize> = HashMap::new();
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    let deadline = tokio::time::Instant::now() + timeout;
    let started = Instant::now();
    let mut shown = (0, Vec::new());
    while reached.len() < goals.len() {
        let event = tokio::time::timeout_at(deadline, events.try_next())
            .await
            .map_err(|_| format!("timed out: {} of {} goals reached", reached.len(), goals.len()))?
            .map_err(|e| e.to_string())?
            .ok_or("the watch ended")?;
        match event {
            watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                level.insert(o.meta().name.clone().unwrap_or_default(), goals.iter().take_while(|g| g(&o)).count());
            }
            watcher::Event::Delete(o) => {
                level.remove(&o.meta().name.clone().unwrap_or_default());
            }
            watcher::Event::Init | watcher::Event::InitDone => {}
        }
        let second = started.elapsed().as_secs();
        if second > shown.0 {
            let counts: Vec<usize> = (1..=goals.len()).map(|g| level.values().filter(|l| **l >= g).count()).collect();
            if counts != shown.1 {
                let each: Vec<String> = counts.iter().map(|c| format!("{c:>6}")).collect();
                eprintln!("    {second:>4} s {} (of {n} {what}, by goal)", each.join(""));
            }
            shown = (second, counts);
        }
        while reached.len() < goals.len() && level.values().filter(|l| **l > reached.len()).count() >= n {
            reached.push(Instant::now());
        }
    }
    Ok(reached)
}
