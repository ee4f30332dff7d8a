// Drives driftless's web UI in Debian's headless chromium, as a person would:
// log in, find the app in the list, open it, see its resource tree, open a
// resource's diff, sync, and watch the app become Synced without a reload;
// then roll back to the first deployment from the history, and see the
// cluster it deploys to on the Clusters page.
// Run by crates/driftless/tests/browser.rs, which starts the cluster and
// server and passes:
//   DRIFTLESS_URL        e.g. http://127.0.0.1:8080
//   DRIFTLESS_USERNAME   DRIFTLESS_PASSWORD
//   DRIFTLESS_APP        namespace/name of an OutOfSync app with a Deployment,
//                        a Service and one earlier deployment in its history
//   DRIFTLESS_ARTIFACTS  where screenshots go
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const url = env('DRIFTLESS_URL');
const [appNamespace, appName] = env('DRIFTLESS_APP').split('/');
const artifacts = env('DRIFTLESS_ARTIFACTS');
mkdirSync(artifacts, { recursive: true });
const TIMEOUT = 60_000; // generous: the test never asserts on speed

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1366, height: 800 } });
page.setDefaultTimeout(TIMEOUT);
const problems = [];
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
// A live manifest of an owned object (a Pod) may be unavailable (404): the page says so.
const expected404 = (m) => /status of 404/.test(m.text()) && /\/resource\?/.test(m.location().url || '');
page.on('console', (m) => m.type() === 'error' && !expected404(m) && problems.push(`console error: ${m.text()} (${m.location().url})`));

async function shot(name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: false });
}

function step(text) {
  console.log(`ui: ${text}`);
}

