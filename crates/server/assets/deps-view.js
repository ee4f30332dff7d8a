// What the app page shows of an app's dependency graph (pure, tested by
// tests/browser/unit.test.mjs): the answer of /api/v1/applications/{name}/dependencies.

/** An app of the graph as shown: `namespace/name`, or the placeholder of one the caller may not see. */
export function depKey(k) {
  return k.hidden ? k.name : `${k.namespace}/${k.name}`;
}

/** What the app waits for, one line: its dependency error, the unready dependencies and why, or ''. */
export function waitingText(graph) {
  const a = graph?.assessment || {};
  if (a.error) return a.error;
  return (a.dependencies || [])
    .filter((d) => !d.ready)
    .map((d) => `${d.app ? depKey(d.app) : d.pattern}: ${d.reason}`)
    .join('; ');
}

/**
 * One row per app of the graph: {key, hidden, relation ('this app', 'depends on', 'depended on by', 'further'),
 * sync, health, ready, waited (this app waits for it), inCycle, note}.
 */
export function dependencyRows(graph, me) {
  const edges = graph?.edges || [];
  const direct = new Set(edges.filter((e) => depKey(e.from) === me).map((e) => depKey(e.to)));
  const dependents = new Set(edges.filter((e) => depKey(e.to) === me).map((e) => depKey(e.from)));
  const waited = new Set((graph?.assessment?.dependencies || []).filter((d) => !d.ready && d.app).map((d) => depKey(d.app)));
  return (graph?.nodes || []).map((n) => {
    const key = depKey(n.app);
    const relation = key === me ? 'this app' : direct.has(key) ? 'depends on' : dependents.has(key) ? 'depended on by' : 'further';
    return {
      key,
      hidden: !!n.app.hidden,
      relation,
      sync: n.sync || '',
      health: n.health || '',
      ready: !!n.ready,
      waited: waited.has(key),
      inCycle: !!n.inCycle,
      note: n.waiting || '',
    };
  });
}

/** Whether the panel is worth showing: the app is in a graph of more than itself, or its annotations are wrong. */
export function hasDependencies(graph) {
  return (graph?.nodes || []).length > 1 || !!graph?.assessment?.error;
}
