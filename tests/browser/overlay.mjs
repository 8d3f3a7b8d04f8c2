// The OBS overlay: loads /overlay/{login}#token=<overlay token>, has a transparent background,
// shows a coaching hint as it is emitted (the runner raids the channel), never puts the token
// in a request URL, reconnects by itself when its stream ends or fails, and says so when the
// token is refused.
//
// Env: BYTE_OVERLAY_TOKEN, BYTE_CHANNEL.

import { env, scenario, step, shot, assertClean } from "./lib.mjs";

const TOKEN = env("BYTE_OVERLAY_TOKEN");
const CHANNEL = env("BYTE_CHANNEL");

await scenario("overlay", async ({ newPage }) => {
  const page = await newPage({ viewport: { width: 1280, height: 720 } });
  const urls = [];
  page.on("request", (r) => urls.push(r.url()));

  await step("load the overlay with an overlay token; the stream connects", async () => {
    await page.goto(`/overlay/${CHANNEL}#token=${TOKEN}`);
    await page.waitForFunction(() => document.documentElement.dataset.state === "open", null, { timeout: 20000 });
    const bg = await page.evaluate(() => [getComputedStyle(document.documentElement).backgroundColor, getComputedStyle(document.body).backgroundColor]);
    if (bg.some((c) => c !== "rgba(0, 0, 0, 0)")) throw new Error(`overlay background is not transparent: ${bg}`);
  });

  await step("the live status line fills in", async () => {
    await page.waitForFunction(() => /Chat\s*[\d.,]+/.test(document.querySelector("#ov-status")?.textContent || ""), null, { timeout: 20000 });
  });

  await step("a coaching hint appears, readable at a glance", async () => {
    const card = page.locator("#ov-hints .ov-hint").first();
    await card.waitFor({ timeout: 60000 });
    const title = await card.locator(".ov-title").textContent();
    if (!title || !title.trim()) throw new Error("hint card has no title");
    const size = await card.locator(".ov-title").evaluate((e) => parseFloat(getComputedStyle(e).fontSize));
    if (size < 24) throw new Error(`hint title is ${size}px: too small to read on stream`);
    await shot(page, "overlay", { fullPage: false, omitBackground: true });
  });

  await step("the token never appears in a request URL (it stays in the fragment)", async () => {
    const leaked = urls.filter((u) => u.split("#")[0].includes(TOKEN));
    if (leaked.length) throw new Error(`token sent in URLs: ${leaked.join(", ")}`);
  });

  await step("it reconnects by itself when the stream ends or the server fails", async () => {
    // A second overlay whose stream requests go through a route: the first is answered with
    // one event and then closed (as a restarting server would), the second with a 503, and
    // from the third on the real server answers.
    const flaky = await newPage({ viewport: { width: 1280, height: 720 } });
    let calls = 0;
    await flaky.route("**/api/v1/channels/*/stream", async (route) => {
      calls += 1;
      if (calls === 1) {
        await route.fulfill({
          status: 200,
          headers: { "content-type": "text/event-stream" },
          body: `: hello\n\nevent: context\ndata: {"chat_rate_per_min": 987, "health": {"score": 61, "label": "healthy"}}\n\n`,
        });
      } else if (calls === 2) {
        await route.fulfill({ status: 503, contentType: "application/json", body: '{"error":{"code":"unavailable","message":"restarting"}}' });
      } else {
        await route.continue();
      }
    });
    const states = [];
    await flaky.exposeFunction("__recordState", (s) => states.push(s));
    await flaky.addInitScript(() => {
      // The document exists before its <html> element does: watch it whole.
      new MutationObserver(() => window.__recordState(document.documentElement.dataset.state))
        .observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
    });
    await flaky.goto(`/overlay/${CHANNEL}#token=${TOKEN}`);
    await flaky.locator("#ov-status", { hasText: "987" }).waitFor({ timeout: 10000 });
    await flaky.waitForFunction(() => document.documentElement.dataset.state === "open"
      && !/987/.test(document.querySelector("#ov-status")?.textContent || ""), null, { timeout: 30000 });
    if (calls < 3) throw new Error(`expected 3 stream requests, saw ${calls}`);
    if (!states.includes("retrying")) throw new Error(`never backed off: ${states.join(" → ")}`);
    console.log(`    states: ${states.join(" → ")}`);
    await flaky.close();
  });

  await step("a revoked or wrong token says so on the overlay", async () => {
    const bad = await newPage({ viewport: { width: 1280, height: 720 } });
    await bad.goto(`/overlay/${CHANNEL}#token=byte_0000000000000000_${"0".repeat(64)}`);
    await bad.waitForFunction(() => document.documentElement.dataset.state === "denied", null, { timeout: 20000 });
    await bad.locator("#ov-conn").filter({ hasText: "not accepted" }).waitFor();
    await shot(bad, "overlay-denied", { fullPage: false, omitBackground: true });
  });

  await assertClean(page);
});
