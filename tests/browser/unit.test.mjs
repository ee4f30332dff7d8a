// The UI's pure modules under node's test runner (no browser needed): the
// join of the resource tree with status.resources, the tree layout, the
// YAML rendering of manifests, and what the ApplicationSet pages show. Run by crates/driftless/tests/browser.rs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildGraph, layout, resourceKey, NODE_W, NODE_H } from '../../crates/server/assets/tree.js';
import { toYaml } from '../../crates/server/assets/yaml.js';
import { generatorKinds, projectOf, heldConditions, countByOwner, rolloutSteps, strategyText } from '../../crates/server/assets/appset-view.js';
import { eventRows } from '../../crates/server/assets/events-view.js';
import { dependencyRows, hasDependencies, waitingText } from '../../crates/server/assets/deps-view.js';

const app = {
  metadata: { name: 'web', namespace: 'argocd' },
  status: {
    sync: { status: 'OutOfSync' },
    health: { status: 'Progressing' },
    resources: [
      { group: 'apps', version: 'v1', kind: 'Deployment', namespace: 'web', name: 'web', status: 'Synced', health: { status: 'Healthy' } },
      { group: '', version: 'v1', kind: 'ConfigMap', namespace: 'web', name: 'settings', status: 'OutOfSync' },
      { group: '', version: 'v1', kind: 'Service', namespace: 'web', name: 'web', status: 'OutOfSync', health: { status: 'Missing' } },
      { group: '', version: 'v1', kind: 'ConfigMap', namespace: 'web', name: 'old', status: 'OutOfSync', requiresPruning: true },
    ],
  },
};
const tree = {
  nodes: [
    { group: 'apps', version: 'v1', kind: 'Deployment', namespace: 'web', name: 'web', uid: 'd', health: { status: 'Healthy' } },
    { group: 'apps', version: 'v1', kind: 'ReplicaSet', namespace: 'web', name: 'web-1', uid: 'r', parentRefs: [{ group: 'apps', kind: 'Deployment', namespace: 'web', name: 'web', uid: 'd' }] },
    ...['a', 'b'].map((p) => ({ group: '', version: 'v1', kind: 'Pod', namespace: 'web', name: `web-1-${p}`, uid: p, health: { status: 'Healthy' }, parentRefs: [{ group: 'apps', kind: 'ReplicaSet', namespace: 'web', name: 'web-1', uid: 'r' }] })),
    { group: '', version: 'v1', kind: 'ConfigMap', namespace: 'web', name: 'settings', uid: 'c' },
    { group: '', version: 'v1', kind: 'ConfigMap', namespace: 'web', name: 'old', uid: 'o' },
    { group: '', version: 'v1', kind: 'Pod', namespace: 'web', name: 'stray', uid: 's', parentRefs: [{ group: 'apps', kind: 'ReplicaSet', namespace: 'web', name: 'gone', uid: 'x' }] },
  ],
};

test('the graph joins live nodes with their sync status and adds missing resources', () => {
  const g = buildGraph(app, tree);
  const byKey = new Map([...g.nodes.values()].map((n) => [n.root ? 'app' : resourceKey(n), n]));
  assert.equal(byKey.get('apps/Deployment/web/web').sync, 'Synced');
  assert.equal(byKey.get('/ConfigMap/web/settings').sync, 'OutOfSync');
  assert.equal(byKey.get('/ConfigMap/web/old').requiresPruning, true);
  const service = byKey.get('/Service/web/web');
  assert.equal(service.health, 'Missing', 'a managed resource not in the cluster is shown, as Missing');
  assert.equal(byKey.get('apps/ReplicaSet/web/web-1').sync, undefined, 'owned objects have no sync status');
  assert.equal(g.root.sync, 'OutOfSync');
  assert.equal(g.root.health, 'Progressing');
});

test('owner references give the edges; unknown owners hang from the app', () => {
  const g = buildGraph(app, tree);
  const edges = new Set(g.edges.map((e) => `${e.from}>${e.to}`));
  assert.ok(edges.has('app>d') && edges.has('d>r') && edges.has('r>a') && edges.has('r>b'));
  assert.ok(edges.has('app>s'), 'a Pod whose owner is not in the tree is still shown');
  assert.ok(!edges.has('app>r'));
  assert.equal(g.root.children[0].kind, 'Deployment', 'workloads come first among siblings');
});

