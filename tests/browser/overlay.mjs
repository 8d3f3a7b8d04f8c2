// The OBS overlay: loads /overlay/{login}#token=<overlay token>, has a transparent background,
// shows a coaching hint as it is emitted (the runner raids the channel), never puts the token
// in a request URL, and reconnects by itself after the network drops.
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

  await step("it reconnects by itself after the network drops", async () => {
    await page.context().setOffline(true);
    await page.waitForFunction(() => document.documentElement.dataset.state !== "open", null, { timeout: 60000 });
    await page.context().setOffline(false);
    await page.waitForFunction(() => document.documentElement.dataset.state === "open", null, { timeout: 30000 });
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
