// What the app page shows of an app's Kubernetes Events (pure, tested by
// tests/browser/unit.test.mjs): one row per Event, newest first.

/** When an Event was last seen: core/v1's lastTimestamp, else what events.k8s.io/v1 writes. */
export function lastSeen(e) {
  return e.lastTimestamp || e.series?.lastObservedTime || e.eventTime || e.firstTimestamp || e.metadata?.creationTimestamp || '';
}

/** The rows of an EventList: {warning, reason, message, count, last}, the most recently seen first. */
export function eventRows(list) {
  return (list?.items || [])
    .map((e) => ({
      warning: e.type === 'Warning',
      reason: e.reason || '',
      message: e.message || e.note || '',
      count: e.count || e.series?.count || 1,
      last: lastSeen(e),
    }))
    .sort((a, b) => (a.last < b.last ? 1 : a.last > b.last ? -1 : 0));
}
