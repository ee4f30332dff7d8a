// The app list: one page of apps at a time, filtered and paginated by the
// server and trimmed with `fields=` so that thousands of apps stay fast;
// rows update in place from the SSE stream.
import { el, fill, api, query, stream, healthBadge, syncBadge, phaseBadge, shortRevision, ago, toast, topbar, appPath } from './common.js';

const FILTERS = ['search', 'sync', 'health', 'projects', 'cluster', 'namespace', 'selector'];
// Only what the table shows (Argo CD's projection syntax).
const FIELDS = [
  'metadata.total',
  'metadata.remainingItemCount',
  'metadata.resourceVersion',
  'items.metadata.name',
  'items.metadata.namespace',
  'items.spec.project',
  'items.spec.source',
  'items.spec.destination',
  'items.status.sync.status',
  'items.status.sync.revision',
  'items.status.health',
  'items.status.operationState.phase',
  'items.status.operationState.startedAt',
  'items.status.operationState.finishedAt',
  'items.status.reconciledAt',
].join(',');

const form = document.getElementById('filters');
const rows = document.getElementById('rows');
const state = { offset: 0, limit: 100, total: 0, rowsByKey: new Map() };
let stopStream = null;

const key = (app) => `${app.metadata.namespace}/${app.metadata.name}`;

function filters() {
  const f = {};
  for (const name of FILTERS) f[name] = form.elements[name].value.trim();
  return f;
}

/** Keeps filters and page in the address bar, so reload and links keep them. */
function saveToUrl() {
  const params = { ...filters(), offset: state.offset || '', limit: state.limit === 100 ? '' : state.limit };
  history.replaceState(null, '', location.pathname + query(params));
}

function loadFromUrl() {
  const q = new URLSearchParams(location.search);
  for (const name of FILTERS) form.elements[name].value = q.get(name) || '';
  state.offset = Math.max(0, parseInt(q.get('offset') || '0', 10) || 0);
  state.limit = [50, 100, 250].includes(parseInt(q.get('limit'), 10)) ? parseInt(q.get('limit'), 10) : 100;
  document.getElementById('page-size').value = String(state.limit);
}

function sourceText(app) {
  const s = app.spec?.source || {};
  const where = s.chart ? `${s.chart}` : s.path || '.';
  return [el('div', { class: 'mono' }, `${where} @ ${s.targetRevision || 'HEAD'}`), el('div', { class: 'sub' }, s.repoURL || '')];
}

function destinationText(app) {
  const d = app.spec?.destination || {};
  return [el('div', {}, d.namespace || '—'), el('div', { class: 'sub' }, d.name || d.server || '')];
}

function lastSync(app) {
  const op = app.status?.operationState;
  if (!op) return ago(null);
  if (op.phase === 'Running' || op.phase === 'Terminating') return phaseBadge(op.phase);
  return [ago(op.finishedAt || op.startedAt), op.phase === 'Succeeded' ? null : el('div', {}, phaseBadge(op.phase))];
}

function row(app) {
  const href = appPath(app);
  const status = app.status || {};
  return el(
    'tr',
    {
      class: 'row',
      tabindex: 0,
      'data-app': key(app),
      onclick: (e) => {
        if (!e.target.closest('a')) location.assign(href);
      },
      onkeydown: (e) => {
        if (e.key === 'Enter') location.assign(href);
        else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
          const next = e.key === 'ArrowDown' ? e.currentTarget.nextElementSibling : e.currentTarget.previousElementSibling;
          if (next) next.focus();
          e.preventDefault();
        }
      },
    },
    el('td', { class: 'name' }, el('a', { href, tabindex: -1 }, app.metadata.name), el('div', { class: 'sub' }, `${app.spec?.project || 'default'} · ${app.metadata.namespace}`)),
    el('td', {}, syncBadge(status.sync?.status), el('div', { class: 'sub mono' }, shortRevision(status.sync?.revision))),
    el('td', {}, healthBadge(status.health?.status, status.health?.message)),
    el('td', {}, sourceText(app)),
    el('td', {}, destinationText(app)),
    el('td', {}, lastSync(app)),
  );
}

function render(items) {
  state.rowsByKey.clear();
  if (!items.length) {
    const any = FILTERS.some((f) => form.elements[f].value.trim());
    fill(rows, el('tr', {}, el('td', { colspan: 6, class: 'empty' }, any ? 'No application matches these filters.' : 'No applications yet: create one with `driftless app create`.')));
  } else {
    fill(rows, items.map((app) => {
      const r = row(app);
      state.rowsByKey.set(key(app), r);
      return r;
    }));
  }
  const first = items.length ? state.offset + 1 : 0;
  document.getElementById('count').textContent = `${first}–${state.offset + items.length} of ${state.total}`;
  document.getElementById('prev').disabled = state.offset === 0;
  document.getElementById('next').disabled = state.offset + items.length >= state.total;
}

