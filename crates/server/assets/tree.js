// The resource tree as an SVG graph, left to right: the Application, the
// resources it manages (from Git), and what they own (ReplicaSets, Pods, ...).
// buildGraph and layout are pure; drawTree only writes the SVG.

const SVG = 'http://www.w3.org/2000/svg';
export const NODE_W = 240;
export const NODE_H = 58;
const COL_GAP = 64;
const ROW_GAP = 14;

/** Identity of a resource across the tree, status.resources and managed-resources. */
export function resourceKey(r) {
  return `${r.group || ''}/${r.kind}/${r.namespace || ''}/${r.name}`;
}

// Kinds the user reads first come first among siblings.
const KIND_ORDER = ['Namespace', 'Deployment', 'StatefulSet', 'DaemonSet', 'CronJob', 'Job', 'ReplicaSet', 'Pod', 'Service', 'Ingress', 'ConfigMap', 'Secret'];
const ABBREVIATIONS = {
  Application: 'app', Deployment: 'deploy', ReplicaSet: 'rs', Pod: 'pod', Service: 'svc', ConfigMap: 'cm', Secret: 'secret',
  StatefulSet: 'sts', DaemonSet: 'ds', Job: 'job', CronJob: 'cron', Ingress: 'ing', PersistentVolumeClaim: 'pvc',
  ServiceAccount: 'sa', Endpoints: 'ep', EndpointSlice: 'eps', Namespace: 'ns', ControllerRevision: 'rev',
  HorizontalPodAutoscaler: 'hpa', Role: 'role', RoleBinding: 'rb', ClusterRole: 'crole', ClusterRoleBinding: 'crb',
};

function rank(node) {
  const i = KIND_ORDER.indexOf(node.kind);
  return i < 0 ? KIND_ORDER.length : i;
}

/**
 * Joins the app's resource tree with its status.resources: every live node,
 * plus managed resources not (yet) in the cluster. Managed nodes carry their
 * sync status; nodes without a known parent hang from the Application.
 */
export function buildGraph(app, tree) {
  const root = {
    id: 'app',
    root: true,
    kind: 'Application',
    group: 'argoproj.io',
    name: app.metadata.name,
    namespace: app.metadata.namespace,
    health: app.status?.health?.status || 'Unknown',
    healthMessage: app.status?.health?.message,
    sync: app.status?.sync?.status || 'Unknown',
    children: [],
  };
  const nodes = new Map([['app', root]]);
  const byUid = new Map();
  const byKey = new Map();
  for (const n of tree?.nodes || []) {
    const node = {
      id: n.uid || resourceKey(n),
      group: n.group || '',
      version: n.version || '',
      kind: n.kind,
      namespace: n.namespace || '',
      name: n.name,
      uid: n.uid,
      health: n.health?.status,
      healthMessage: n.health?.message,
      info: n.info || [],
      createdAt: n.createdAt,
      parentRefs: n.parentRefs || [],
      children: [],
    };
    if (nodes.has(node.id)) continue;
    nodes.set(node.id, node);
    if (n.uid) byUid.set(n.uid, node);
    byKey.set(resourceKey(node), node);
  }
  // Objects in the app's namespace that no app tracks (the project's
  // orphanedResources): shown beside the app, never managed.
  for (const n of tree?.orphanedNodes || []) {
    const node = { id: n.uid || resourceKey(n), group: n.group || '', version: n.version || '', kind: n.kind, namespace: n.namespace || '', name: n.name, uid: n.uid, parentRefs: [], info: [], children: [], orphaned: true };
    if (!nodes.has(node.id)) nodes.set(node.id, node);
  }
  for (const r of app.status?.resources || []) {
    let node = byKey.get(resourceKey(r));
    if (!node) {
      node = { id: resourceKey(r), group: r.group || '', version: r.version || '', kind: r.kind, namespace: r.namespace || '', name: r.name, parentRefs: [], info: [], children: [] };
      node.health = r.health?.status || 'Missing';
      nodes.set(node.id, node);
      byKey.set(resourceKey(r), node);
    }
    node.managed = true;
    node.sync = r.status;
    node.requiresPruning = !!r.requiresPruning;
    node.hook = !!r.hook;
    if (!node.health && r.health) node.health = r.health.status;
    if (!node.healthMessage && r.health?.message) node.healthMessage = r.health.message;
  }
  const edges = [];
  for (const node of nodes.values()) {
    if (node.root) continue;
    const parents = node.parentRefs.map((p) => (p.uid && byUid.get(p.uid)) || byKey.get(resourceKey(p))).filter(Boolean);
    for (const p of parents.length ? parents : [root]) edges.push({ from: p.id, to: node.id });
    (parents[0] || root).children.push(node);
  }
  for (const node of nodes.values()) {
    node.children.sort((a, b) => rank(a) - rank(b) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
  }
  return { root, nodes, edges };
}

/**
 * Places nodes in columns by depth; each leaf takes the next row and a
 * parent sits level with its first child. Returns the size.
 */
export function layout(graph) {
  let nextRow = 0;
  let maxDepth = 0;
  const placed = new Set();
  const place = (node, depth) => {
    placed.add(node.id);
    maxDepth = Math.max(maxDepth, depth);
    node.x = depth * (NODE_W + COL_GAP);
    const kids = node.children.filter((c) => !placed.has(c.id));
    if (!kids.length) {
      node.y = nextRow++ * (NODE_H + ROW_GAP);
      return;
    }
    for (const c of kids) place(c, depth + 1);
    // Level with the first child: the Application stays at the top, in view.
    node.y = kids[0].y;
  };
  place(graph.root, 0);
  return { width: (maxDepth + 1) * (NODE_W + COL_GAP) - COL_GAP + 8, height: Math.max(1, nextRow) * (NODE_H + ROW_GAP) - ROW_GAP + 8 };
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) node.setAttribute(k, String(v));
  for (const c of children) node.append(c);
  return node;
}

