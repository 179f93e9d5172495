// The README walk-through in headless Chromium, as a developer does it in the browser:
// open the playground, run an example, subscribe as Alice in the live results panel, add a
// result in the lab tab, see it arrive in the panel, see the email in the mailbox list.
//
// usage: node walkthrough.mjs http://127.0.0.1:PORT   (CHROMIUM=/path overrides the browser)
// Prints one JSON line { ok, steps: [{ step, ms }], error, consoleErrors } and exits 0 only
// when every step passed and the page logged no error. Used by api/tests/it/http/browser.rs.
import puppeteer from 'puppeteer-core';

const base = process.argv[2];
if (!base) {
  console.error('usage: node walkthrough.mjs http://127.0.0.1:PORT');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT = 20000;
const steps = [];
const consoleErrors = [];
const started = Date.now();

function step(name) {
  steps.push({ step: name, ms: Date.now() - started });
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

async function run() {
  const browser = await puppeteer.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(String(error)));

    // 1. Open the playground (README: "open http://127.0.0.1:8080/").
    await page.goto(`${base}/`, { waitUntil: 'networkidle0', timeout: WAIT });
    await page.waitForSelector('.graphiql-container', { timeout: WAIT });
    await page.waitForSelector('#live-toggle', { timeout: WAIT });
    step('playground rendered');

    // 2. Run an example as Alice: ▶, then the MyResults operation.
    await page.click('.graphiql-execute-button');
    const menuItem = await page.waitForSelector('::-p-xpath(//*[@role="menuitem"][contains(., "MyResults")])', { timeout: WAIT });
    await menuItem.click();
    await waitForResponse(page, '"Alice"');
    step('example MyResults answered as Alice');

    // 3. Subscribe as Alice in the live results panel.
    await page.click('#live-toggle');
    await page.waitForFunction(
      () => document.getElementById('live-status').textContent === 'listening',
      { timeout: WAIT }
    );
    step('subscribed as Alice');

    // 4. Add a result as the lab: the second tab, ▶.
    const tabs = await page.$$('.graphiql-tab-button');
    if (tabs.length < 2) throw new Error(`expected the lab tab, found ${tabs.length} tab(s)`);
    await tabs[1].click();
    await page.waitForFunction(
      () => document.querySelector('.graphiql-query-editor')?.innerText.includes('AddHbA1c'),
      { timeout: WAIT }
    );
    await page.waitForFunction(
      () => document.querySelector('.graphiql-tab-active')?.textContent.includes('AddHbA1c'),
      { timeout: WAIT }
    );
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
    step('result added as the lab');

    // 5. See it arrive in the panel.
    await page.waitForFunction(
      () => [...document.querySelectorAll('#live-deliveries .delivery')].some((li) => li.textContent.includes('Hemoglobin A1c') && li.textContent.includes('6.3')),
      { timeout: WAIT }
    );
    step('result arrived in the live panel');

    // 6. See the notification: the email in the mailbox list.
    await page.waitForFunction(
      () => [...document.querySelectorAll('#live-mailbox li')].some((li) => li.textContent.includes('email to alice@example.org')),
      { timeout: WAIT }
    );
    step('email listed in the mailbox');
  } finally {
    await browser.close();
  }
}

let error = null;
try {
  await run();
} catch (e) {
  error = String(e && e.stack ? e.stack : e);
}
const ok = error === null && consoleErrors.length === 0;
console.log(JSON.stringify({ ok, steps, error, consoleErrors }));
process.exit(ok ? 0 : 1);
