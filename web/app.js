// The lore playground: asks /v1/answer (streamed as Server-Sent Events) and /v1/search at
// once, and shows the answer, its citations, the confidence, the refusal reason, and the
// ranked chunks with each stage's score. Every piece of text from the server goes through
// textContent, never innerHTML: article text is data, not markup.
'use strict';

const $ = (id) => document.getElementById(id);

function headers(extra) {
  const h = Object.assign({ 'Content-Type': 'application/json' }, extra || {});
  const key = $('apikey').value.trim();
  if (key) h.Authorization = 'Bearer ' + key;
  return h;
}

function fmt(x) {
  return typeof x === 'number' ? x.toFixed(3) : '';
}

function showError(msg) {
  const e = $('error');
  e.textContent = msg;
  e.hidden = false;
}

async function errorOf(resp) {
  try {
    const j = await resp.json();
    if (j && j.error) return resp.status + ': ' + j.error.message;
  } catch (_) { /* not JSON */ }
  return 'HTTP ' + resp.status;
}

async function loadCollections() {
  try {
    const resp = await fetch('/v1/collections', { headers: headers() });
    if (!resp.ok) return;
    const j = await resp.json();
    const sel = $('collection');
    const current = sel.value;
    sel.textContent = '';
    for (const c of j.collections) {
      const o = document.createElement('option');
      o.value = c.name;
      o.textContent = c.name + ' (' + c.articles + ' articles)';
      sel.appendChild(o);
    }
    if ([...sel.options].some((o) => o.value === current)) sel.value = current;
  } catch (_) { /* the page still works with "default" */ }
}

// "**term**" marks in snippets become <mark> elements.
function snippetNode(text) {
  const span = document.createElement('div');
  span.className = 'snippet';
  text.split('**').forEach((part, i) => {
    if (i % 2) {
      const m = document.createElement('mark');
      m.textContent = part;
      span.appendChild(m);
    } else {
      span.appendChild(document.createTextNode(part));
    }
  });
  return span;
}

function renderChunks(j) {
  $('search-confidence').textContent = fmt(j.confidence);
  $('search-decision').textContent = j.decision + (j.reason ? ' (' + j.reason + ')' : '');
  const body = $('chunks');
  body.textContent = '';
  for (const r of j.results) {
    const tr = document.createElement('tr');
    tr.className = 'chunk';
    const rank = document.createElement('td');
    rank.textContent = r.rank;
    tr.appendChild(rank);
    const what = document.createElement('td');
    const title = document.createElement('strong');
    title.textContent = r.heading;
    what.appendChild(title);
    what.appendChild(document.createTextNode(' [' + r.article_id + ']'));
    what.appendChild(snippetNode(r.snippet));
    tr.appendChild(what);
    const s = r.scores;
    for (const [v, rk] of [[s.bm25, s.bm25_rank], [s.dense, s.dense_rank], [s.fused], [s.rerank]]) {
      const td = document.createElement('td');
      td.className = 'num';
      td.textContent = fmt(v) + (rk ? ' (#' + rk + ')' : rk === 0 ? ' (-)' : '');
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  $('retrieval').hidden = false;
}

function renderFinal(j) {
  const answered = j.answered === true;
  const d = $('decision');
  d.textContent = answered ? 'answered' : 'refused';
  d.className = 'badge ' + (answered ? 'answer' : 'refuse');
  $('confidence').textContent = fmt(j.confidence);
  $('threshold').textContent = fmt(j.threshold);
  $('mode').textContent = j.mode || '';
  $('cached').hidden = !j.cached;
  if (answered && typeof j.answer === 'string') $('answer').textContent = j.answer;
  const list = $('citations');
  list.textContent = '';
  for (const c of j.citations || []) {
    const li = document.createElement('li');
    li.className = 'citation';
    // Only http(s) links: an article's URL is content, and a javascript: URL would run.
    const safe = typeof c.url === 'string' && /^https?:\/\//i.test(c.url);
    const a = document.createElement(safe ? 'a' : 'span');
    if (safe) {
      a.href = c.url;
      a.rel = 'noopener noreferrer';
      a.target = '_blank';
    }
    a.textContent = '[' + c.n + '] ' + c.title;
    li.appendChild(a);
    li.appendChild(document.createTextNode(' — ' + c.heading + ' (' + c.article_id + ')'));
    list.appendChild(li);
  }
}

function renderRefusal(r) {
  $('refusal').hidden = false;
  $('refusal-reason').textContent = r.reason;
  $('refusal-detail').textContent = r.detail || '';
  const d = $('decision');
  d.textContent = 'refused';
  d.className = 'badge refuse';
  $('confidence').textContent = fmt(r.confidence);
  const ans = $('answer');
  if (r.withdrawn) ans.classList.add('withdrawn');
  else if (!ans.textContent) ans.textContent = '(no answer: the bot hands this question to a person)';
}

// Reads a text/event-stream body and calls onEvent(name, data) per event.
async function readEvents(resp, onEvent) {
  const reader = resp.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let name = 'message';
      const data = [];
      for (const line of frame.split('\n')) {
        if (line.startsWith('event: ')) name = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      onEvent(name, data.length ? JSON.parse(data.join('\n')) : null);
    }
  }
}

async function ask(ev) {
  ev.preventDefault();
  const question = $('question').value.trim();
  if (!question) return;
  const collection = $('collection').value;
  $('error').hidden = true;
  $('refusal').hidden = true;
  $('answer').textContent = '';
  $('answer').classList.remove('withdrawn');
  $('citations').textContent = '';
  $('chunks').textContent = '';
  $('decision').textContent = '…';
  $('decision').className = 'badge';
  $('confidence').textContent = '';
  $('result').hidden = false;
  $('ask').disabled = true;
  $('status').textContent = 'asking…';
  const body = JSON.stringify({ question, collection, extractive: $('extractive').checked });

  const search = fetch('/v1/search', {
    method: 'POST', headers: headers(), body: JSON.stringify({ question, collection, k: 10 }),
  }).then(async (resp) => {
    if (!resp.ok) throw new Error(await errorOf(resp));
    renderChunks(await resp.json());
  });

  const answer = fetch('/v1/answer', {
    method: 'POST', headers: headers({ Accept: 'text/event-stream' }), body,
  }).then(async (resp) => {
    if (!resp.ok) throw new Error(await errorOf(resp));
    await readEvents(resp, (name, data) => {
      if (name === 'retrieval') $('status').textContent = 'retrieved; answering…';
      else if (name === 'token') $('answer').textContent += data.text;
      else if (name === 'done') renderFinal(data);
      else if (name === 'refusal') renderRefusal(data);
      else if (name === 'error') throw new Error(data.message);
    });
  });

  const results = await Promise.allSettled([answer, search]);
  const failed = results.filter((r) => r.status === 'rejected');
  if (failed.length) showError(failed.map((r) => r.reason.message).join('; '));
  $('status').textContent = failed.length ? '' : 'done';
  $('ask').disabled = false;
}

document.addEventListener('DOMContentLoaded', () => {
  $('ask-form').addEventListener('submit', ask);
  $('apikey').addEventListener('change', loadCollections);
  loadCollections();
});
