// The ApplicationSets the user may see, each with its generators, the
// conditions that hold and how many Applications it owns (counted from the
// ownerReferences of the apps the user may see).
import { el, fill, api, query, toast, topbar, appSetPath } from './common.js';
import { generatorKinds, projectOf, heldConditions, countByOwner } from './appset-view.js';

const rows = document.getElementById('rows');

function conditions(set) {
  const held = heldConditions(set);
  if (!held.length) return el('span', { class: 'muted' }, '—');
  return held.map((c) => el('div', { class: c.error ? 'error-text' : '', title: c.message }, c.type));
}

function row(set, counts) {
  const href = appSetPath(set);
  const n = counts.get(set.metadata.uid) || 0;
  return el(
    'tr',
    { class: 'row', 'data-appset': `${set.metadata.namespace}/${set.metadata.name}`, onclick: (e) => e.target.closest('a') || location.assign(href) },
    el('td', { class: 'name' }, el('a', { href }, set.metadata.name), el('div', { class: 'sub' }, set.metadata.namespace)),
    el('td', {}, projectOf(set)),
    el('td', { class: 'mono' }, generatorKinds(set).join(', ') || '—'),
    el('td', {}, conditions(set)),
    el('td', { 'data-testid': 'apps' }, String(n)),
  );
}

async function load() {
  const button = document.getElementById('refresh');
  button.disabled = true;
  try {
    const fields = 'items.metadata.name,items.metadata.namespace,items.metadata.ownerReferences';
    const [sets, apps] = await Promise.all([api('/api/v1/applicationsets'), api('/api/v1/applications' + query({ fields }))]);
    const items = sets?.items || [];
    const counts = countByOwner(apps?.items);
    fill(rows, items.length ? items.map((s) => row(s, counts)) : el('tr', {}, el('td', { colspan: 5, class: 'empty' }, 'No ApplicationSets: create one with `driftless appset create -f FILE`.')));
    document.getElementById('count').textContent = `${items.length} ApplicationSet${items.length === 1 ? '' : 's'}`;
  } catch (e) {
    fill(rows, el('tr', {}, el('td', { colspan: 5, class: 'empty error' }, `Could not load ApplicationSets: ${e.message}`)));
  } finally {
    button.disabled = false;
  }
}

document.getElementById('refresh').addEventListener('click', load);
topbar([{ text: 'ApplicationSets' }]).catch((e) => toast(e.message, true));
load();
setInterval(load, 10000);
