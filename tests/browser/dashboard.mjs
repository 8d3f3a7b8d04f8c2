// The operator's tour: sign in with the admin token, see the fleet, join a channel and watch
// its chat rate rise from the simulator, open the focused view and see a coaching hint arrive
// live, check that chat-controlled text cannot inject markup, pause the agent and see it kept
// after a reload, compare channels, and look at it all on a phone.
//
// Env: BYTE_ADMIN_TOKEN, BYTE_CHANNELS (comma-separated, already joined), BYTE_NEW_CHANNEL
// (joined here through the UI; the runner raids it and sends a hostile chat line meanwhile).

import { env, scenario, step, shot, signIn, assertClean } from "./lib.mjs";

const ADMIN = env("BYTE_ADMIN_TOKEN");
const CHANNELS = env("BYTE_CHANNELS").split(",");
const NEW = env("BYTE_NEW_CHANNEL");
const rowOf = (page, login) => page.locator(`#fleet tbody tr[data-login="${login}"]`);

await scenario("dashboard", async ({ newPage }) => {
  const page = await newPage();

  await step("sign in with the admin token and see the fleet", async () => {
    await signIn(page, ADMIN);
    await page.locator("#who").filter({ hasText: "Operator" }).waitFor();
    for (const login of CHANNELS) await rowOf(page, login).waitFor({ timeout: 20000 });
    // Live numbers arrive: every pre-joined channel shows chat from the simulator.
    await page.waitForFunction((logins) => logins.every((l) => {
      const n = document.querySelector(`#fleet tr[data-login="${l}"] .col-chat_rate .big-num`);
      return n && parseFloat(n.textContent) > 0;
    }), CHANNELS, { timeout: 30000 });
    await shot(page, "fleet");
  });

  await step(`join ${NEW} from the fleet and watch its chat rate rise`, async () => {
    await page.getByLabel("Join channel").fill(NEW);
    await page.getByRole("button", { name: "Join", exact: true }).click();
    const row = rowOf(page, NEW);
    await row.waitFor({ timeout: 15000 });
    await page.waitForFunction((l) => {
      const n = document.querySelector(`#fleet tr[data-login="${l}"] .col-chat_rate .big-num`);
      return n && parseFloat(n.textContent.replace(/[^0-9.]/g, "")) > 0;
    }, NEW, { timeout: 40000 });
    await shot(page, "fleet-joined");
  });

  await step("sort and filter the fleet", async () => {
    await page.getByRole("button", { name: /^Channel/ }).click();
    await page.waitForFunction(() => document.querySelector("#fleet thead th.col-login")?.getAttribute("aria-sort") === "ascending");
    await page.waitForFunction(() => {
      const logins = [...document.querySelectorAll("#fleet tbody tr")].map((r) => r.dataset.login);
      return logins.length > 1 && logins.every((l, i) => i === 0 || logins[i - 1] <= l);
    }, null, { timeout: 10000 });
    await page.getByLabel("Find a channel by name").fill(NEW);
    await page.waitForFunction((l) => {
      const rows = [...document.querySelectorAll("#fleet tbody tr")];
      return rows.length === 1 && rows[0].dataset.login === l;
    }, NEW, { timeout: 10000 });
    await page.getByLabel("Find a channel by name").fill("");
    await page.waitForFunction((n) => document.querySelectorAll("#fleet tbody tr").length === n, CHANNELS.length + 1, { timeout: 10000 });
  });

  let before = [];
  await step("open the focused view; the live stream connects", async () => {
    await page.getByRole("link", { name: NEW, exact: true }).click();
    await page.locator("#channel-view").waitFor();
    await page.locator("#live-state").filter({ hasText: "Live" }).waitFor({ timeout: 20000 });
    before = await page.$$eval("#hint-feed li.hint", (els) => els.map((e) => e.dataset.id));
  });

  await step("a coaching hint arrives live (the runner raids the channel)", async () => {
    await page.waitForFunction((known) => [...document.querySelectorAll("#hint-feed li.hint")]
      .some((e) => !known.includes(e.dataset.id) && e.dataset.kind === "raid_arriving"), before, { timeout: 60000 });
    const title = await page.locator("#hint-feed li.hint[data-kind=raid_arriving] .hint-title").first().textContent();
    if (!/Raid from/.test(title)) throw new Error(`unexpected raid hint title: ${title}`);
    // The live context fills the tiles and the explained factors.
    await page.waitForFunction(() => /\d/.test(document.querySelector("#kpi-rate")?.textContent || ""));
    await page.locator(".factor").first().waitFor({ timeout: 20000 });
    await shot(page, "channel");
  });

  await step("HUD mode shows the coaching feed alone, in big type", async () => {
    await page.getByRole("button", { name: "HUD mode" }).click();
    await page.waitForFunction(() => document.body.classList.contains("hud"));
    if (await page.locator("#panel-history").isVisible()) throw new Error("HUD mode still shows the history");
    await page.locator("#hint-feed li.hint[data-kind=raid_arriving]").first().waitFor({ state: "visible" });
    const size = await page.locator("#hint-feed .hint-title").first().evaluate((e) => parseFloat(getComputedStyle(e).fontSize));
    if (size < 28) throw new Error(`HUD hint title is ${size}px`);
    await shot(page, "hud", { fullPage: false });
    await page.keyboard.press("Escape");
    await page.waitForFunction(() => !document.body.classList.contains("hud"));
  });

  await step("chat-controlled text is shown as text, never as markup", async () => {
    // The runner sends a question whose text is an <img onerror> payload.
    await page.locator("#panel-chat .questions li", { hasText: "<img src=x onerror=" }).first().waitFor({ timeout: 30000 });
    const injected = await page.evaluate(() => ({
      flag: window.__byteXss === undefined ? null : window.__byteXss,
      imgs: document.querySelectorAll("#channel-view img").length,
    }));
    if (injected.flag !== null || injected.imgs !== 0) throw new Error(`markup from chat was rendered: ${JSON.stringify(injected)}`);
  });

  await step("history charts are drawn by uPlot from the rollups", async () => {
    const n = await page.locator("#panel-history .uplot canvas").count();
    if (n < 4) throw new Error(`expected 4 history charts, found ${n}`);
    // The runner stored 90 minutes of rollups for this channel: the last hour is drawn.
    await page.waitForFunction(() => Number(document.querySelector("#panel-history")?.dataset.loaded) >= 50, null, { timeout: 20000 });
    if (await page.locator("#panel-history .chart-empty").first().isVisible()) throw new Error("history says it is empty");
    await page.locator("#panel-history").screenshot({ path: `${process.env.BYTE_ARTIFACTS}/history.png` });
  });

  await step("pause the agent; it stays paused after a reload", async () => {
    await page.getByRole("button", { name: "Pause the agent" }).click();
    await page.locator(".agent-state[data-paused=true]").waitFor({ timeout: 10000 });
    await page.locator("#agent-pill").filter({ hasText: "Agent paused" }).waitFor();
    await page.reload();
    await page.locator("#channel-view").waitFor();
    await page.locator(".agent-state[data-paused=true]").waitFor({ timeout: 15000 });
    await page.getByRole("button", { name: "Resume the agent" }).waitFor();
    await shot(page, "channel-paused");
  });

  await step("the fleet shows the pause", async () => {
    await page.getByRole("link", { name: "Fleet", exact: true }).click();
    await rowOf(page, NEW).locator(".pill-paused").waitFor({ timeout: 10000 });
  });

  await step("compare two channels", async () => {
    await rowOf(page, CHANNELS[0]).getByRole("checkbox").check();
    await rowOf(page, NEW).getByRole("checkbox").check();
    await page.getByRole("button", { name: /Compare selected/ }).click();
    await page.locator("#compare-title").waitFor();
    await page.waitForFunction(() => document.querySelectorAll(".compare .uplot").length === 4);
    await page.waitForFunction(() => Number(document.querySelector(".compare")?.dataset.loaded) >= 50, null, { timeout: 20000 });
    await shot(page, "compare");
  });

  await step("panic button: suspend and resume every channel", async () => {
    await page.getByRole("link", { name: "Fleet", exact: true }).click();
    await page.locator("#panic").click();
    await page.getByRole("dialog").getByRole("button", { name: "Suspend all" }).click();
    await page.locator("#suspended-banner").waitFor({ timeout: 10000 });
    await shot(page, "fleet-suspended", { fullPage: false });
    await page.locator("#panic").click();
    await page.getByRole("dialog").getByRole("button", { name: "Resume all" }).click();
    await page.locator("#suspended-banner").waitFor({ state: "detached", timeout: 10000 });
  });

  await step("phone-sized screens", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await rowOf(page, NEW).waitFor();
    await shot(page, "fleet-phone", { fullPage: false });
    await page.goto(`/#/channel/${NEW}`);
    await page.locator("#live-state").filter({ hasText: "Live" }).waitFor({ timeout: 20000 });
    await page.locator("#hint-feed li.hint").first().waitFor();
    await shot(page, "channel-phone", { fullPage: false });
    // Nothing overflows the viewport horizontally.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) throw new Error(`page is ${overflow}px wider than a phone screen`);
  });

  await assertClean(page);
});