test('layout puts children right of their parent and never overlaps nodes', () => {
  const g = buildGraph(app, tree);
  const size = layout(g);
  const placed = [...g.nodes.values()];
  for (const n of placed) {
    assert.ok(Number.isFinite(n.x) && Number.isFinite(n.y), `${n.kind} ${n.name} is placed`);
    assert.ok(n.x + NODE_W <= size.width && n.y + NODE_H <= size.height, `${n.name} fits`);
  }
  for (const e of g.edges) assert.ok(g.nodes.get(e.to).x > g.nodes.get(e.from).x, `${e.from} -> ${e.to} goes right`);
  for (const a of placed)
    for (const b of placed)
      if (a !== b) assert.ok(a.x !== b.x || Math.abs(a.y - b.y) >= NODE_H, `${a.name} and ${b.name} overlap`);
});

test('an app with no resources is a lone node', () => {
  const g = buildGraph({ metadata: { name: 'empty', namespace: 'argocd' } }, null);
  assert.equal(g.nodes.size, 1);
  assert.deepEqual(layout(g).height > 0, true);
});

test('YAML quotes what would read back as another type', () => {
  const text = toYaml({ a: 'true', b: '1.5', c: 'yes', d: '', e: 'a: b', f: 'plain', g: 3, h: null, i: false, j: '0x1F', k: ' lead' });
  assert.equal(text, 'a: "true"\nb: "1.5"\nc: "yes"\nd: ""\ne: "a: b"\nf: plain\ng: 3\nh: null\ni: false\nj: "0x1F"\nk: " lead"\n');
});

test('YAML nests lists of objects and keeps multi-line strings as blocks', () => {
  const text = toYaml({ spec: { containers: [{ name: 'main', args: ['-v', '--x=1'], env: [] }], script: 'one\ntwo\n', empty: {} } });
  assert.equal(
    text,
    'spec:\n  containers:\n  - name: main\n    args:\n    - "-v"\n    - "--x=1"\n    env: []\n  script: |\n    one\n    two\n  empty: {}\n',
  );
});

const appset = {
  metadata: { name: 'guestbook', namespace: 'argocd', uid: 'set-1' },
  spec: {
    generators: [
      { list: { elements: [] } },
      { matrix: { generators: [{ git: { repoURL: 'r' } }, { clusters: {} }] } },
      { selector: { matchLabels: { a: 'b' } } },
    ],
    template: { metadata: {}, spec: { project: '' } },
    strategy: { type: 'RollingSync', rollingSync: { steps: [{}, {}, {}] } },
  },
  status: {
    conditions: [
      { type: 'ResourcesUpToDate', status: 'True', message: 'ok' },
      { type: 'ParametersGenerated', status: 'False' },
      { type: 'ErrorOccurred', status: 'True', message: 'boom' },
    ],
    applicationStatus: [
      { application: 'b', step: '10', status: 'Waiting' },
      { application: 'z', step: '2', status: 'Pending' },
      { application: 'a', step: '2', status: 'Healthy' },
    ],
  },
};

test('an ApplicationSet shows its generator kinds, project, held conditions and strategy', () => {
  assert.deepEqual(generatorKinds(appset), ['list', 'matrix(git, clusters)'], 'a selector alone is no generator');
  assert.equal(projectOf(appset), 'default');
  assert.deepEqual(heldConditions(appset).map((c) => [c.type, c.error]), [['ErrorOccurred', true], ['ResourcesUpToDate', false]]);
  assert.equal(strategyText(appset), 'RollingSync, 3 steps');
  assert.equal(strategyText({ spec: {} }), 'AllAtOnce');
  assert.deepEqual(generatorKinds({}), []);
});

test("a RollingSync's apps are grouped by step, steps in number order", () => {
  const steps = rolloutSteps(appset);
  assert.deepEqual(steps.map((s) => [s.step, s.apps.map((a) => a.application)]), [['2', ['a', 'z']], ['10', ['b']]]);
});

