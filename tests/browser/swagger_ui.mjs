// The API console in a real browser: headless Chromium, driven by
// playwright-core, opens Swagger UI at /docs and uses "Try it out" the way a
// person would: register (which sets the HTTP-only login cookie in the
// browser), create a project, an agent and a chat session, send a message,
// and read the mock model's reply on the page; then make a chat key, drop the
// cookie, authorize with the key and chat as an end user (the
// X-Convo-End-User field). Run by scripts/browser_test.sh:
//
//   CHROMIUM_BIN=/usr/bin/chromium CONVO_BROWSER_TOOLS=<dir with node_modules/playwright-core> \
//     node tests/browser/swagger_ui.mjs <base-url> <artifact-dir>
//
// The page runs under the server's Content-Security-Policy: any violation
// the browser reports (a console message, or a `securitypolicyviolation`
// event, which an init script forwards to the console) fails the run, so a
// policy too tight for Swagger UI cannot pass unnoticed.
//
// Screenshots: <artifact-dir>/swagger_ui-final.png (the whole page) and
// swagger_ui-send_message.png (the last operation with its reply) after the
// last step; <artifact-dir>/swagger_ui-failure.png when a step fails (exit 1).
import { createRequire } from 'node:module';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, artifacts] = process.argv.slice(2);
if (!base || !artifacts) {
  console.error('usage: node tests/browser/swagger_ui.mjs <base-url> <artifact-dir>');
  process.exit(2);
}
const tools = process.env.CONVO_BROWSER_TOOLS;
const require = createRequire(tools ? join(tools, 'package.json') : import.meta.url);
const { chromium } = require('playwright-core');

const TIMEOUT = 20_000; // every wait
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const started = Date.now();
const log = (msg) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
mkdirSync(artifacts, { recursive: true });

// playwright's launch() refuses --user-data-dir in args; launchPersistentContext
// takes the directory and passes it to Chromium as --user-data-dir.
const userDataDir = mkdtempSync(join(tmpdir(), 'convo-chromium-'));
let context;
let page;
let step = 'launching Chromium';

/** Expands an operation, clicks "Try it out", fills it in, executes it and
 *  returns the live response's status and parsed body, as shown on the page. */
async function tryItOut(opId, { path = {}, headers = {}, body } = {}) {
  const op = page.locator(`#${opId}`);
  await op.waitFor({ timeout: TIMEOUT });
  await op.scrollIntoViewIfNeeded({ timeout: TIMEOUT });
  if (!(await op.evaluate((e) => e.classList.contains('is-open')))) {
    await op.locator('.opblock-summary-control').click({ timeout: TIMEOUT });
  }
  // A second use of an operation finds it in "Try it out" mode already,
  // with the last response shown: clear that, so the one read is new.
  const tryOut = op.locator('.try-out__btn', { hasText: 'Try it out' });
  if (await tryOut.count()) await tryOut.click({ timeout: TIMEOUT });
  const clear = op.locator('button.btn-clear');
  if (await clear.count()) {
    await clear.first().click({ timeout: TIMEOUT });
    await op.locator('.live-responses-table').waitFor({ state: 'detached', timeout: TIMEOUT });
  }
  for (const [name, value] of Object.entries(path)) {
    await op.locator(`tr[data-param-name="${name}"][data-param-in="path"] input`).fill(value, { timeout: TIMEOUT });
  }
  for (const [name, value] of Object.entries(headers)) {
    await op.locator(`tr[data-param-name="${name}"][data-param-in="header"] input`).fill(value, { timeout: TIMEOUT });
  }
  if (body !== undefined) {
    await op.locator('textarea.body-param__text').fill(JSON.stringify(body, null, 2), { timeout: TIMEOUT });
  }
  await op.locator('button.execute').click({ timeout: TIMEOUT });
  const row = op.locator('.live-responses-table tbody tr.response').first();
  await row.waitFor({ timeout: TIMEOUT });
  const status = Number((await row.locator('.response-col_status').innerText({ timeout: TIMEOUT })).trim());
  const bodyBlock = row.locator('.response-col_description .highlight-code pre');
  const text = (await bodyBlock.count()) ? await bodyBlock.first().innerText({ timeout: TIMEOUT }) : '';
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status, text, json };
}

