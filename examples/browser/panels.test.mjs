// Drives the real page in headless Chromium through every panel, then saves a screenshot.
// Run with examples/browser/run (it starts a gateway), or against a running one:
//   GATEWAY_URL=http://127.0.0.1:8080 node --test panels.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const BASE = process.env.GATEWAY_URL ?? "http://127.0.0.1:8080";
const SCREENSHOT = process.env.SCREENSHOT ?? resolve(here, "../../docs/screenshot.png");
const SHOTS = resolve(here, "shots");
const TIMEOUT = 10_000;
const run = Date.now().toString(36);

let browser, context, page;
const problems = [];

function watch(p, name) {
  p.on("console", (msg) => {
    if (msg.type() === "error" && !/(Failed to load resource: the server responded with a status of 4\d\d|Response Status Error Code 4\d\d)/.test(msg.text())) {
      problems.push(`${name} console: ${msg.text()}`);
    }
  });
  p.on("pageerror", (err) => problems.push(`${name} page error: ${err.message}`));
  p.on("request", (req) => {
    if (!req.url().startsWith(BASE) && !req.url().startsWith(BASE.replace("http", "ws"))) {
      problems.push(`${name} requested ${req.url()} outside the gateway`);
    }
  });
}

async function newPage(name) {
  const p = await context.newPage();
  p.setDefaultTimeout(TIMEOUT);
  watch(p, name);
  return p;
}

async function shot(p, name) {
  mkdirSync(SHOTS, { recursive: true });
  await p.screenshot({ path: resolve(SHOTS, `${name}.png`), fullPage: true });
}

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  page = await newPage("main");
});

after(async () => {
  await browser?.close();
});

test("home shows the live health of all three services", async () => {
  await page.goto(`${BASE}/`);
  for (const name of ["gateway", "notifier", "processor"]) {
    await page.locator(".service h3", { hasText: name }).locator(".tag.ok").waitFor();
  }
  await shot(page, "home");
});

test("postgres: create and delete a row, scroll for more", async () => {
  await page.goto(`${BASE}/postgres`);
  await page.locator("#event-rows").waitFor();
  const form = page.locator("#event-form");
  await form.locator("input[name=topic]").fill(`browser-${run}`);
  await form.locator("textarea[name=payload]").fill(`{"run": "${run}", "html": "<b>bold</b>"}`);
  await form.locator("button").click();
  const row = page.locator("#event-rows tr", { hasText: `browser-${run}` }).first();
  await row.waitFor();
  assert.match(await row.locator("td.payload").innerText(), /<b>bold<\/b>/, "payload shown as text, not markup");
  assert.equal(await row.locator("td.payload b").count(), 0);
  const firstRowId = await page.locator("#event-rows tr").first().getAttribute("id");
  assert.equal(firstRowId, await row.getAttribute("id"), "the new row lands on top");
  await row.locator("button", { hasText: "delete" }).click();
  await row.waitFor({ state: "detached" });

  // Bad input: the reason shows in the banner, nothing is added.
  await form.locator("textarea[name=payload]").fill("not json");
  await form.locator("button").click();
  await page.locator("#flash .error", { hasText: "payload is not valid JSON" }).waitFor();

  // Enough rows for a second page, then scroll to the bottom of the table.
  await page.evaluate(async (run) => {
    const token = JSON.parse(document.body.getAttribute("hx-headers"))["x-csrf-token"];
    for (let i = 0; i < 25; i++) {
      await fetch("/events", {
        method: "POST",
        headers: { "x-csrf-token": token, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ source: "web", topic: `scroll-${run}`, payload: `{"n": ${i}}` }),
      });
    }
  }, run);
  await page.reload();
  const rows = page.locator("#event-rows tr[id^=event-]");
  await page.waitForFunction(() => document.querySelectorAll("#event-rows tr[id^=event-]").length >= 20);
  assert.equal(await rows.count(), 20, "the first page has 20 rows");
  await page.locator("#event-rows tr[id^=event-]").last().scrollIntoViewIfNeeded();
  await page.waitForFunction(() => document.querySelectorAll("#event-rows tr[id^=event-]").length > 20);
  await shot(page, "postgres");
});

test("redis: set and get a key, publish and see it arrive", async () => {
  await page.goto(`${BASE}/redis`);
  const key = `k-${run}`;
  await page.locator("#redis-set input[name=key]").fill(key);
  await page.locator("#redis-set input[name=value]").fill("<i>v</i>");
  await page.locator("#redis-set input[name=ttl]").fill("120");
  await page.locator("#redis-set button").click();
  await page.locator("#redis-result", { hasText: "stored" }).waitFor();
  await page.locator("#redis-get input[name=key]").fill(key);
  await page.locator("#redis-get button").click();
  await page.locator("#redis-result", { hasText: "ttl left" }).waitFor();
  assert.match(await page.locator("#redis-result").innerText(), /<i>v<\/i>/);

  await page.locator("#redis-listener .stream").waitFor();
  await page.waitForTimeout(300); // the EventSource connects
  await page.locator("#redis-publish input[name=message]").fill(`hello ${run}`);
  await page.locator("#redis-publish button").click();
  await page.locator("#redis-listener .line", { hasText: `hello ${run}` }).waitFor();
  await shot(page, "redis");
});

