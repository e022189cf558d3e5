// The dashboard in headless Chromium (playwright-core, no bundled browser) with axe-core on
// every page. Independent of how the stack was started; everything comes from the environment:
//
//   BASE_URL            the platform (dashboard at /)
//   ADMIN_EMAIL/_PASSWORD, USER_EMAIL/_PASSWORD   an administrator and a non-admin team viewer
//   TEAM, AGENT_ID      the team to publish into and the agent to grant
//   CALL_URL            GET ?tool=<name> makes one governed tool call, answers {status, body}
//   OUT_DIR             where screenshots (1280×800) go
//   CHROMIUM            the browser binary
//   PLAYWRIGHT_MODULES, AXE_MODULES   node_modules directories holding the two packages
//
// Flow: sign in → publish the example server → grant → a governed call → it appears in
// analytics → revoke → the next call is denied and the denial appears with its reason → replay
// shows the change → sign out → a non-admin cannot reach the admin page.
// Exit status 0 when every step and every accessibility check passed.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const BASE = env('BASE_URL');
const TEAM = env('TEAM');
const AGENT = env('AGENT_ID');
const CALL = env('CALL_URL');
const OUT = env('OUT_DIR');
const { chromium } = createRequire(join(env('PLAYWRIGHT_MODULES'), 'x.js'))('playwright-core');
const axeSource = readFileSync(join(env('AXE_MODULES'), 'axe-core', 'axe.min.js'), 'utf8');

const failures = [];
const cspViolations = [];
const log = (m) => console.log(`[dashboard] ${m}`);
const expect = (ok, what) => {
  if (!ok) throw new Error(`expectation failed: ${what}`);
};

const browser = await chromium.launch({
  executablePath: env('CHROMIUM'),
  headless: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
const page = await context.newPage();
page.on('console', (m) => {
  if (/Content Security Policy|Refused to (execute|load|apply)/.test(m.text())) cspViolations.push(m.text());
});
page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));

/** axe-core on the current page (serious/critical violations fail), then a screenshot. */
async function check(name) {
  await page.evaluate(axeSource); // CDP evaluation: not subject to the page's CSP
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of bad) failures.push(`${name}: axe ${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(', ')}`);
  log(`${name}: ${page.url()} axe violations ${result.length} (serious/critical ${bad.length})`);
  await page.screenshot({ path: join(OUT, `${name}.png`) });
}

async function go(path) {
  const resp = await page.goto(new URL(path, BASE).href);
  return resp ? resp.status() : 0;
}

async function call(tool) {
  const r = await fetch(`${CALL}?tool=${encodeURIComponent(tool)}`);
  return r.json();
}

/** Reloads `path` until its main text matches `re` (events arrive asynchronously). */
async function waitFor(path, re, what, seconds = 30) {
  for (let i = 0; i < seconds; i++) {
    await go(path);
    if (re.test(await page.locator('main').innerText())) return;
    await page.waitForTimeout(1000);
  }
  throw new Error(`timed out waiting for ${what} on ${path}`);
}

async function signIn(email, password) {
  await go('/signin');
  const form = page.locator('form[action="/signin"]');
  await form.getByLabel('Email').fill(email);
  await form.getByLabel('Password').fill(password);
  await form.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(new URL('/', BASE).href);
}

