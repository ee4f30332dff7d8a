// What the ApplicationSet pages show of a set, as pure functions (no DOM;
// tested under node by tests/browser/unit.test.mjs): generator kinds, the
// project, the conditions that hold, the Applications each set owns and a
// RollingSync's steps.

const KINDS = ['list', 'clusters', 'git', 'scmProvider', 'clusterDecisionResource', 'pullRequest', 'plugin', 'matrix', 'merge'];

function kindsOf(generator) {
  if (!generator || typeof generator !== 'object') return '';
  return KINDS.filter((k) => generator[k])
    .map((k) => {
      const children = generator[k].generators;
      return (k === 'matrix' || k === 'merge') && Array.isArray(children) ? `${k}(${children.map(kindsOf).filter(Boolean).join(', ')})` : k;
    })
    .join('+');
}

/** The kinds of a set's generators, one string each: 'git', 'matrix(git, clusters)'. */
export function generatorKinds(set) {
  return (set?.spec?.generators || []).map(kindsOf).filter(Boolean);
}

/** The project of the Applications the set makes (maybe templated). */
export function projectOf(set) {
  return set?.spec?.template?.spec?.project || 'default';
}

/** The conditions that hold (status True), errors first. */
export function heldConditions(set) {
  return (set?.status?.conditions || [])
    .filter((c) => c.status === 'True')
    .map((c) => ({ type: String(c.type || ''), message: String(c.message || ''), error: /Error/.test(c.type || '') }))
    .sort((a, b) => Number(b.error) - Number(a.error));
}

/** How many Applications each set owns, by the set's uid (from the apps' ownerReferences). */
export function countByOwner(apps) {
  const counts = new Map();
  for (const app of apps || []) {
    for (const o of app?.metadata?.ownerReferences || []) {
      if (o.kind === 'ApplicationSet' && o.uid) counts.set(o.uid, (counts.get(o.uid) || 0) + 1);
    }
  }
  return counts;
}

/** A RollingSync's progress: status.applicationStatus grouped by step, steps in order. */
export function rolloutSteps(set) {
  const steps = new Map();
  for (const s of set?.status?.applicationStatus || []) {
    const step = String(s.step ?? '');
    if (!steps.has(step)) steps.set(step, []);
    steps.get(step).push(s);
  }
  const order = (a, b) => (Number(a) || 0) - (Number(b) || 0) || a.localeCompare(b);
  return [...steps.keys()].sort(order).map((step) => ({ step, apps: steps.get(step).sort((a, b) => String(a.application).localeCompare(String(b.application))) }));
}

/** The strategy in words: 'RollingSync, 3 steps' or 'AllAtOnce'. */
export function strategyText(set) {
  const s = set?.spec?.strategy;
  if (!s?.type) return 'AllAtOnce';
  const n = s.rollingSync?.steps?.length || 0;
  return s.type === 'RollingSync' ? `RollingSync, ${n} step${n === 1 ? '' : 's'}` : String(s.type);
}