let loading = 0;
async function load() {
  const ticket = ++loading;
  saveToUrl();
  try {
    const data = await api('/api/v1/applications' + query({ ...filters(), limit: state.limit, offset: state.offset, fields: FIELDS }));
    if (ticket !== loading) return; // a newer request is on its way
    const items = data?.items || [];
    const meta = data?.metadata || {};
    state.total = meta.total ?? state.offset + items.length + (Number(meta.remainingItemCount) || 0);
    render(items);
  } catch (e) {
    if (ticket === loading) fill(rows, el('tr', {}, el('td', { colspan: 6, class: 'empty error' }, `Could not load applications: ${e.message}`)));
  }
}

/**
 * Counts by sync and health status across every app the other filters
 * match (two small fields per app), as chips that set the filter.
 */
async function loadSummary() {
  const f = filters();
  try {
    const data = await api('/api/v1/applications' + query({ ...f, sync: '', health: '', fields: 'items.status.sync.status,items.status.health.status' }));
    // Sync counts within the chosen health, and health counts within the chosen sync.
    const counts = { sync: new Map(), health: new Map() };
    for (const a of data?.items || []) {
      const sync = a.status?.sync?.status || 'Unknown';
      const health = a.status?.health?.status || 'Unknown';
      if (!f.health || f.health === health) counts.sync.set(sync, (counts.sync.get(sync) || 0) + 1);
      if (!f.sync || f.sync === sync) counts.health.set(health, (counts.health.get(health) || 0) + 1);
    }
    const ordered = (kind) => [...form.elements[kind].options].map((o) => o.value).filter((v) => counts[kind].has(v)).map((v) => [v, counts[kind].get(v)]);
    const chip = (kind, status, n, badge) =>
      el(
        'button',
        {
          type: 'button',
          class: 'chip' + (f[kind] === status ? ' on' : ''),
          'aria-pressed': f[kind] === status ? 'true' : 'false',
          onclick: () => {
            form.elements[kind].value = f[kind] === status ? '' : status;
            changed();
          },
        },
        badge(status),
        el('span', { class: 'n' }, String(n)),
      );
    fill(
      document.getElementById('summary'),
      ordered('sync').map(([s, n]) => chip('sync', s, n, syncBadge)),
      el('span', { class: 'gap' }),
      ordered('health').map(([s, n]) => chip('health', s, n, healthBadge)),
    );
  } catch {
    fill(document.getElementById('summary'));
  }
}

let summaryTimer = null;
/** Statuses change in bursts: count again at most every few seconds. */
function loadSummarySoon() {
  if (!summaryTimer) summaryTimer = setTimeout(() => ((summaryTimer = null), loadSummary()), 3000);
}

/** Coalesces bursts of stream events into one reload of the page. */
let reloadTimer = null;
function reloadSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(load, 800);
}

function matchesStatusFilters(app) {
  const f = filters();
  return (!f.sync || app.status?.sync?.status === f.sync) && (!f.health || app.status?.health?.status === f.health);
}

function onEvent({ type, application }) {
  loadSummarySoon();
  const existing = state.rowsByKey.get(key(application));
  if (type === 'DELETED' || (existing && !matchesStatusFilters(application))) {
    if (existing || type === 'DELETED') reloadSoon();
    return;
  }
  if (existing) {
    const fresh = row(application);
    const hadFocus = document.activeElement === existing;
    existing.replaceWith(fresh);
    state.rowsByKey.set(key(application), fresh);
    if (hadFocus) fresh.focus();
    else fresh.classList.add('flash');
  } else if (type === 'ADDED' || matchesStatusFilters(application)) {
    reloadSoon();
  }
}

function follow() {
  if (stopStream) stopStream();
  // The stream takes the list's filters: only apps that could be on this page are sent.
  stopStream = stream(filters(), onEvent, () => load().then(loadSummary));
}

let typing = null;
function changed() {
  state.offset = 0;
  clearTimeout(typing);
  typing = setTimeout(() => {
    load();
    loadSummary();
    follow();
  }, 250);
}

form.addEventListener('input', changed);
form.addEventListener('submit', (e) => e.preventDefault());
form.addEventListener('reset', () => setTimeout(changed));
document.getElementById('prev').addEventListener('click', () => {
  state.offset = Math.max(0, state.offset - state.limit);
  load();
});
document.getElementById('next').addEventListener('click', () => {
  state.offset += state.limit;
  load();
});
document.getElementById('page-size').addEventListener('change', (e) => {
  state.limit = parseInt(e.target.value, 10);
  state.offset = 0;
  load();
});
document.addEventListener('keydown', (e) => {
  if (e.key === '/' && !['INPUT', 'SELECT', 'TEXTAREA'].includes(document.activeElement?.tagName)) {
    e.preventDefault();
    form.elements.search.focus();
  }
});

topbar([{ text: 'Applications' }]).catch((e) => toast(e.message, true));
loadFromUrl();
load().then(loadSummary);
follow();
