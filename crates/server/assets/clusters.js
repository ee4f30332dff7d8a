// The clusters: each probed by the server when the page asks, so the
// connection state is the current one; Refresh probes again.
import { el, fill, api, toast, topbar, ago } from './common.js';

const rows = document.getElementById('rows');

function connection(c) {
  const s = c.connectionState?.status || 'Unknown';
  const message = c.connectionState?.message;
  return [
    el('span', { class: `badge c-${s}`, 'data-connection': s }, el('span', { class: 'dot' }), s),
    message ? el('div', { class: 'sub' }, message) : null,
    el('div', { class: 'sub' }, 'checked ', ago(c.connectionState?.attemptedAt)),
  ];
}

function row(c) {
  const limits = c.namespaces?.length ? `namespaces: ${c.namespaces.join(', ')}` : '';
  return el(
    'tr',
    { 'data-cluster': c.name },
    el('td', { class: 'name' }, el('b', {}, c.name), el('div', { class: 'sub' }, [c.project && `project ${c.project}`, limits].filter(Boolean).join(' · '))),
    el('td', { class: 'mono' }, c.server || el('span', { class: 'muted' }, '—'), c.secret ? el('div', { class: 'sub' }, `Secret ${c.secret}`) : null),
    el('td', {}, connection(c)),
    el('td', { class: 'mono' }, c.serverVersion || '—'),
    el('td', { 'data-testid': 'apps' }, String(c.info?.applicationsCount ?? 0)),
    el('td', {}, String(c.info?.cacheInfo?.resourcesCount ?? 0)),
  );
}

async function load() {
  const button = document.getElementById('refresh');
  button.disabled = true;
  try {
    const items = (await api('/api/v1/clusters'))?.items || [];
    fill(rows, items.length ? items.map(row) : el('tr', {}, el('td', { colspan: 6, class: 'empty' }, 'No clusters: add one with `driftless cluster add CONTEXT`.')));
    const failed = items.filter((c) => c.connectionState?.status === 'Failed').length;
    document.getElementById('count').textContent = `${items.length} cluster${items.length === 1 ? '' : 's'}` + (failed ? `, ${failed} failing` : '');
  } catch (e) {
    fill(rows, el('tr', {}, el('td', { colspan: 6, class: 'empty error' }, `Could not load clusters: ${e.message}`)));
  } finally {
    button.disabled = false;
  }
}

document.getElementById('refresh').addEventListener('click', load);
topbar([{ text: 'Clusters' }]).catch((e) => toast(e.message, true));
load();
