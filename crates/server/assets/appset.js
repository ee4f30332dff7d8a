// One ApplicationSet: what it generates from, its conditions, the
// Applications it owns (linked to their pages) and, under a RollingSync
// strategy, each app's step and status. Reloaded every few seconds.
import { el, fill, api, query, healthBadge, syncBadge, ago, toast, topbar, appPath, card, showError } from './common.js';
import { generatorKinds, projectOf, rolloutSteps, strategyText } from './appset-view.js';

const [, , namespace, name] = location.pathname.split('/').map(decodeURIComponent);
const base = `/api/v1/applicationsets/${encodeURIComponent(name)}`;
const ns = query({ appsetNamespace: namespace });

function info(node, key) {
  return (node.info || []).find((i) => i.name === key)?.value;
}

/** An app of the set by name, linked to its page. */
function appLink(appName) {
  return el('a', { href: appPath({ metadata: { namespace, name: appName } }) }, appName);
}

function render(set, tree) {
  const spec = set.spec || {};
  const nodes = tree?.nodes || [];
  document.title = `${name} · ApplicationSet · driftless`;
  fill(document.getElementById('title'), name);
  const policy = spec.syncPolicy || {};
  fill(
    document.getElementById('cards'),
    card('Project', el('div', { class: 'big' }, projectOf(set)), el('div', { class: 'sub' }, `namespace ${namespace}`)),
    card('Generators', el('div', { class: 'mono', 'data-testid': 'generators' }, generatorKinds(set).join(', ') || '—'), spec.goTemplate ? el('div', { class: 'sub' }, 'Go templates') : null),
    card('Applications', el('div', { class: 'big', 'data-testid': 'appset-apps' }, String(nodes.length))),
    card('Policy', el('div', {}, policy.applicationsSync || 'sync'), policy.preserveResourcesOnDeletion ? el('div', { class: 'sub' }, 'resources kept on deletion') : null, el('div', { class: 'sub' }, strategyText(set))),
  );
  fill(
    document.getElementById('conditions'),
    (set.status?.conditions || []).map((c) =>
      el('li', { class: /Error/.test(c.type) && c.status === 'True' ? 'err' : '' }, el('b', {}, c.type), `${c.status || ''} `, c.message || ''),
    ),
  );
  document.getElementById('apps-count').textContent = `${nodes.length}`;
  fill(
    document.getElementById('apps'),
    nodes.length
      ? nodes.map((n) =>
          el(
            'tr',
            { 'data-app': `${n.namespace}/${n.name}` },
            el('td', { class: 'name' }, el('a', { href: appPath({ metadata: { namespace: n.namespace, name: n.name } }) }, n.name)),
            el('td', {}, syncBadge(info(n, 'Sync Status'))),
            el('td', {}, healthBadge(n.health?.status, n.health?.message)),
            el('td', {}, info(n, 'Project') || ''),
          ),
        )
      : el('tr', {}, el('td', { colspan: 4, class: 'empty' }, 'No Applications yet.')),
  );
  document.getElementById('strategy').textContent = strategyText(set);
  const steps = rolloutSteps(set);
  document.getElementById('rollout-panel').classList.toggle('hidden', !steps.length && spec.strategy?.type !== 'RollingSync');
  fill(
    document.getElementById('rollout'),
    steps.length
      ? steps.flatMap(({ step, apps }) =>
          apps.map((s, i) =>
            el(
              'tr',
              { 'data-rollout': s.application },
              el('td', {}, i === 0 ? step : ''),
              el('td', { class: 'name' }, appLink(String(s.application || ''))),
              el('td', { 'data-status': s.status }, s.status || ''),
              el('td', {}, s.message || ''),
              el('td', {}, ago(s.lastTransitionTime)),
            ),
          ),
        )
      : el('tr', {}, el('td', { colspan: 5, class: 'empty' }, 'No step has started.')),
  );
}

async function load() {
  try {
    const [set, tree] = await Promise.all([api(base + ns), api(`${base}/resource-tree${ns}`)]);
    showError('');
    render(set, tree);
  } catch (e) {
    showError(`Could not load ApplicationSet ${namespace}/${name}: ${e.message}`);
  }
}

document.getElementById('refresh').addEventListener('click', load);
topbar([{ text: 'ApplicationSets', href: '/applicationsets' }, { text: name }]).catch((e) => toast(e.message, true));
load();
setInterval(load, 5000);