function truncate(text, max) {
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}

function label(node) {
  const parts = [node.kind, node.name, node.health || 'no health'];
  if (node.sync) parts.push(node.sync);
  if (node.requiresPruning) parts.push('requires pruning');
  return parts.join(', ');
}

/** Draws the graph into `target` (an <svg>); onOpen(node) on click or Enter. */
export function drawTree(target, graph, onOpen) {
  const size = layout(graph);
  target.replaceChildren();
  target.setAttribute('width', size.width);
  target.setAttribute('height', size.height);
  target.setAttribute('viewBox', `-4 -4 ${size.width} ${size.height}`);
  const edges = svg('g', { class: 'edges' });
  for (const e of graph.edges) {
    const a = graph.nodes.get(e.from);
    const b = graph.nodes.get(e.to);
    if (a.x === undefined || b.x === undefined) continue;
    const x1 = a.x + NODE_W;
    const y1 = a.y + NODE_H / 2;
    const x2 = b.x;
    const y2 = b.y + NODE_H / 2;
    const mid = (x1 + x2) / 2;
    edges.append(svg('path', { class: 'edge', d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}` }));
  }
  target.append(edges);
  const layer = svg('g', { class: 'nodes' });
  for (const node of graph.nodes.values()) {
    if (node.x === undefined) continue;
    const health = node.health || 'Unknown';
    const status = svg('text', { class: 'status', x: 52, y: 49 });
    // Kinds without a health check (ConfigMaps...) show only their sync status.
    if (node.health) status.append(svg('tspan', { class: `status h-${health}` }, `● ${health}`));
    if (node.sync) status.append(svg('tspan', { class: `status s-${node.sync}`, dx: node.health ? 10 : 0 }, node.sync === 'Synced' ? `✓ ${node.sync}` : `⟳ ${node.sync}`));
    if (node.requiresPruning) status.append(svg('tspan', { class: 'status s-OutOfSync', dx: 8 }, 'prune'));
    if (node.orphaned) status.append(svg('tspan', { class: 'status s-Unknown' }, 'orphaned'));
    const g = svg(
      'g',
      {
        class: `node h-${health}${node.root ? ' root' : ''}`,
        transform: `translate(${node.x},${node.y})`,
        tabindex: 0,
        role: 'button',
        'aria-label': label(node),
        'data-kind': node.kind,
        'data-name': node.name,
        'data-health': health,
        'data-sync': node.sync || '',
        'data-orphaned': node.orphaned ? 'true' : '',
      },
      svg('title', {}, `${node.kind} ${node.namespace ? node.namespace + '/' : ''}${node.name}${node.healthMessage ? '\n' + node.healthMessage : ''}`),
      svg('rect', { class: 'box', width: NODE_W, height: NODE_H, rx: 6 }),
      svg('rect', { class: 'bar', width: 5, height: NODE_H - 2, x: 1, y: 1, rx: 2 }),
      svg('rect', { class: 'icon', x: 12, y: 13, width: 32, height: 32, rx: 5 }),
      svg('text', { class: 'icon-text', x: 28, y: 33 }, ABBREVIATIONS[node.kind] || node.kind.slice(0, 4).toLowerCase()),
      svg('text', { class: 'kind', x: 52, y: 17 }, node.kind),
      svg('text', { class: 'name', x: 52, y: 33 }, truncate(node.name, 24)),
      status,
    );
    g.addEventListener('click', () => onOpen(node));
    g.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        onOpen(node);
      }
    });
    layer.append(g);
  }
  target.append(layer);
}
