// One application: status cards, conditions, the resource tree, history
// with rollback, its Kubernetes Events, and the Sync / Refresh / Delete actions. The page follows
// the SSE stream, so status and tree change without a reload.
import { el, fill, api, query, stream, healthBadge, syncBadge, phaseBadge, shortRevision, ago, toast, topbar, card, showError } from './common.js';
import { buildGraph, drawTree, resourceKey } from './tree.js';
import { toYaml } from './yaml.js';
import { eventRows } from './events-view.js';
import { dependencyRows, hasDependencies, waitingText } from './deps-view.js';

const [, , namespace, name] = location.pathname.split('/').map(decodeURIComponent);
const base = `/api/v1/applications/${encodeURIComponent(name)}`;
const ns = { appNamespace: namespace };
let app = null;
let tree = null;
let windows = null;

// ---- rendering ------------------------------------------------------------

function operationCard(status) {
  const op = status.operationState;
  if (!op) return card('Last operation', el('div', { class: 'big' }, '—'), el('div', { class: 'sub' }, 'No sync has run yet.'));
  const running = op.phase === 'Running' || op.phase === 'Terminating';
  const done = op.syncResult?.resources?.length || 0;
  const total = (status.resources || []).filter((r) => !r.hook).length || done;
  const who = op.operation?.initiatedBy?.username || (op.operation?.initiatedBy?.automated ? 'automated' : '');
  const bar = el('div', {});
  bar.style.width = `${total ? Math.min(100, Math.round((100 * done) / total)) : running ? 5 : 100}%`;
  return card(
    op.operation?.sync?.dryRun ? 'Last operation (dry run)' : 'Last operation',
    el('div', { class: 'big', 'data-testid': 'operation-phase' }, phaseBadge(op.phase), ' ', el('span', { class: 'sub' }, `${done}/${total} resources`)),
    running ? el('div', { class: 'progress', role: 'progressbar', 'aria-valuenow': done, 'aria-valuemax': total }, bar) : null,
    op.message ? el('div', { class: 'sub' }, op.message) : null,
    el('div', { class: 'sub' }, 'started ', ago(op.startedAt), who ? ` by ${who}` : '', op.finishedAt ? ', finished ' : '', op.finishedAt ? ago(op.finishedAt) : ''),
    running ? el('div', {}, el('button', { type: 'button', class: 'danger', onclick: terminate }, 'Terminate')) : null,
  );
}

/**
 * What waits for a person before it is removed: resources that left Git with
 * Prune=confirm (a sync waits on them), and, while the app is being deleted,
 * those with Delete=confirm. Shown only when some wait, with the button that
 * confirms (the server dates the confirmation).
 */
function confirmationCard(status) {
  const deleting = !!app.metadata?.deletionTimestamp;
  const waiting = (status.resources || []).filter((r) => r.requiresDeletionConfirmation && (r.requiresPruning || deleting));
  if (!waiting.length) return null;
  return card(
    'Waiting for confirmation',
    el('div', { class: 'big', 'data-testid': 'awaiting-confirmation' }, `${waiting.length} to ${deleting ? 'delete' : 'prune'}`),
    el('ul', { class: 'sub mono' }, ...waiting.map((r) => el('li', {}, `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`))),
    el('div', {}, el('button', { type: 'button', class: 'danger', 'data-testid': 'confirm-deletion', onclick: confirmDeletion }, 'Confirm deletion')),
  );
}

/** The project's sync windows for this app: shown only when some apply or they deny. */
function windowsCard() {
  if (!windows || (windows.automatedCanSync && !windows.assignedWindows?.length)) return null;
  const state = windows.automatedCanSync ? 'Allowed' : windows.canSync ? 'Manual only' : 'Denied';
  const active = (windows.activeWindows || []).map((w) => `${w.kind} ${w.schedule} for ${w.duration}`).join(', ');
  return card(
    'Sync window',
    el('div', { class: `big win-${state.replace(' ', '-')}`, 'data-testid': 'app-sync-window' }, state),
    el('div', { class: 'sub' }, windows.message),
    active ? el('div', { class: 'sub' }, 'active: ', el('span', { class: 'mono' }, active)) : null,
  );
}

