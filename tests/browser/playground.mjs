// Drives the playground page in headless Chromium over the DevTools protocol (CDP), spoken
// over a pipe (--remote-debugging-pipe: fd 3 carries commands in, fd 4 replies out, each
// message a JSON text ended by a NUL byte), so no npm package is needed.
//
//   node tests/browser/playground.mjs URL QUESTION COLLECTION > result.json
//
// Opens URL, picks COLLECTION, types QUESTION, clicks Ask, waits until the page reports it is
// done, and prints what the page shows as one JSON object. The caller asserts on it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url, question, collection] = process.argv.slice(2);
if (!url || !question) {
  console.error('usage: node playground.mjs URL QUESTION [COLLECTION]');
  process.exit(2);
}
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
const profile = mkdtempSync(join(tmpdir(), 'lore-chromium-'));
const browser = spawn(chromium, [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
  '--no-first-run', '--no-default-browser-check', '--disable-extensions',
  '--remote-debugging-pipe', `--user-data-dir=${profile}`, 'about:blank',
], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });

let stderr = '';
browser.stderr.on('data', (d) => { stderr += d; });

const out = browser.stdio[3];
const inp = browser.stdio[4];
let nextId = 1;
const pending = new Map();
const waiters = [];
let buf = Buffer.alloc(0);
inp.on('data', (chunk) => {
  buf = Buffer.concat([buf, chunk]);
  let nul;
  while ((nul = buf.indexOf(0)) >= 0) {
    const msg = JSON.parse(buf.subarray(0, nul).toString('utf8'));
    buf = buf.subarray(nul + 1);
    if (msg.id && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) reject(new Error(JSON.stringify(msg.error)));
      else resolve(msg.result);
    } else if (msg.method) {
      for (const w of waiters.slice()) {
        if (w.method === msg.method && (!w.session || w.session === msg.sessionId)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(msg.params);
        }
      }
    }
  }
});

function send(method, params = {}, sessionId) {
  const id = nextId++;
  const msg = { id, method, params };
  if (sessionId) msg.sessionId = sessionId;
  out.write(JSON.stringify(msg) + '\0');
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}

function once(method, session) {
  return new Promise((resolve) => waiters.push({ method, session, resolve }));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function evaluate(session, expression) {
  const r = await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, session);
  if (r.exceptionDetails) throw new Error('page script failed: ' + JSON.stringify(r.exceptionDetails));
  return r.result.value;
}

let code = 0;
const giveUp = setTimeout(() => {
  console.error('playground: no result within 120 s\n' + stderr.slice(-2000));
  process.exit(1);
}, 120000);

try {
  const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
  const { sessionId: s } = await send('Target.attachToTarget', { targetId, flatten: true });
  await send('Page.enable', {}, s);
  await send('Runtime.enable', {}, s);
  const loaded = once('Page.loadEventFired', s);
  await send('Page.navigate', { url }, s);
  await loaded;
  // The collection list arrives from /v1/collections after load.
  for (let i = 0; i < 100; i++) {
    const ok = await evaluate(s, `[...document.getElementById('collection').options].some(o => o.value === ${JSON.stringify(collection || 'default')})`);
    if (ok) break;
    await sleep(100);
  }
  await evaluate(s, `(() => {
    document.getElementById('collection').value = ${JSON.stringify(collection || 'default')};
    document.getElementById('question').value = ${JSON.stringify(question)};
    document.getElementById('ask').click();
    return true;
  })()`);
  let state = '';
  for (let i = 0; i < 1000; i++) {
    state = await evaluate(s, `document.getElementById('status').textContent + '|' + !document.getElementById('error').hidden`);
    if (state.startsWith('done|') || state.endsWith('|true')) break;
    await sleep(100);
  }
  const shown = await evaluate(s, `(() => {
    const t = (id) => document.getElementById(id).textContent;
    return {
      status: t('status'),
      error: document.getElementById('error').hidden ? null : t('error'),
      title: document.title,
      decision: t('decision'),
      confidence: t('confidence'),
      threshold: t('threshold'),
      answer: t('answer'),
      refusal_shown: !document.getElementById('refusal').hidden,
      refusal_reason: t('refusal-reason'),
      citations: [...document.querySelectorAll('#citations li')].map(li => li.textContent),
      search_confidence: t('search-confidence'),
      chunks: [...document.querySelectorAll('#chunks tr')].map(tr =>
        [...tr.children].map(td => td.textContent)),
    };
  })()`);
  process.stdout.write(JSON.stringify(shown) + '\n');
} catch (e) {
  console.error('playground: ' + e.message + '\n' + stderr.slice(-2000));
  code = 1;
} finally {
  clearTimeout(giveUp);
  try { await Promise.race([send('Browser.close'), sleep(3000)]); } catch (_) { /* gone */ }
  if (browser.exitCode === null && browser.signalCode === null) {
    const exited = new Promise((r) => browser.once('exit', r));
    browser.kill('SIGKILL');
    await exited;
  }
  try {
    rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
  } catch (_) { /* the caller's scratch directory goes anyway */ }
}
process.exit(code);
