// The README tour in headless Chromium, as a developer does it in the browser: open the
// playground, run an example as Alice, subscribe as Alice in the live results panel, add a
// result in the lab tab, see it arrive, see the email with its link in the mailbox, open a
// new tab (the project's welcome), open the patient view, see the new point on the trend
// chart, and see a second result arrive there live.
//
// usage: node walkthrough.mjs http://127.0.0.1:PORT [SCREENSHOT_DIR]
//   (CHROMIUM=/path overrides the browser). Prints one JSON line
//   { ok, steps: [{ step, ms }], error, consoleErrors, failedRequests, screenshots } and exits
//   0 only when every step passed and no page logged an error or had a request fail. On
//   failure each open page is saved as SCREENSHOT_DIR/walkthrough-<n>.png.
// Used by api/tests/it/http/browser.rs.
import { mkdirSync } from 'node:fs';
import puppeteer from 'puppeteer-core';

const base = process.argv[2];
const screenshotDir = process.argv[3];
if (!base) {
  console.error('usage: node walkthrough.mjs http://127.0.0.1:PORT [SCREENSHOT_DIR]');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT = 20000;
const steps = [];
const consoleErrors = [];
const failedRequests = [];
const screenshots = [];
const started = Date.now();
let browser = null;

function step(name) {
  steps.push({ step: name, ms: Date.now() - started });
}

// Every page is watched the same way: console errors, uncaught exceptions, failed requests.
function watch(page) {
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(String(error)));
  page.on('requestfailed', (request) => {
    // A WebSocket the page closes on purpose is not a failure.
    if (request.resourceType() !== 'websocket') {
      failedRequests.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText}`);
    }
  });
  page.on('response', (response) => {
    if (response.status() >= 400) failedRequests.push(`${response.request().method()} ${response.url()}: ${response.status()}`);
  });
  return page;
}

// The text of the response pane (GraphiQL renders it with CodeMirror).
async function responseText(page) {
  return page.$eval('.graphiql-response', (el) => el.innerText).catch(() => '');
}

async function waitForResponse(page, needle) {
  try {
    await page.waitForFunction(
      (needle) => {
        const pane = document.querySelector('.graphiql-response');
        return pane && pane.innerText.includes(needle);
      },
      { timeout: WAIT },
      needle
    );
  } catch (e) {
    throw new Error(`no ${needle} in the response pane: ${await responseText(page)}`);
  }
}

// Waits for `predicate` in the page, or fails with `what`.
async function expect(page, what, predicate, ...args) {
  try {
    await page.waitForFunction(predicate, { timeout: WAIT }, ...args);
  } catch (e) {
    throw new Error(`${what}: ${String(e.message || e).split('\n')[0]}`);
  }
}

const badge = (page) => page.$eval('#tab-badge', (el) => el.textContent).catch(() => '');

async function run() {
  browser = await puppeteer.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    defaultViewport: { width: 1440, height: 900 },
  });
  const page = watch(await browser.newPage());

  // 1. Open the playground (README: "open http://127.0.0.1:8080/").
  await page.goto(`${base}/`, { waitUntil: 'networkidle0', timeout: WAIT });
  await page.waitForSelector('.graphiql-container', { timeout: WAIT });
  await expect(page, 'the panel lists the demo patients', () => document.querySelectorAll('#live-user option').length >= 3);
  await expect(page, 'the first tab is Alice\'s', () => document.getElementById('tab-badge').textContent === 'Alice Nguyen — patient');
  step('playground rendered, first tab badged Alice Nguyen — patient');

  // 2. Run an example as Alice: ▶, then the MyResults operation.
  await page.click('.graphiql-execute-button');
  const menuItem = await page.waitForSelector('::-p-xpath(//*[@role="menuitem"][contains(., "MyResults")])', { timeout: WAIT });
  await menuItem.click();
  await waitForResponse(page, '"Alice"');
  step('example MyResults answered as Alice');

  // 3. Subscribe as Alice in the live results panel (the picker's first patient).
  const picked = await page.$eval('#live-user', (el) => el.selectedOptions[0].textContent);
  if (picked !== 'Alice Nguyen — patient') throw new Error(`the panel listens as ${picked}`);
  await page.click('#live-toggle');
  await expect(page, 'the panel listens', () => document.getElementById('live-status').textContent === 'listening as Alice Nguyen — patient');
  step('subscribed as Alice');

  // 4. Add a result as the lab: the second tab, ▶.
  const tabs = await page.$$('.graphiql-tab-button');
  if (tabs.length < 2) throw new Error(`expected the lab tab, found ${tabs.length} tab(s)`);
  await tabs[1].click();
  await expect(page, 'the lab tab opens', () => document.querySelector('.graphiql-query-editor')?.innerText.includes('AddHbA1c'));
  await expect(page, 'the lab tab is active', () => document.querySelector('.graphiql-tab-active')?.textContent.includes('AddHbA1c'));
  await expect(page, 'the lab tab is badged', () => document.getElementById('tab-badge').textContent === 'Riverside LIS — lab');
  // GraphiQL may drop a click that lands while it swaps the tab's editors: click again
  // only if no mutation was sent.
  let sent = 0;
  page.on('request', (request) => {
    if (request.method() === 'POST' && (request.postData() || '').includes('AddHbA1c')) sent += 1;
  });
  // The button itself may be replaced mid-click (then puppeteer reports it detached).
  for (let attempt = 0; attempt < 5 && sent === 0; attempt += 1) {
    try {
      await page.click('.graphiql-execute-button');
    } catch (e) {
      if (!/detached|not clickable/.test(String(e))) throw e;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  if (sent === 0) throw new Error('the lab tab never sent its mutation');
  await waitForResponse(page, 'eventId');
  const added = await responseText(page);
  if (!added.includes('FINAL')) throw new Error(`addTestResult did not store a FINAL result: ${added}`);
  step('result added as the lab (tab badged Riverside LIS — lab)');

  // 5. See it arrive in the panel.
  await expect(page, 'the result arrives in the panel', () => [...document.querySelectorAll('#live-deliveries .delivery')].some((li) => li.textContent.includes('Hemoglobin A1c') && li.textContent.includes('6.3')));
  step('result arrived in the live panel');

  // 6. The email in the mailbox, whole: recipient, time, subject, body and its link.
  await expect(page, 'the email is in the mailbox', () => [...document.querySelectorAll('#live-mailbox .mail-email')].some((li) =>
    li.querySelector('.mail-meta').textContent.includes('to alice@example.org') &&
    li.querySelector('time')?.dateTime &&
    li.querySelector('.mail-subject')?.textContent.length > 0 &&
    li.querySelector('.mail-body a[href^="http"]')));
  step('email with its link in the mailbox');

  // 7. A new tab shows the project's welcome, as Alice.
  await page.click('.graphiql-tab-add');
  await expect(page, 'a new tab shows the welcome text', () => document.querySelector('.graphiql-query-editor')?.innerText.includes('Patient Portal Results API — a new tab'));
  step('new tab shows the welcome text');

  // 8. The patient view, as Alice: the results, a corrected one with its history, the trend.
  const patient = watch(await browser.newPage());
  await patient.goto(`${base}/playground/patient`, { waitUntil: 'networkidle0', timeout: WAIT });
  await expect(patient, 'the patient view lists results', () => document.querySelectorAll('#results .result').length > 3);
  await expect(patient, 'a flag is highlighted', () => [...document.querySelectorAll('#results .flag')].some((f) => f.textContent === 'HIGH'));
  const corrected = await patient.waitForSelector('::-p-xpath(//button[contains(@class, "result")][.//span[@class="corrected"]])', { timeout: WAIT });
  await corrected.focus();
  await patient.keyboard.press('Enter');
  await expect(patient, 'the corrected result shows its range and history', () =>
    document.getElementById('observations').textContent.includes('4–5.6 %') &&
    document.querySelectorAll('#history li').length >= 2);
  step('patient view: results, flags, a corrected result with its history');
  await expect(patient, 'the trend chart has the new point', () => document.querySelector('#trend svg .point[data-value="6.3"]'));
  step('the new point is on the trend chart');

  // 9. Another result as the lab: the chart gains its point live (resultReady → query again).
  const lab = await page.evaluate(async () => {
    const config = JSON.parse(document.getElementById('playground-config').textContent);
    const tokens = await (await fetch(config.demo.tokensPath)).json();
    const token = tokens.users.find((u) => u.role === 'lab').token;
    const variables = JSON.parse(config.demo.labVariables);
    variables.input.observations[0].valueNumeric = 6.1;
    variables.input.issuedAt = new Date(Date.now() - 1000).toISOString();
    const response = await fetch(config.graphqlPath, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: config.demo.labQuery, variables }),
    });
    return response.json();
  });
  if (lab.errors) throw new Error(`the second addTestResult failed: ${JSON.stringify(lab.errors)}`);
  await expect(patient, 'the trend chart updates live', () => document.querySelector('#trend svg .point[data-value="6.1"]'));
  step('the trend chart updated live');
}

// On failure: every open page as a PNG in the screenshot folder.
async function keepScreenshots() {
  if (!browser || !screenshotDir) return;
  mkdirSync(screenshotDir, { recursive: true });
  const pages = await browser.pages();
  for (const [i, page] of pages.entries()) {
    const path = `${screenshotDir}/walkthrough-${i}.png`;
    try {
      await page.screenshot({ path, fullPage: true });
      screenshots.push(path);
    } catch (e) {
      // A page that cannot be captured leaves no file; the others are still kept.
    }
  }
}

let error = null;
try {
  await run();
} catch (e) {
  error = String(e && e.stack ? e.stack : e);
}
const ok = error === null && consoleErrors.length === 0 && failedRequests.length === 0;
if (!ok) await keepScreenshots();
if (browser) await browser.close();
console.log(JSON.stringify({ ok, steps, error, consoleErrors, failedRequests, screenshots }));
process.exit(ok ? 0 : 1);