function renderStatus() {
  const s = app.status || {};
  const spec = app.spec || {};
  const src = spec.source || {};
  document.title = `${name} · driftless`;
  fill(document.getElementById('title'), name);
  fill(
    document.getElementById('cards'),
    card(
      'Sync',
      el('div', { class: 'big', 'data-testid': 'app-sync', 'data-sync': s.sync?.status || 'Unknown' }, syncBadge(s.sync?.status)),
      el('div', { class: 'sub' }, 'to ', el('span', { class: 'mono' }, shortRevision(s.sync?.revision) || '—'), ` (${src.targetRevision || 'HEAD'})`),
      el('div', { class: 'sub' }, spec.syncPolicy?.automated ? 'Auto-sync on' : 'Auto-sync off', ' · compared ', ago(s.reconciledAt)),
    ),
    card(
      'Health',
      el('div', { class: 'big', 'data-testid': 'app-health' }, healthBadge(s.health?.status, s.health?.message)),
      s.health?.message ? el('div', { class: 'sub' }, s.health.message) : null,
    ),
    operationCard(s),
    confirmationCard(s),
    card('Source', el('div', { class: 'mono' }, `${src.chart || src.path || '.'} @ ${src.targetRevision || 'HEAD'}`), el('div', { class: 'sub' }, src.repoURL || '')),
    card(
      'Destination',
      el('div', {}, spec.destination?.namespace || '—'),
      el('div', { class: 'sub' }, spec.destination?.name || spec.destination?.server || ''),
      el('div', { class: 'sub' }, `project ${spec.project || 'default'}`),
    ),
    windowsCard(),
  );
  fill(
    document.getElementById('conditions'),
    (s.conditions || []).map((c) => el('li', { class: /(Error|PolicyViolation)$/.test(c.type) ? 'err' : '' }, el('b', {}, c.type), c.message)),
  );
  document.getElementById('sync').disabled = false;
  renderHistory();
}

function renderHistory() {
  const history = [...(app.status?.history || [])].reverse();
  const current = history[0]?.id;
  fill(
    document.getElementById('history'),
    history.length
      ? history.map((h) =>
          el(
            'tr',
            {},
            el('td', {}, String(h.id)),
            el('td', { class: 'mono', title: h.revision }, shortRevision(h.revision)),
            el('td', {}, ago(h.deployedAt)),
            el('td', {}, h.initiatedBy?.username || (h.initiatedBy?.automated ? 'automated' : '—')),
            el('td', {}, h.id === current ? el('span', { class: 'sub' }, 'current') : el('button', { type: 'button', onclick: () => rollback(h) }, 'Rollback…')),
          ),
        )
      : el('tr', {}, el('td', { colspan: 5, class: 'sub' }, 'Nothing deployed yet.')),
  );
}

function renderEvents(list) {
  const rows = eventRows(list);
  fill(
    document.getElementById('events'),
    rows.length
      ? rows.map((r) =>
          el(
            'tr',
            { class: r.warning ? 'warning' : '' },
            el('td', {}, r.reason),
            el('td', {}, r.message),
            el('td', {}, String(r.count)),
            el('td', { title: r.last }, ago(r.last)),
          ),
        )
      : el('tr', {}, el('td', { colspan: 4, class: 'sub' }, 'No events.')),
  );
}

function renderTree() {
  const graph = buildGraph(app, tree);
  drawTree(document.getElementById('tree'), graph, openResource);
  const managed = (app.status?.resources || []).length;
  document.getElementById('tree-count').textContent = `${graph.nodes.size - 1} resources, ${managed} from Git`;
}

// ---- loading --------------------------------------------------------------

async function loadTree() {
  try {
    tree = await api(`${base}/resource-tree${query(ns)}`);
  } catch (e) {
    toast(`Resource tree: ${e.message}`, true);
  }
  if (app) renderTree();
}

/** Sync windows open and close with time, not with the app: read them with the tree. */
async function loadWindows() {
  try {
    windows = await api(`${base}/syncwindows${query(ns)}`);
  } catch (e) {
    windows = null;
  }
  if (app) renderStatus();
}

/**
 * The dependency graph (driftless.dev/depends-on): the apps this one waits for and those that wait for it,
 * each with its sync, health and readiness; a cycle highlighted. Hidden while the app is in none.
 */
