// Shared by every page: DOM building, the API client (cookie session + CSRF
// header), the live stream, status badges and the top bar.

/** Builds an element: el('a', {href: '/x', class: 'y'}, 'text', child). */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

export function cookie(name) {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return '';
}

/** An API error with the server's message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function loginUrl() {
  return '/login?return_url=' + encodeURIComponent(location.pathname + location.search);
}

/**
 * Calls the JSON API. State-changing calls carry the CSRF cookie's value in
 * X-CSRF-Token; a 401 means the session ended, so the page goes to login.
 */
export async function api(path, { method = 'GET', body, allow404 = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRF-Token'] = cookie('driftless.csrf');
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401 && !path.startsWith('/api/v1/session')) {
    location.assign(loginUrl());
    throw new ApiError(401, 'session expired');
  }
  if (response.status === 404 && allow404) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = (data && (data.message || data.error)) || text || response.statusText;
    throw new ApiError(response.status, `${response.status}: ${message}`);
  }
  return data;
}

/** Query string from an object, skipping empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? '?' + s : '';
}

/**
 * Follows the application stream: onEvent({type, application}) per change,
 * onResync() after a reconnection (changes may have been missed meanwhile).
 * Shows the connection state in the top bar. Returns a stop function.
 */
export function stream(params, onEvent, onResync) {
  const url = '/api/v1/stream/applications' + query(params);
  let source = null;
  let retry = null;
  let dropped = false;
  const show = (on, text) => {
    const indicator = document.getElementById('live');
    if (!indicator) return;
    indicator.className = 'live ' + (on ? 'on' : 'off');
    indicator.textContent = text;
  };
  const connect = () => {
    source = new EventSource(url);
    source.onopen = () => {
      show(true, 'live');
      if (dropped && onResync) onResync();
      dropped = false;
    };
    source.onerror = () => {
      dropped = true;
      show(false, 'reconnecting…');
      // A refused stream (e.g. an expired session) is not retried by the
      // browser: ask the API, which sends an expired session to login.
      if (source.readyState === EventSource.CLOSED) {
        retry = setTimeout(() => api('/api/v1/session/userinfo').then(connect, connect), 5000);
      }
    };
    source.onmessage = (e) => {
      let data;
      try {
        data = JSON.parse(e.data);
      } catch {
        return;
      }
      const r = data.result || data;
      if (r && r.application) onEvent({ type: r.type, application: r.application });
    };
  };
  connect();
  return () => {
    clearTimeout(retry);
    source.close();
  };
}

export function healthBadge(status, message) {
  const s = status || 'Unknown';
  return el('span', { class: `badge h-${s}`, title: message || s, 'data-health': s }, el('span', { class: 'dot' }), s);
}

export function syncBadge(status) {
  const s = status || 'Unknown';
  return el('span', { class: `badge s-${s}`, 'data-sync': s }, el('span', { class: 'dot' }), s);
}

export function phaseBadge(phase) {
  return el('span', { class: `badge p-${phase}` }, phase);
}

export function shortRevision(rev) {
  if (!rev) return '';
  return /^[0-9a-f]{40}$/.test(rev) ? rev.slice(0, 7) : rev;
}

function agoText(t) {
  const s = Math.max(0, (Date.now() - t.getTime()) / 1000);
  return s < 60 ? `${Math.floor(s)} s ago` : s < 3600 ? `${Math.floor(s / 60)} min ago` : s < 86400 ? `${Math.floor(s / 3600)} h ago` : `${Math.floor(s / 86400)} d ago`;
}

/** "3 min ago" with the exact time as a tooltip; kept current while the page is open. */
export function ago(iso) {
  if (!iso) return el('span', { class: 'muted' }, '—');
  const t = new Date(iso);
  return el('time', { datetime: iso, title: t.toLocaleString() }, agoText(t));
}

setInterval(() => {
  for (const node of document.querySelectorAll('time[datetime]')) node.textContent = agoText(new Date(node.getAttribute('datetime')));
}, 10000);

export function toast(message, isError = false) {
  let box = document.querySelector('.toast');
  if (!box) {
    box = el('div', { class: 'toast', role: 'status', 'aria-live': 'polite' });
    document.body.append(box);
  }
  const item = el('div', { class: isError ? 'err' : '' }, message);
  box.append(item);
  setTimeout(() => item.remove(), isError ? 9000 : 4000);
}

/** The UI's sections, linked from every page's top bar. */
const SECTIONS = [
  ['/applications', 'Applications'],
  ['/applicationsets', 'ApplicationSets'],
  ['/clusters', 'Clusters'],
];

/** Fills the top bar: sections, breadcrumbs, live indicator, user and logout. */
export async function topbar(crumbs) {
  const here = (href) => location.pathname === href || location.pathname.startsWith(href + '/');
  const sections = el('nav', { class: 'sections', 'aria-label': 'Sections' }, SECTIONS.map(([href, text]) => el('a', { href, 'aria-current': here(href) && 'page' }, text)));
  document.querySelector('.topbar .user').before(sections);
  const nav = document.querySelector('.topbar nav[aria-label="Breadcrumbs"]');
  const parts = [];
  crumbs.forEach((c, i) => {
    if (i) parts.push(el('span', { class: 'sep' }, '/'));
    parts.push(c.href ? el('a', { href: c.href }, c.text) : el('span', { class: 'current' }, c.text));
  });
  fill(nav, parts);
  const user = document.querySelector('.topbar .user');
  try {
    const info = await api('/api/v1/session/userinfo');
    if (info && info.loggedIn) {
      fill(
        user,
        el('span', { 'data-testid': 'username' }, info.username),
        el('button', { class: 'link', onclick: logout }, 'Log out'),
      );
    }
  } catch (e) {
    toast(e.message, true);
  }
}

async function logout() {
  try {
    await api('/api/v1/session', { method: 'DELETE' });
  } finally {
    location.assign('/login');
  }
}

/** The app's namespace and name from /applications/{namespace}/{name}. */
export function appPath(app) {
  return `/applications/${encodeURIComponent(app.metadata.namespace)}/${encodeURIComponent(app.metadata.name)}`;
}

/** The ApplicationSet page of a set: /applicationsets/{namespace}/{name}. */
export function appSetPath(set) {
  return `/applicationsets/${encodeURIComponent(set.metadata.namespace)}/${encodeURIComponent(set.metadata.name)}`;
}

/** A status card: a title over its body. */
export function card(title, ...body) {
  return el('div', { class: 'card' }, el('h2', {}, title), ...body);
}

/** Shows `message` in the page's #error box, or hides the box when empty. */
export function showError(message) {
  const box = document.getElementById('error');
  box.textContent = message || '';
  box.classList.toggle('hidden', !message);
}