test("nats: send a request and see the reply with its latency", async () => {
  await page.goto(`${BASE}/nats`);
  await page.locator("#nats-request input[name=message]").fill(`ping ${run}`);
  await page.locator("#nats-request button").click();
  await page.locator("#nats-reply", { hasText: `echo: ping ${run}` }).waitFor();
  assert.match(await page.locator("#nats-reply").innerText(), /latency:\s+[\d.]+ ms/);
  await page.locator("#nats-request input[name=subject]").fill("orders.new");
  await page.locator("#nats-request button").click();
  await page.locator("#flash .error", { hasText: "switchboard." }).waitFor();
  await shot(page, "nats");
});

test("websocket: chat between two tabs", async () => {
  const alice = await newPage("alice");
  const bob = await newPage("bob");
  for (const [p, name] of [[alice, "alice"], [bob, "bob"]]) {
    await p.goto(`${BASE}/ws`);
    await p.locator("#chat-join input[name=username]").fill(`${name}-${run}`);
    await p.locator("#chat-join button").click();
    await p.locator("#chat-lines .line", { hasText: `${name}-${run} joined` }).waitFor();
  }
  await alice.locator("#chat-presence", { hasText: "2 online" }).waitFor();
  await alice.locator("#chat-form input[name=message]").fill("hi <bob>");
  await alice.locator("#chat-form button").click();
  await bob.locator("#chat-lines .line", { hasText: "hi <bob>" }).waitFor();
  await bob.locator("#chat-form input[name=message]").fill("hi alice");
  await bob.locator("#chat-form button").click();
  await alice.locator("#chat-lines .line", { hasText: "hi alice" }).waitFor();
  await shot(alice, "ws");
  await alice.close();
  await bob.close();
});

test("kafka: produce and see the processed result", async () => {
  await page.goto(`${BASE}/kafka`);
  await page.waitForTimeout(300); // the EventSource connects
  await page.locator("#kafka-produce textarea[name=payload]").fill(`{"run": "${run}"}`);
  await page.locator("#kafka-produce button").click();
  await page.locator("#kafka-produced", { hasText: "offset" }).waitFor();
  await page.locator("#kafka-results .line", { hasText: "stored" }).first().waitFor();
  await page.locator("#kafka-produce textarea[name=payload]").fill("{oops");
  await page.locator("#kafka-produce button").click();
  await page.locator("#flash .error", { hasText: "not valid JSON" }).waitFor();
  await shot(page, "kafka");
});

test("firehose: watch every service's events", async () => {
  await page.goto(`${BASE}/firehose`);
  await page.waitForTimeout(300);
  const other = await newPage("producer");
  await other.goto(`${BASE}/kafka`);
  await other.locator("#kafka-produce textarea[name=payload]").fill(`{"firehose": "${run}"}`);
  await other.locator("#kafka-produce button").click();
  await page.locator("#firehose .line", { hasText: "produce" }).first().waitFor();
  await page.locator("#firehose .line", { hasText: "processor" }).first().waitFor();
  await other.goto(`${BASE}/nats`);
  await other.locator("#nats-request button").click();
  await page.locator("#firehose .line", { hasText: "notifier" }).first().waitFor();
  await other.close();
  await shot(page, "firehose");
});

test("home: a flow's sparkline rises after traffic on that flow", async () => {
  await page.goto(`${BASE}/`);
  // The firehose test produced a record within the sparklines' 30 seconds.
  await page.locator('[data-total="kafka"]', { hasText: /^[1-9]\d* in 30 s$/ }).waitFor();
  await page.locator('[data-total="firehose"]', { hasText: /^[1-9]\d* in 30 s$/ }).waitFor();
  assert.equal(await page.locator(".rate svg.spark polyline").count(), 6);
  // The rates come from the services' metrics, sampled every second. Once the Redis line has
  // been flat for its last seconds, a burst of Redis requests on another page makes it rise.
  await page.waitForFunction((n) => {
    const ys = document.querySelector('.rate[data-flow="redis"] polyline').getAttribute("points").trim().split(" ").slice(-n);
    return ys.every((p) => p.endsWith(",16"));
  }, 6, { timeout: 40000 });
  const other = await newPage("rates");
  await other.goto(`${BASE}/redis`);
  for (let i = 0; i < 5; i++) {
    await other.locator("#redis-set input[name=key]").fill(`rates-${run}-${i}`);
    await other.locator("#redis-set input[name=value]").fill("v");
    await Promise.all([
      other.waitForResponse((r) => r.url().includes("/redis/set") && r.ok()),
      other.locator("#redis-set button").click(),
    ]);
  }
  await other.close();
  await page.waitForFunction((n) => {
    const ys = document.querySelector('.rate[data-flow="redis"] polyline').getAttribute("points").trim().split(" ").slice(-n);
    return ys.some((p) => !p.endsWith(",16"));
  }, 8, { timeout: 20000 });
});

test("screenshot for the README", async () => {
  await page.goto(`${BASE}/`);
  for (const name of ["gateway", "notifier", "processor"]) {
    await page.locator(".service h3", { hasText: name }).locator(".tag").waitFor();
  }
  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
});

test("no console errors, CSP violations or outside requests", () => {
  assert.deepEqual(problems, []);
});