function renderDependencies(graph) {
  document.getElementById('dependencies-panel').classList.toggle('hidden', !hasDependencies(graph));
  if (!graph) return;
  const waiting = waitingText(graph);
  fill(document.getElementById('dependencies-waiting'), waiting ? `waits: ${waiting}` : 'ready');
  fill(
    document.getElementById('dependencies'),
    ...dependencyRows(graph, `${namespace}/${name}`).map((r) => {
      const [ns, n] = r.key.split('/');
      const link = r.hidden ? el('span', { class: 'sub' }, r.key) : el('a', { href: `/applications/${encodeURIComponent(ns)}/${encodeURIComponent(n)}` }, r.key);
      return el(
        'tr',
        { class: [r.inCycle ? 'cycle' : '', r.waited ? 'waited' : ''].join(' ').trim(), 'data-testid': 'dependency', title: r.inCycle ? 'part of a dependency cycle: nothing in it syncs' : '' },
        el('td', {}, link, r.waited ? el('span', { class: 'sub' }, ' ← waited for') : null),
        el('td', {}, r.relation),
        el('td', {}, r.sync ? syncBadge(r.sync) : ''),
        el('td', {}, r.health ? healthBadge(r.health) : ''),
        el('td', {}, r.ready ? 'yes' : 'no'),
        el('td', { class: 'sub' }, r.inCycle ? `cycle: ${r.note}` : r.note),
      );
    }),
  );
}

async function loadDependencies() {
  try {
    renderDependencies(await api(`${base}/dependencies${query(ns)}`));
  } catch (e) {
    renderDependencies(null);
  }
}

async function loadEvents() {
  try {
    renderEvents(await api(`${base}/events${query(ns)}`));
  } catch (e) {
    toast(`Events: ${e.message}`, true);
  }
}

let treeTimer = null;
/** Trees change in bursts (a rollout touches many Pods): reload once per burst. */
function loadTreeSoon() {
  clearTimeout(treeTimer);
  treeTimer = setTimeout(() => {
    loadTree();
    loadWindows();
    loadEvents();
    loadDependencies();
  }, 700);
}

async function load(refresh) {
  try {
    app = await api(`${base}${query({ ...ns, refresh })}`);
    showError('');
    renderStatus();
    await Promise.all([loadTree(), loadWindows(), loadEvents(), loadDependencies()]);
  } catch (e) {
    // The API answers 403 alike for an app that does not exist and one the caller may not see.
    showError(e.status === 403 || e.status === 404 ? `Application ${namespace}/${name} does not exist (any more), or you may not see it.` : `Could not load the application: ${e.message}`);
  }
}

function follow() {
  stream({ name, ...ns }, ({ type, application }) => {
    if (application.metadata?.name !== name || application.metadata?.namespace !== namespace) return;
    if (type === 'DELETED') {
      showError(`Application ${namespace}/${name} was deleted.`);
      document.getElementById('sync').disabled = true;
      return;
    }
    app = application;
    showError('');
    renderStatus();
    // Sync and health of managed nodes come with the app: redraw now; owned objects follow with the tree.
    if (tree) renderTree();
    loadTreeSoon();
  }, () => load());
}

// ---- actions --------------------------------------------------------------

/** Runs an action, telling the user how it went: {result} on success, else null. */
async function act(action, done, call) {
  try {
    const result = await call();
    toast(done);
    return { result };
  } catch (e) {
    toast(`${action} failed: ${e.message}`, true);
    return null;
  }
}

function wireClose(dialog) {
  for (const b of dialog.querySelectorAll('[data-close]')) b.addEventListener('click', () => dialog.close());
}

