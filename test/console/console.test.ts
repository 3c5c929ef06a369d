import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type Page, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../infra/queue-function.js";
import { type TestServer, startTestServer } from "../support/server.js";

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it). */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
const ARTIFACTS = join(PROJECT_ROOT, "test-artifacts");

let server: TestServer;
let browser: Browser;
let page: Page;
const topic = `console-${Math.random().toString(36).slice(2, 8)}`;
const api = async (method: string, path: string, body?: unknown) => {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
};

describe.skipIf(!hasChromium)(`the web console in Chromium (${hasChromium ? CHROMIUM : `skipped: no Chromium at ${CHROMIUM}; apt-get install chromium`})`, () => {
  beforeAll(async () => {
    server = await startTestServer({}, { local: true });
    // Chromium as root (CI) needs --no-sandbox; playwright-core stops the process it started on close().
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
    page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    page.on("dialog", (dialog) => void dialog.accept());
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("shows a message published through the API on the timeline and the forecast, cancels it, and the API then answers cancelled", async () => {
    // Prepare: three messages due in the next hour through the API
    const published = [];
    for (const delayMs of [5 * 60_000, 20 * 60_000, 40 * 60_000]) {
      published.push((await api("POST", `/v1/topics/${topic}/messages`, { body: `close order ${delayMs}`, delayMs, tag: "close" })).body);
    }
    const id = published[0]?.messageId as string;

    // Act: open the topic, wait for the timeline's row, cancel it from the console
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${server.url}/console#/topics/${topic}`);
    const row = page.locator(`tr[data-message-id="${id}"]`);
    await row.waitFor({ timeout: 20_000 });
    await expect.poll(() => page.getByTestId("forecast-caption").textContent(), { timeout: 15_000 }).toContain("3 pending messages");
    expect(await page.locator("#forecast canvas").count()).toBeGreaterThan(0);
    await page.getByRole("button", { name: `Cancel ${id}` }).click();
    await expect.poll(() => page.getByTestId("notice").textContent(), { timeout: 10_000 }).toContain(`${id}: cancelled`);

    // Assess: the API says cancelled, the row is gone, the others stay
    const state = await api("GET", `/v1/topics/${topic}/messages/${id}`);
    expect(state.body.state).toBe("cancelled");
    expect((await api("DELETE", `/v1/topics/${topic}/messages/${id}`)).body).toEqual({ messageId: id, outcome: "cancelled" });
    await expect.poll(() => row.count(), { timeout: 15_000 }).toBe(0);
    expect(await page.locator(`tr[data-message-id="${published[1]?.messageId}"]`).count()).toBe(1);
    expect(errors).toEqual([]);
  });

  it("looks a message up with its per-group delivery and delivers another now", async () => {
    // Prepare: a group that has taken one message
    await api("POST", `/v1/topics/${topic}/groups/billing/consume`, { waitSeconds: 0 });
    const later = (await api("POST", `/v1/topics/${topic}/messages`, { body: "deliver me now", delayMs: 3_600_000 })).body.messageId as string;

    // Act: open its page, deliver it now from the console
    await page.goto(`${server.url}/console#/topics/${topic}/messages/${later}`);
    await expect.poll(() => page.getByTestId("message-state").textContent(), { timeout: 15_000 }).toBe("scheduled");
    await page.getByRole("button", { name: "Deliver now", exact: true }).first().click();
    await expect.poll(() => page.getByTestId("notice").textContent(), { timeout: 10_000 }).toContain(`${later}: rescheduled`);

    // Assess: the group receives it now
    const got = await api("POST", `/v1/topics/${topic}/groups/billing/consume`, { waitSeconds: 5 });
    expect(got.body.messages.map((m: { messageId: string }) => m.messageId)).toContain(later);
  });

  it("redrives a dead letter from the console, and its group receives it again", async () => {
    // Prepare: a group that dead-letters on the first failed delivery, and one dead letter
    await api("PUT", `/v1/topics/${topic}/groups/charger`, { maxReceiveCount: 1 });
    const { messageId } = (await api("POST", `/v1/topics/${topic}/messages`, { body: "poison" })).body as { messageId: string };
    const [delivery] = (await api("POST", `/v1/topics/${topic}/groups/charger/consume`, { waitSeconds: 5, max: 16 })).body.messages.filter(
      (m: { messageId: string }) => m.messageId === messageId,
    );
    expect((await api("POST", `/v1/topics/${topic}/groups/charger/nack`, { receiptHandle: delivery.receiptHandle })).body.outcome).toBe("dead-lettered");

    // Act: open the group's dead letters and redrive that one
    await page.goto(`${server.url}/console#/topics/${topic}`);
    await page.getByRole("button", { name: "Dead letters of charger" }).click();
    await page.locator(`tr[data-dead-letter="${messageId}"]`).waitFor({ timeout: 20_000 });
    await page.getByRole("button", { name: `Redrive ${messageId}` }).click();
    await expect.poll(() => page.getByTestId("notice").textContent(), { timeout: 10_000 }).toContain("redrove 1 dead letter into charger");

    // Assess: no dead letter left; the group receives the message again as a fresh delivery
    expect((await api("GET", `/v1/topics/${topic}/groups/charger/dead-letters`)).body.deadLetters).toEqual([]);
    const again = (await api("POST", `/v1/topics/${topic}/groups/charger/consume`, { waitSeconds: 5 })).body.messages;
    expect(again.map((m: { messageId: string; consumedTimes: number }) => [m.messageId, m.consumedTimes])).toEqual([[messageId, 1]]);
  });

  it("is operable by keyboard and names every control, and saves a screenshot", async () => {
    // Prepare: a fresh load (a hash change alone keeps the focus where it was)
    await page.goto("about:blank");
    await page.goto(`${server.url}/console#/topics/${topic}`);
    await page.locator("#timeline tbody tr").first().waitFor({ timeout: 20_000 });

    // Act: every form control's accessible name; the first Tab lands on the skip link
    const unnamed = await page.evaluate(() =>
      [...document.querySelectorAll("input, select, button")]
        .filter((el) => {
          const e = el as HTMLInputElement;
          return !(e.labels && e.labels.length > 0) && !e.getAttribute("aria-label") && !(e.textContent ?? "").trim();
        })
        .map((el) => el.outerHTML.slice(0, 120)),
    );
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => document.activeElement?.textContent);
    await page.keyboard.press("Enter");
    const mainFocused = await page.evaluate(() => document.activeElement?.id === "main" && location.hash.startsWith("#/topics/"));
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.goto(`${server.url}/console#/topics/${topic}`);
    await page.locator("#timeline tbody tr").first().waitFor({ timeout: 20_000 });
    await page.waitForTimeout(4500); // two live refreshes: the throughput chart has points
    await page.screenshot({ path: join(ARTIFACTS, "console.png"), fullPage: true });

    // Assess
    expect(unnamed).toEqual([]);
    expect(focused).toBe("Skip to content");
    expect(mainFocused).toBe(true);
    expect(existsSync(join(ARTIFACTS, "console.png"))).toBe(true);
  });
});
