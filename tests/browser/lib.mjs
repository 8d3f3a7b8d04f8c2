// Shared helpers of the browser scenarios: Debian's Chromium through playwright-core, a page
// that fails the scenario on any script error or CSP violation, named steps, screenshots.
//
// Scenarios are started by tests/it/browser.rs with the environment:
//   BYTE_BASE_URL       http://127.0.0.1:<port> of a running Byte
//   BYTE_ARTIFACTS      where screenshots go (target/browser-artifacts)
//   CHROMIUM            the browser (default /usr/bin/chromium)
// plus scenario-specific tokens and channel names. Synchronisation is by polling the page
// (locators and waitForFunction with timeouts), never by fixed sleeps.

import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`missing environment variable ${name}`);
  return v;
};

export const BASE = env("BYTE_BASE_URL");
const ARTIFACTS = env("BYTE_ARTIFACTS", "target/browser-artifacts");
mkdirSync(ARTIFACTS, { recursive: true });

/** Launches headless Chromium. */
export async function launch() {
  return chromium.launch({
    executablePath: env("CHROMIUM", "/usr/bin/chromium"),
    headless: true,
    // Containers often run as root, where Chromium's sandbox cannot start.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
}

/**
 * A page whose script errors, failed API calls to our own server (other than the expected
 * statuses) and Content-Security-Policy violations are collected in `problems`.
 */
export async function newPage(browser, { viewport = { width: 1440, height: 900 }, permissions = [] } = {}) {
  const context = await browser.newContext({ viewport, baseURL: BASE });
  if (permissions.length) await context.grantPermissions(permissions, { origin: BASE });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    const text = m.text();
    if (m.type() === "error" && !/Failed to load resource/.test(text)) problems.push(`console error: ${text}`);
    if (/Content Security Policy/i.test(text)) problems.push(`CSP: ${text}`);
  });
  // The page reports CSP violations as DOM events too; record them where we can read them.
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  page.problems = problems;
  return page;
}

/** Fails when the page logged errors or violated the CSP. */
export async function assertClean(page) {
  const csp = await page.evaluate(() => window.__cspViolations || []).catch(() => []);
  const all = [...page.problems, ...csp.map((v) => `CSP violation: ${v}`)];
  if (all.length) throw new Error(`the page reported problems:\n  ${all.join("\n  ")}`);
}

let stepNo = 0;
/** Runs one named step, logging its start and duration. */
export async function step(name, fn) {
  stepNo += 1;
  const started = Date.now();
  console.log(`[${stepNo}] ${name}`);
  try {
    const out = await fn();
    console.log(`    ok (${Date.now() - started} ms)`);
    return out;
  } catch (e) {
    console.log(`    FAILED after ${Date.now() - started} ms`);
    throw e;
  }
}

/** Saves a screenshot as <artifacts>/<name>.png. */
export async function shot(page, name, options = {}) {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true, ...options });
  console.log(`    screenshot ${path}`);
  return path;
}

/** Signs in through the form. */
export async function signIn(page, token) {
  await page.goto("/");
  await page.getByLabel("Your access token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/**
 * Runs a scenario: prints the failure (with a screenshot of every open page) and exits
 * non-zero, so the Rust runner shows what happened.
 */
export async function scenario(name, body) {
  // Failure screenshots of an earlier run would mislead.
  for (const f of readdirSync(ARTIFACTS)) if (f.startsWith(`${name}-failure-`)) rmSync(join(ARTIFACTS, f));
  const browser = await launch();
  const pages = [];
  const track = async (opts) => { const p = await newPage(browser, opts); pages.push(p); return p; };
  const deadline = setTimeout(() => { console.error(`${name}: scenario timed out`); process.exit(3); }, Number(env("BYTE_SCENARIO_TIMEOUT_MS", "240000")));
  try {
    await body({ browser, newPage: track });
    console.log(`${name}: passed`);
  } catch (e) {
    console.error(`${name}: ${e.stack || e}`);
    for (const [i, p] of pages.entries()) {
      await shot(p, `${name}-failure-${i}`).catch(() => {});
      if (p.problems.length) console.error(`page ${i} problems:\n  ${p.problems.join("\n  ")}`);
    }
    process.exitCode = 1;
  } finally {
    clearTimeout(deadline);
    await browser.close().catch(() => {});
  }
}