function openSync() {
  const dialog = document.getElementById('sync-dialog');
  const list = document.getElementById('sync-resources');
  const resources = (app.status?.resources || []).filter((r) => !r.hook);
  const boxes = resources.map((r) =>
    el('input', { type: 'checkbox', checked: true, 'data-key': resourceKey(r) }),
  );
  const all = el('input', { type: 'checkbox', checked: true, onchange: (e) => boxes.forEach((b) => (b.checked = e.target.checked)) });
  fill(
    list,
    el('label', { class: 'all' }, all, `All resources (${resources.length})`),
    resources.map((r, i) =>
      el('label', {}, boxes[i], `${r.kind} `, el('b', {}, r.name), r.namespace ? el('span', { class: 'sub' }, ` in ${r.namespace}`) : '', ' ', syncBadge(r.status)),
    ),
  );
  for (const b of boxes) b.addEventListener('change', () => (all.checked = boxes.every((x) => x.checked)));
  const form = document.getElementById('sync-form');
  form.onsubmit = async (e) => {
    e.preventDefault();
    const chosen = resources.filter((_, i) => boxes[i].checked);
    if (!chosen.length) {
      toast('Choose at least one resource.', true);
      return;
    }
    const items = [];
    if (form.replace.checked) items.push('Replace=true');
    if (form.outOfSyncOnly.checked) items.push('ApplyOutOfSyncOnly=true');
    const body = { prune: form.prune.checked, dryRun: form.dryRun.checked };
    if (chosen.length < resources.length) body.resources = chosen.map((r) => ({ group: r.group || '', kind: r.kind, name: r.name, namespace: r.namespace || '' }));
    if (form.force.checked) body.strategy = { hook: { force: true } };
    if (items.length) body.syncOptions = { items };
    dialog.close();
    const updated = await act(body.dryRun ? 'Dry run' : 'Sync', body.dryRun ? 'Dry run started' : 'Sync started', () => api(`${base}/sync${query(ns)}`, { method: 'POST', body }));
    if (updated?.result?.metadata) {
      app = updated.result;
      renderStatus();
    }
  };
  dialog.showModal();
  form.querySelector('#sync-go').focus();
}

/** Asks before a destructive action; resolves with the form, or null. */
function confirmAction(title, body, ok) {
  const dialog = document.getElementById('confirm-dialog');
  const form = document.getElementById('confirm-form');
  fill(document.getElementById('confirm-title'), title);
  fill(document.getElementById('confirm-body'), body);
  fill(document.getElementById('confirm-go'), ok);
  return new Promise((resolve) => {
    form.onsubmit = (e) => {
      e.preventDefault();
      dialog.close();
      resolve(form);
    };
    dialog.onclose = () => resolve(null);
    dialog.showModal();
  });
}

async function rollback(h) {
  const form = await confirmAction(
    `Roll back to ${h.id}?`,
    [el('p', {}, 'Deploys revision ', el('code', {}, shortRevision(h.revision)), ' again, as it was synced then.'), el('label', {}, el('input', { type: 'checkbox', name: 'prune' }), ' Prune resources not in that revision')],
    'Roll back',
  );
  if (!form) return;
  await act('Rollback', `Rollback to ${h.id} started`, () => api(`${base}/rollback${query(ns)}`, { method: 'POST', body: { id: h.id, prune: form.prune.checked, dryRun: false } }));
}

async function terminate() {
  await act('Terminate', 'Operation terminating', () => api(`${base}/operation${query(ns)}`, { method: 'DELETE' }));
}

async function confirmDeletion() {
  const form = await confirmAction(
    'Confirm deletion?',
    [el('p', {}, 'The resources listed are pruned (Prune=confirm) or deleted with the app (Delete=confirm) once you confirm. This cannot be undone.')],
    'Confirm deletion',
  );
  if (!form) return;
  await act('Confirm deletion', 'Deletion confirmed', () => api(`${base}/confirm-deletion${query(ns)}`, { method: 'POST' }));
}

async function remove() {
  const form = await confirmAction(
    `Delete ${name}?`,
    [el('p', {}, 'Deletes the Application.'), el('label', {}, el('input', { type: 'checkbox', name: 'cascade', checked: true }), ' Also delete the resources it manages (cascade)')],
    'Delete',
  );
  if (!form) return;
  const done = await act('Delete', 'Deletion requested', () => api(`${base}${query({ ...ns, cascade: form.cascade.checked })}`, { method: 'DELETE' }));
  if (done) location.assign('/applications');
}

// ---- resource details -----------------------------------------------------

function parseState(text) {
  if (!text) return null;
  try {
    return typeof text === 'string' ? JSON.parse(text) : text;
  } catch {
    return null;
  }
}

/** A live object without metadata.managedFields, which is long and rarely what one looks for. */
function readable(live) {
  if (!live?.metadata?.managedFields) return live;
  const { managedFields, ...metadata } = live.metadata;
  return { ...live, metadata };
}

function diffView(diff) {
  return el(
    'pre',
    { class: 'diff', 'data-testid': 'diff' },
    diff.split('\n').map((line) => {
      const cls = line.startsWith('@@') ? 'hunk' : line.startsWith('+') && !line.startsWith('+++') ? 'add' : line.startsWith('-') && !line.startsWith('---') ? 'del' : null;
      return cls ? el('span', { class: cls }, line) : line + '\n';
    }),
  );
}