test('apps are counted by the set that owns them', () => {
  const owned = (uid, kind = 'ApplicationSet') => ({ metadata: { ownerReferences: [{ kind, uid }] } });
  const counts = countByOwner([owned('set-1'), owned('set-1'), owned('set-2'), owned('set-1', 'Deployment'), { metadata: {} }]);
  assert.equal(counts.get('set-1'), 2);
  assert.equal(counts.get('set-2'), 1);
  assert.equal(countByOwner(undefined).size, 0);
});

test('an app\'s events show newest first, the controller\'s and the server\'s alike', () => {
  const rows = eventRows({
    items: [
      { type: 'Normal', reason: 'OperationStarted', message: "Initiated automated sync to 'abc'", count: 1, lastTimestamp: '2025-01-01T10:00:00Z' },
      { type: 'Warning', reason: 'OperationCompleted', message: 'Sync operation to abc failed: boom', count: 3, lastTimestamp: '2025-01-01T10:05:00Z' },
      // events.k8s.io/v1, as the server records its audit events.
      { type: 'Normal', reason: 'ResourceCreated', note: 'admin created application', eventTime: '2025-01-01T09:00:00.000000Z' },
    ],
  });
  assert.deepEqual(rows.map((r) => [r.reason, r.count, r.warning]), [
    ['OperationCompleted', 3, true],
    ['OperationStarted', 1, false],
    ['ResourceCreated', 1, false],
  ]);
  assert.equal(rows[2].message, 'admin created application');
  assert.deepEqual(eventRows({}), []);
  assert.deepEqual(eventRows(null), []);
});

test('the dependency panel: relations, what the app waits for, a hidden app, a cycle', () => {
  const k = (namespace, name) => ({ namespace, name });
  const graph = {
    app: k('argocd', 'web'),
    assessment: {
      dependencies: [
        { pattern: 'argocd/db', app: k('argocd', 'db'), ready: false, reason: 'OutOfSync, Progressing' },
        { pattern: 'argocd/vault-*', app: { namespace: '', name: '(hidden-1)', hidden: true }, ready: true, reason: 'ready' },
        { pattern: 'argocd/cache', app: null, ready: false, reason: 'no such app' },
      ],
      error: null,
    },
    nodes: [
      { app: k('argocd', 'web'), sync: 'OutOfSync', health: 'Missing', ready: false, waiting: 'waiting for argocd/db: OutOfSync, Progressing', inCycle: false },
      { app: k('argocd', 'db'), sync: 'OutOfSync', health: 'Progressing', ready: false, inCycle: false },
      { app: { namespace: '', name: '(hidden-1)', hidden: true }, sync: '', health: '', ready: true, inCycle: false },
      { app: k('argocd', 'front'), sync: 'Synced', health: 'Healthy', ready: true, inCycle: false },
    ],
    edges: [
      { from: k('argocd', 'web'), to: k('argocd', 'db'), ready: false },
      { from: k('argocd', 'web'), to: { namespace: '', name: '(hidden-1)', hidden: true }, ready: true },
      { from: k('argocd', 'front'), to: k('argocd', 'web'), ready: false },
    ],
  };
  const rows = dependencyRows(graph, 'argocd/web');
  assert.deepEqual(rows.map((r) => [r.key, r.relation, r.waited]), [
    ['argocd/web', 'this app', false],
    ['argocd/db', 'depends on', true],
    ['(hidden-1)', 'depends on', false],
    ['argocd/front', 'depended on by', false],
  ]);
  assert.equal(rows[2].hidden, true);
  assert.equal(waitingText(graph), 'argocd/db: OutOfSync, Progressing; argocd/cache: no such app');
  assert.equal(hasDependencies(graph), true);
  const alone = { nodes: [graph.nodes[0]], edges: [], assessment: { dependencies: [], error: null } };
  assert.equal(hasDependencies(alone), false);
  assert.equal(waitingText(alone), '');
  const cycle = { nodes: [{ ...graph.nodes[0], inCycle: true }], edges: [], assessment: { dependencies: [], error: 'dependency cycle: argocd/web -> argocd/web' } };
  assert.equal(hasDependencies(cycle), true);
  assert.equal(waitingText(cycle), 'dependency cycle: argocd/web -> argocd/web');
  assert.equal(dependencyRows(cycle, 'argocd/web')[0].inCycle, true);
  assert.deepEqual(dependencyRows(null, 'argocd/web'), []);
});
