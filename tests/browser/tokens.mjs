// Sharing the dashboard safely: a streamer signs in, lands on their channel, tunes the agent,
// mints a moderator token (shown once, copied with the button) and an overlay token (with the
// ready-made OBS URL); the moderator signs in with the link and sees only what they may use;
// the streamer revokes the moderator, whose next request signs them out.
//
// Env: BYTE_STREAMER_TOKEN, BYTE_CHANNEL.

import { env, scenario, step, shot, signIn, assertClean } from "./lib.mjs";

const STREAMER = env("BYTE_STREAMER_TOKEN");
const CHANNEL = env("BYTE_CHANNEL");

await scenario("tokens", async ({ newPage }) => {
  const page = await newPage({ permissions: ["clipboard-read", "clipboard-write"] });

  await step("a streamer token lands on its own channel, without operator controls", async () => {
    await signIn(page, STREAMER);
    await page.locator("#who").filter({ hasText: `Streamer · ${CHANNEL}` }).waitFor();
    await page.waitForURL(new RegExp(`#/channel/${CHANNEL}$`));
    await page.locator("#channel-view").waitFor();
    if (await page.locator("#panic").isVisible()) throw new Error("a streamer sees the panic button");
    await page.goto("/#/");
    await page.waitForURL(new RegExp(`#/channel/${CHANNEL}$`));
  });

  await step("tune the agent: temperature and notes survive a reload", async () => {
    await page.getByLabel("Temperature").fill("0.7");
    await page.getByLabel("Notes for the agent").fill("Charity stream tonight: mention the donation goal. <b>no markup</b>");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.locator(".toast", { hasText: "Agent settings saved" }).waitFor();
    await page.reload();
    await page.waitForFunction(() => document.querySelector("#agent-temperature")?.value === "0.7", null, { timeout: 15000 });
    const notes = await page.getByLabel("Notes for the agent").inputValue();
    if (!notes.startsWith("Charity stream tonight")) throw new Error(`notes not kept: ${notes}`);
  });

  let modToken = "";
  await step("mint a moderator token: shown once, copied with the button", async () => {
    await page.getByLabel("Role").selectOption("moderator");
    await page.getByLabel("Label").fill("Alex <mod>");
    await page.getByRole("button", { name: "Create token" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.waitFor();
    modToken = await dialog.locator("#once-token").inputValue();
    if (!/^byte_[0-9a-f]{16}_[0-9a-f]{64}$/.test(modToken)) throw new Error(`unexpected token shape: ${modToken}`);
    const link = await dialog.locator("#once-link").inputValue();
    if (!link.endsWith(`/#token=${modToken}`)) throw new Error(`unexpected sign-in link: ${link}`);
    await shot(page, "token-once", { fullPage: false });
    await dialog.locator("#once-token").locator("xpath=..").getByRole("button", { name: "Copy" }).click();
    const clip = await page.evaluate(() => navigator.clipboard.readText());
    if (clip !== modToken) throw new Error("the copy button did not copy the token");
    await dialog.getByRole("button", { name: "Done, I saved it" }).click();
    await dialog.waitFor({ state: "detached" });
    const html = await page.content();
    if (html.includes(modToken.slice(-64))) throw new Error("the token is still in the page after closing the dialog");
    await page.locator(".tokens-table td", { hasText: "Alex <mod>" }).waitFor();
  });

  await step("mint an overlay token: the dialog gives the OBS URL, which works", async () => {
    await page.getByLabel("Role").selectOption("overlay");
    await page.getByLabel("Label").fill("OBS");
    await page.getByRole("button", { name: "Create token" }).click();
    const dialog = page.getByRole("dialog");
    const url = await dialog.locator("#once-overlay-url").inputValue();
    if (!url.includes(`/overlay/${CHANNEL}#token=byte_`)) throw new Error(`unexpected overlay URL: ${url}`);
    await dialog.getByRole("button", { name: "Done, I saved it" }).click();
    const overlay = await newPage({ viewport: { width: 1280, height: 720 } });
    await overlay.goto(url);
    await overlay.waitForFunction(() => document.documentElement.dataset.state === "open", null, { timeout: 20000 });
    await overlay.close();
  });

  await step("the moderator signs in with the link and gets the moderator's view", async () => {
    const mod = await newPage();
    await mod.goto(`/#token=${modToken}`);
    await mod.locator("#who").filter({ hasText: `Moderator · ${CHANNEL}` }).waitFor({ timeout: 15000 });
    // The token left the address bar at once.
    if (mod.url().includes("token=")) throw new Error(`token still in the address bar: ${mod.url()}`);
    await mod.locator("#channel-view").waitFor();
    await mod.getByRole("button", { name: /Pause the agent|Resume the agent/ }).waitFor();
    if (!(await mod.getByLabel("Temperature").isDisabled())) throw new Error("a moderator can edit the temperature");
    if (await mod.locator("#panel-tokens").count()) throw new Error("a moderator sees token management");
    if (await mod.locator("#panel-manage").count()) throw new Error("a moderator sees part/retry");
    await mod.locator("#live-state").filter({ hasText: "Live" }).waitFor({ timeout: 20000 });
    await shot(mod, "moderator");

    await step("the streamer revokes the moderator; the moderator is signed out", async () => {
      const row = page.locator(".tokens-table tr", { hasText: "Alex <mod>" });
      await row.getByRole("button", { name: /Revoke/ }).click();
      await page.getByRole("dialog").getByRole("button", { name: "Revoke" }).click();
      await row.waitFor({ state: "detached", timeout: 10000 });
      // The moderator's next API call is refused and the page returns to sign-in.
      await mod.reload();
      await mod.locator("#login-panel").waitFor({ state: "visible", timeout: 20000 });
    });
    await assertClean(mod);
  });

  await assertClean(page);
});