function expect(what, res, status) {
  if (res.status !== status) {
    throw new Error(`${what}: expected HTTP ${status}, the page shows ${res.status}: ${res.text.slice(0, 500)}`);
  }
  log(`${what}: ${res.status}`);
}

function idOf(what, res) {
  const id = res.json?.id;
  if (typeof id !== 'string' || !id) throw new Error(`${what}: no "id" in the response body on the page: ${res.text.slice(0, 500)}`);
  return id;
}

let exitCode = 0;
const cspViolations = [];
const watchdog = setTimeout(() => {
  console.error(`FAIL: the whole run took over 150 s (at: ${step})`);
  process.exit(1);
}, 150_000);
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM_BIN || 'chromium',
    headless: true,
    args: FLAGS,
    viewport: { width: 1400, height: 1000 },
    timeout: TIMEOUT,
  });
  context.setDefaultTimeout(TIMEOUT);
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (err) => log(`page error: ${err.message}`));
  page.on('console', (msg) => {
    const text = msg.text();
    if (/Content Security Policy|securitypolicyviolation/i.test(text)) {
      cspViolations.push(text);
      log(`CSP violation: ${text}`);
    }
  });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`securitypolicyviolation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
  log(`Chromium ${context.browser()?.version() ?? ''} up`);

  step = 'opening /docs';
  await page.goto(`${base}/docs`, { timeout: TIMEOUT });
  await page.locator('#operations-Auth-register').waitFor({ timeout: TIMEOUT });
  log(`Swagger UI rendered ${await page.locator('.opblock').count()} operations`);

  step = 'register';
  const email = `browser-${Date.now()}@example.com`;
  expect('register', await tryItOut('operations-Auth-register', {
    body: { email, password: 'correct horse battery staple', name: 'Browser Test' },
  }), 201);
  const cookies = await context.cookies(base);
  const token = cookies.find((c) => c.name === 'token');
  if (!token || !token.httpOnly) throw new Error(`register: no HTTP-only "token" cookie in the browser (cookies: ${cookies.map((c) => c.name).join(', ') || 'none'})`);

  // From here on, the browser's cookie is the only credential: no token is typed in.
  step = 'create_project';
  const project = await tryItOut('operations-Projects-create_project', {
    body: { name: 'Browser project', description: 'Made through Swagger UI in headless Chromium' },
  });
  expect('create_project', project, 201);
  const projectId = idOf('create_project', project);

  step = 'create_agent';
  const agent = await tryItOut('operations-Agents-create_agent', {
    path: { project_id: projectId },
    body: { name: 'Browser agent', system_prompt: 'You are a helpful assistant.' },
  });
  expect('create_agent', agent, 201);
  const agentId = idOf('create_agent', agent);

  step = 'start_chat';
  const chat = await tryItOut('operations-Chat-start_chat', {
    path: { agent_id: agentId },
    body: { title: 'Browser chat' },
  });
  expect('start_chat', chat, 201);
  const chatId = idOf('start_chat', chat);

  step = 'send_message';
  const message = `hello from headless Chromium ${Date.now()}`;
  const sent = await tryItOut('operations-Chat-send_message', {
    path: { chat_session_id: chatId },
    body: { content: message },
  });
  expect('send_message', sent, 201);
  const reply = sent.json?.assistant_message?.content;
  if (reply !== `echo: ${message}`) {
    throw new Error(`send_message: expected the mock's reply "echo: ${message}", the page shows ${JSON.stringify(reply)}`);
  }
  log(`reply on the page: ${reply}`);

  // The console with a project API key instead of the login: make a chat
  // key, forget the cookie, authorize with the key, and chat as an end user.
  step = 'create_api_key';
  const key = await tryItOut('operations-Keys-create_api_key', {
    path: { project_id: projectId },
    body: { name: 'Browser key', scope: 'chat' },
  });
  expect('create_api_key', key, 201);
  const secret = key.json?.key;
  if (typeof secret !== 'string' || !secret.startsWith('ck_')) throw new Error(`create_api_key: no ck_ secret on the page: ${key.text.slice(0, 300)}`);
  await context.clearCookies();

  step = 'authorize with the key';
  await page.locator('.auth-wrapper .authorize').first().click({ timeout: TIMEOUT });
  const keyBox = page.locator('.modal-ux .auth-container', { hasText: 'ProjectKeyAuth' });
  await keyBox.locator('input').first().fill(secret, { timeout: TIMEOUT });
  await keyBox.locator('button.authorize').click({ timeout: TIMEOUT });
  await page.locator('.modal-ux button.btn-done').first().click({ timeout: TIMEOUT });
  log('authorized with the project API key (ProjectKeyAuth), no cookie left');

  step = 'start_chat with the key';
  const keyed = await tryItOut('operations-Chat-start_chat', {
    path: { agent_id: agentId },
    headers: { 'X-Convo-End-User': 'browser-end-user' },
    body: { title: 'Key chat' },
  });
  expect('start_chat with the key', keyed, 201);
  if (keyed.json?.end_user !== 'browser-end-user') throw new Error(`start_chat with the key: end_user on the page is ${JSON.stringify(keyed.json?.end_user)}`);

  step = 'send_message with the key';
  const keyedMessage = `hello as an end user ${Date.now()}`;
  const keyedSent = await tryItOut('operations-Chat-send_message', {
    path: { chat_session_id: idOf('start_chat with the key', keyed) },
    headers: { 'X-Convo-End-User': 'browser-end-user' },
    body: { content: keyedMessage },
  });
  expect('send_message with the key', keyedSent, 201);
  if (keyedSent.json?.assistant_message?.content !== `echo: ${keyedMessage}`) {
    throw new Error(`send_message with the key: the page shows ${keyedSent.text.slice(0, 300)}`);
  }

  step = 'checking the Content-Security-Policy';
  const csp = (await page.request.get(`${base}/docs`)).headers()['content-security-policy'] ?? '';
  if (!csp.includes("frame-ancestors 'none'")) throw new Error(`/docs: no frame-ancestors 'none' in its Content-Security-Policy: ${csp || 'none'}`);
  if (cspViolations.length) throw new Error(`${cspViolations.length} Content Security Policy violation(s): ${cspViolations.join(' | ')}`);
  log('no Content Security Policy violation reported');

  step = 'screenshots';
  const shot = join(artifacts, 'swagger_ui-final.png');
  await page.screenshot({ path: shot, fullPage: true, timeout: TIMEOUT });
  log(`screenshot (the whole page): ${shot}`);
  // The whole page is some 30,000 pixels tall: the last operation alone is easier to look at.
  const opShot = join(artifacts, 'swagger_ui-send_message.png');
  const clip = await page.locator('#operations-Chat-send_message').evaluate((op) => {
    const top = op.getBoundingClientRect();
    const live = op.querySelector('.live-responses-table').getBoundingClientRect();
    return { x: top.left + scrollX, y: top.top + scrollY, width: top.width, height: live.bottom - top.top + 8 };
  });
  await page.screenshot({ path: opShot, fullPage: true, clip, timeout: TIMEOUT });
  log(`screenshot (send_message and its reply): ${opShot}`);
  console.log(`PASS: Swagger UI in headless Chromium: register, create_project, create_agent, start_chat, send_message, then with a project API key: start_chat, send_message (${((Date.now() - started) / 1000).toFixed(1)} s)`);
} catch (err) {
  exitCode = 1;
  console.error(`FAIL at step "${step}": ${err?.message ?? err}`);
  if (page) {
    const shot = join(artifacts, 'swagger_ui-failure.png');
    try {
      await page.screenshot({ path: shot, fullPage: true, timeout: TIMEOUT });
      console.error(`failure screenshot: ${shot}`);
    } catch (e) {
      console.error(`(no failure screenshot: ${e.message})`);
    }
  }
} finally {
  try {
    await context?.close();
  } catch {}
  rmSync(userDataDir, { recursive: true, force: true });
  clearTimeout(watchdog);
}
process.exit(exitCode);