function pane(title, ...body) {
  return el('div', {}, el('h3', {}, title), ...body);
}

function facts(node) {
  const rows = [
    ['Kind', `${node.group ? node.group + '/' : ''}${node.kind}`],
    ['Namespace', node.namespace || '(cluster)'],
    ['Health', node.health ? healthBadge(node.health, node.healthMessage) : '—'],
    node.healthMessage ? ['Message', node.healthMessage] : null,
    ['Sync', node.sync ? syncBadge(node.sync) : 'not managed from Git'],
    node.requiresPruning ? ['Prune', 'Not in Git any more: a sync with Prune deletes it'] : null,
    ...(node.info || []).map((i) => [i.name, i.value]),
    node.createdAt ? ['Created', ago(node.createdAt)] : null,
  ].filter(Boolean);
  return el('dl', { class: 'facts' }, rows.map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, v))));
}

async function openResource(node) {
  const dialog = document.getElementById('resource-dialog');
  const body = document.getElementById('resource-body');
  fill(document.getElementById('resource-title'), `${node.kind} ${node.name}`);
  fill(body, el('p', { class: 'sub' }, 'Loading…'));
  dialog.showModal();
  if (node.root) {
    fill(body, pane('Application manifest', el('pre', { class: 'mono' }, toYaml({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: app.metadata, spec: app.spec }))));
    return;
  }
  try {
    if (node.managed) {
      const managed = await api(`${base}/managed-resources${query(ns)}`);
      const item = (managed?.items || []).find((i) => resourceKey(i) === resourceKey(node));
      const live = readable(parseState(item?.liveState));
      const target = parseState(item?.targetState);
      const liveView = live ? el('pre', { class: 'mono', 'data-testid': 'live' }, toYaml(live)) : el('p', { class: 'sub' }, 'Not in the cluster.');
      const diffPane = item?.diff
        ? diffView(item.diff)
        : target
          ? el('p', { class: 'sub' }, live ? 'No difference: the live object matches Git.' : 'Not created yet: a sync creates it as Git has it.')
          : el('p', { class: 'sub' }, 'Not in Git any more.');
      const desired = target ? el('pre', { class: 'mono hidden', 'data-testid': 'desired' }, toYaml(target)) : null;
      const toggle = desired
        ? el('button', {
            type: 'button',
            class: 'link',
            onclick: (e) => {
              const showDesired = desired.classList.toggle('hidden') === false;
              diffPane.classList.toggle('hidden', showDesired);
              e.target.textContent = showDesired ? 'show the diff' : 'show the whole manifest from Git';
            },
          }, 'show the whole manifest from Git')
        : null;
      fill(body, facts(node), el('div', { class: 'sides' }, pane('Live manifest (managedFields hidden)', liveView), pane('Diff against Git (− live, + Git)', toggle, diffPane, desired)));
    } else {
      const q = query({ ...ns, namespace: node.namespace, resourceName: node.name, version: node.version, group: node.group, kind: node.kind });
      const res = await api(`${base}/resource${q}`, { allow404: true });
      const live = readable(parseState(res?.manifest));
      fill(
        body,
        facts(node),
        el('div', { class: 'sides' }, pane('Live manifest', live ? el('pre', { class: 'mono', 'data-testid': 'live' }, toYaml(live)) : el('p', { class: 'sub' }, 'Not available.')), pane('Diff against Git', el('p', { class: 'sub' }, 'Created in the cluster by its owner, not from Git: nothing to compare.'))),
      );
    }
  } catch (e) {
    fill(body, facts(node), el('p', { class: 'error' }, e.message));
  }
}

// ---- wiring ---------------------------------------------------------------

for (const d of document.querySelectorAll('dialog')) wireClose(d);
document.getElementById('sync').addEventListener('click', openSync);
document.getElementById('refresh').addEventListener('click', () => load('normal'));
document.getElementById('hard-refresh').addEventListener('click', () => load('hard'));
document.getElementById('delete').addEventListener('click', remove);

topbar([{ text: 'Applications', href: '/applications' }, { text: `${namespace} / ${name}` }]).catch((e) => toast(e.message, true));
load();
follow();