try {
  step('an anonymous visit goes to the login page');
  await page.goto(`${url}/applications`);
  await page.waitForURL(/\/login/);
  await page.locator('#username').waitFor();
  await shot('01-login');

  step('a wrong password is refused with a message');
  await page.fill('#username', env('DRIFTLESS_USERNAME'));
  await page.fill('#password', 'not-the-password');
  await page.press('#password', 'Enter');
  await page.locator('#error').filter({ hasText: /invalid/i }).waitFor();

  step('logging in returns to the app list');
  await page.fill('#password', env('DRIFTLESS_PASSWORD'));
  await page.click('button[type=submit]');
  await page.waitForURL(/\/applications(\?|$)/);
  problems.length = 0; // the two 401s before were expected
  const row = page.locator(`tr.row[data-app="${appNamespace}/${appName}"]`);
  await row.waitFor();
  await row.locator('[data-sync=OutOfSync]').waitFor();
  await page.locator('#live.on').waitFor();
  await page.locator('#summary .chip [data-sync=OutOfSync]').waitFor();
  await shot('02-app-list');

  step('search filters the list on the server');
  await page.fill('#f-search', 'no-such-app');
  await page.locator('td.empty').waitFor();
  await page.fill('#f-search', appName);
  await row.waitFor();

  step('the keyboard opens the app: focus its row and press Enter');
  await row.focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(new RegExp(`/applications/${appNamespace}/${appName}$`));

  step('the resource tree shows the app and its Deployment, out of sync');
  const deployment = page.locator('#tree g.node[data-kind=Deployment]');
  await deployment.waitFor();
  await page.locator('#tree g.node[data-kind=Application]').waitFor();
  await page.locator('#tree g.node[data-kind=Deployment][data-sync=OutOfSync]').waitFor();
  await page.locator('[data-testid=app-sync][data-sync=OutOfSync]').waitFor();
  await page.locator('[data-testid=app-sync-window]', { hasText: 'Allowed' }).waitFor();
  await page.getByText('Sync Allowed by allow window 0 of project default').waitFor();
  await shot('03-app-out-of-sync');

  step('a click on the Deployment opens its live manifest and diff');
  await deployment.click();
  const dialog = page.locator('#resource-dialog');
  await dialog.locator('[data-testid=diff]').waitFor();
  const diff = await dialog.locator('[data-testid=diff]').innerText();
  if (!/replicas/.test(diff)) throw new Error(`the diff does not show the replicas change:\n${diff}`);
  await dialog.locator('[data-testid=live]').waitFor();
  await shot('04-diff');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });

  step('the keyboard opens a node too: focus the Service, press Enter, Escape closes');
  await page.locator('#tree g.node[data-kind=Service]').focus();
  await page.keyboard.press('Enter');
  await dialog.getByText('No difference').waitFor();
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });

  step('a Pod, made by its ReplicaSet, shows its facts and has no diff');
  await page.locator('#tree g.node[data-kind=Pod]').first().click();
  await dialog.getByText('not from Git').waitFor();
  // Its facts, and its live manifest (which names its containers too).
  await dialog.getByText('Containers').first().waitFor();
  await dialog.getByText('kind: Pod').first().waitFor();
  await shot('04b-pod');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });

  step('Refresh asks for a new comparison');
  await page.click('#refresh');

  step('Sync, with the options dialog, makes the app Synced without a reload');
  await page.evaluate(() => (window.__noReload = true));
  await page.click('#sync');
  await page.locator('#sync-dialog').waitFor();
  await shot('05-sync-dialog');
  await page.click('#sync-go');
  await page.locator('[data-testid=app-sync][data-sync=Synced]').waitFor();
  await page.locator('#tree g.node[data-kind=Deployment][data-sync=Synced]').waitFor();
  await page.locator('[data-testid=operation-phase] .p-Succeeded').waitFor();
  if (!(await page.evaluate(() => window.__noReload === true))) throw new Error('the page reloaded');
  await shot('06-app-synced');

  step('Rollback to the first deployment, from the history');
  await page.locator('#history tr').nth(1).waitFor();
  const before = await page.locator('#history tr').count();
  await page.locator('#history tr').last().getByRole('button', { name: /Rollback/ }).click();
  await page.locator('#confirm-dialog').waitFor();
  await shot('07-rollback-dialog');
  await page.click('#confirm-go');
  await page.locator('#history tr').nth(before).waitFor();
  await page.locator('[data-testid=app-sync][data-sync=OutOfSync]').waitFor();
  await page.locator('#tree g.node[data-kind=Deployment][data-sync=OutOfSync]').waitFor();
  if (!(await page.evaluate(() => window.__noReload === true))) throw new Error('the page reloaded');
  await shot('08-rolled-back');

  step('the app list updates live: a sync started elsewhere turns the row Synced');
  await page.click('.topbar nav a[href="/applications"]');
  await row.locator('[data-sync=OutOfSync]').waitFor();
  await page.evaluate(() => (window.__noReload = true));
  const started = await page.evaluate(async ([ns, name]) => {
    const csrf = document.cookie.split('; ').find((c) => c.startsWith('driftless.csrf='))?.split('=')[1];
    const r = await fetch(`/api/v1/applications/${name}/sync?appNamespace=${ns}`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: '{}' });
    return r.status;
  }, [appNamespace, appName]);
  if (started !== 200) throw new Error(`POST sync answered ${started}`);
  await row.locator('[data-sync=Synced]').waitFor();
  if (!(await page.evaluate(() => window.__noReload === true))) throw new Error('the list reloaded');
  await shot('09-list-live');

  step('the Clusters page, from the top bar, shows the own cluster reachable with the app counted');
  await page.click('.topbar nav.sections a[href="/clusters"]');
  const own = page.locator('tr[data-cluster="in-cluster"]');
  await own.locator('[data-connection=Successful]').waitFor();
  const apps = Number(await own.locator('[data-testid=apps]').textContent());
  if (!(apps >= 1)) throw new Error(`the own cluster shows ${apps} apps`);
  await shot('10-clusters');

  if (problems.length) throw new Error(`the page reported errors:\n${problems.join('\n')}`);
  step('passed');
} catch (e) {
  await shot('failure').catch(() => {});
  console.error(`ui: FAILED at ${page.url()}: ${e.stack || e}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
