// The login page: username/password to POST /api/v1/session (which sets the
// session cookies), or SSO when the server has an OIDC provider.
import { api } from './common.js';

/** Only local paths: a crafted return_url must not send the user elsewhere. */
function returnUrl() {
  const target = new URLSearchParams(location.search).get('return_url') || '/applications';
  return target.startsWith('/') && !target.startsWith('//') && !target.startsWith('/\\') ? target : '/applications';
}

async function showSso() {
  try {
    const settings = await api('/api/v1/settings');
    const oidc = settings && settings.oidcConfig;
    if (!oidc) return;
    const link = document.getElementById('sso-link');
    link.textContent = `Log in via ${oidc.name || 'SSO'}`;
    link.href = '/auth/login?return_url=' + encodeURIComponent(returnUrl());
    document.getElementById('sso').classList.remove('hidden');
  } catch {
    // No settings: password login still works.
  }
}

document.getElementById('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = e.target;
  const error = document.getElementById('error');
  const button = form.querySelector('button');
  error.classList.add('hidden');
  button.disabled = true;
  try {
    await api('/api/v1/session', { method: 'POST', body: { username: form.username.value, password: form.password.value } });
    location.assign(returnUrl());
  } catch (err) {
    error.textContent = err.status === 401 ? 'Invalid username or password.' : err.status === 429 ? 'Too many attempts: wait a moment and retry.' : err.message;
    error.classList.remove('hidden');
    form.password.select();
  } finally {
    button.disabled = false;
  }
});

showSso();