try {
  // Sign in.
  await go('/signin');
  await check('signin');
  await signIn(env('ADMIN_EMAIL'), env('ADMIN_PASSWORD'));
  expect((await page.locator('header').innerText()).includes(env('ADMIN_EMAIL')), 'signed in as the admin');
  await check('overview');

  // Publish the example server.
  await go(`/catalog?team=${TEAM}`);
  const publish = page.locator('form[method="post"][action="/catalog"]');
  await publish.getByLabel('Team').selectOption(TEAM);
  await publish.getByLabel('Server name').fill('example');
  await publish.getByLabel('Spec (JSON, as in MCPServer)').fill(JSON.stringify({
    image: 'registry.local/example-mcp',
    description: 'The example MCP server',
    tools: [
      { name: 'echo', sideEffect: 'read', description: 'Echoes its text' },
      { name: 'upper', sideEffect: 'read', description: 'Upper-cases its text' },
    ],
  }, null, 2));
  await publish.getByRole('button', { name: 'Publish' }).click();
  await page.waitForURL(/ok=server-published/);
  expect((await page.locator('main').innerText()).includes('example'), 'the catalog lists the server');
  await check('catalog');
  await go(`/catalog/${TEAM}/example?agent=${AGENT}`);
  expect((await page.locator('#cfg-claude_desktop').innerText()).includes('mcp-runtime'), 'connect config');
  expect(await page.locator('button.copy').first().isVisible(), 'copy buttons are revealed by the script');
  await check('connect');

  // Grant the agent `echo`.
  await go(`/governance?team=${TEAM}`);
  const grant = page.locator('form[action="/governance/grants"]');
  await grant.getByLabel('Team').selectOption(TEAM);
  await grant.getByLabel('Grant name').fill('demo-echo');
  await grant.getByLabel('Spec (JSON)').fill(JSON.stringify({
    serverRef: { name: 'example' },
    subject: { agentID: AGENT },
    maxTrust: 'low',
    allowedSideEffects: ['read'],
    toolRules: [{ name: 'echo', decision: 'allow' }],
  }, null, 2));
  await grant.getByRole('button', { name: 'Create grant' }).click();
  await page.waitForURL(/ok=grant-saved/);

  // A governed call: allowed, and it shows up in the events and analytics.
  const allowed = await call('echo');
  log(`allowed call: ${allowed.status}`);
  expect(allowed.status === 200, `the granted call is allowed (${JSON.stringify(allowed)})`);
  await waitFor(`/events?team=${TEAM}&tool_name=echo&decision=allow`, /echo[\s\S]*allow/, 'the allowed call');
  await go(`/governance?team=${TEAM}`);
  await check('governance');
  await waitFor(`/analytics?team=${TEAM}&window_days=1`, /echo/, 'the call in analytics');
  expect(await page.locator('figure.chart svg').count() >= 3, 'charts are drawn');
  await check('analytics');
  await page.evaluate(() => document.querySelector('figure.chart').scrollIntoView());
  await page.screenshot({ path: join(OUT, 'analytics-charts.png') });

  // Revoke the grant's sessions: the next call is denied, with its reason.
  await go(`/governance?team=${TEAM}`);
  const row = page.locator('tr', { hasText: 'demo-echo' });
  await row.getByRole('button', { name: 'Revoke sessions' }).click();
  await page.waitForURL(/ok=grant-revoke-sessions/);
  const denied = await call('echo');
  log(`call after revoke: ${denied.status}`);
  expect(denied.status === 401 || denied.status === 403, `the call after the revoke is denied (${JSON.stringify(denied)})`);
  await waitFor(`/events?team=${TEAM}&decision=deny`, /session_revoked/, 'the denial with its reason');
  await check('events');
  await page.locator('main table a').first().click();
  await page.waitForURL(/events\/detail/);
  expect(/session_revoked/.test(await page.locator('main').innerText()), 'the detail shows the reason');
  await check('event-detail');

  // Replay: disabling the grant would have denied the allowed call.
  await go('/replay');
  const replay = page.locator('form[action="/replay"]');
  await replay.getByLabel('Team').selectOption(TEAM);
  await replay.getByLabel('Server').fill('example');
  await replay.getByLabel('Changed grants (MCPAccessGrant YAML)').fill(
    `apiVersion: mcpruntime.org/v1alpha1\nkind: MCPAccessGrant\nmetadata: {name: demo-echo}\nspec:\n  serverRef: {name: example}\n  subject: {agentID: ${AGENT}}\n  maxTrust: low\n  allowedSideEffects: [read]\n  disabled: true\n`,
  );
  await replay.getByRole('button', { name: 'Replay' }).click();
  await page.waitForSelector('section.result');
  const report = await page.locator('section.result').innerText();
  expect(/Changed calls[\s\S]*echo/.test(report), `the replay shows the changed call: ${report}`);
  await check('replay');

  // The remaining pages.
  for (const [path, name] of [[`/agents?team=${TEAM}`, 'agents'], ['/keys', 'keys'], ['/teams', 'teams'], [`/teams/${TEAM}`, 'team'], ['/admin', 'admin']]) {
    const status = await go(path);
    expect(status === 200, `${path} answers 200 (${status})`);
    await check(name);
  }

  // Sign out.
  await page.locator('header').getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/signin$/);
  expect((await go('/governance')) === 200 && page.url().endsWith('/signin'), 'signed out: back to sign-in');

  // A non-admin: no admin link, the admin page is refused.
  await signIn(env('USER_EMAIL'), env('USER_PASSWORD'));
  expect((await page.locator('nav a[href="/admin"]').count()) === 0, 'no admin link for a viewer');
  const status = await go('/admin');
  expect(status === 403, `the admin page is refused (${status})`);
  await check('forbidden');
} catch (e) {
  failures.push(String(e && e.stack ? e.stack : e));
  try {
    await page.screenshot({ path: join(OUT, 'failure.png') });
    failures.push(`at ${page.url()}: ${(await page.locator('body').innerText()).slice(0, 2000)}`);
  } catch (_) { /* best effort */ }
} finally {
  await browser.close();
}

for (const v of cspViolations) failures.push(`CSP violation: ${v}`);
if (failures.length) {
  console.error(failures.join('\n'));
  process.exit(1);
}
log('all steps passed');
