/**
 * The web chat page (web/, served by local/web-server.ts) in headless Chromium against the e2e Herald: two users
 * chat both ways with typing, read receipts and presence; one closes the page, misses three messages and finds
 * them once and in order when he comes back; a third signs in and sends with the keyboard alone; a group; paging
 * back through history; a narrow screen. Debian's chromium driven by playwright-core (its own browser download
 * does not work here). Leaves a screenshot in test-results/web-chat.png.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { HeraldClient } from '../../client';
import { REPO_ROOT } from '../../local/state';
import { startWebServer, type WebServer } from '../../local/web-server';
import { tokenFor, unique } from './client';

const CHROMIUM = process.env.HERALD_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const RESULTS_DIR = join(REPO_ROOT, 'test-results');
const SCREENSHOT = join(RESULTS_DIR, 'web-chat.png');
const WAIT = 30_000;

const alice = unique('alice');
const bob = unique('bob');
const carol = unique('carol');

let web: WebServer;
let outDir: string;
let browser: Browser;
const contexts: BrowserContext[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM}: the web chat tests need Debian's chromium package. Install it with\n` +
        '  apt-get update && apt-get install -y --no-install-recommends chromium\n' +
        '(.ci/run does this; playwright-core cannot download a browser here). HERALD_CHROMIUM=<path> picks another.',
    );
  }
  outDir = mkdtempSync(join(tmpdir(), 'herald-web-'));
  web = await startWebServer({
    port: 0,
    wsUrl: inject('heraldTarget').wsUrl,
    mintToken: (u) => tokenFor(u),
    outDir,
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await browser?.close();
  await web?.stop();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

async function newContext(viewport = { width: 1000, height: 720 }): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport });
  contexts.push(context);
  return context;
}

async function openPage(context: BrowserContext, path = ''): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on('pageerror', (error) => pageErrors.push(`${page.url()}: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(`${page.url()}: console: ${message.text()}`);
  });
  await page.goto(new URL(path, web.url).href);
  return page;
}

/** Signs in with `?user=` and waits for the connection. */
async function signIn(context: BrowserContext, user: string): Promise<Page> {
  const page = await openPage(context, `?user=${user}`);
  await connected(page);
  return page;
}

const connected = (page: Page) => page.locator('.connection.online').waitFor();

const conversationButton = (page: Page, title: string) =>
  page.locator('.conversation-item', { has: page.locator('.title', { hasText: title }) });

/** The texts of the stored messages shown in the open conversation, top to bottom. */
const messageTexts = (page: Page) =>
  page.locator('ol.messages li.message:not(.pending) .text').allTextContents();

const waitForMessage = (page: Page, text: string) =>
  page.locator('ol.messages li.message:not(.pending) .text').getByText(text, { exact: true }).waitFor();

async function send(page: Page, text: string): Promise<void> {
  const composer = page.getByLabel(/^Message to /);
  await composer.fill(text);
  await composer.press('Enter');
  await waitForMessage(page, text); // acknowledged: no longer "Sending…"
}

/** The id of the focused element (a string to evaluate: this file's types are Node's, not the DOM's). */
const focusedId = (page: Page) => page.evaluate('document.activeElement ? document.activeElement.id : ""');

/** Moves focus with Tab until the element with `id` has it, as a keyboard user would. */
async function tabTo(page: Page, id: string, maxPresses = 25): Promise<void> {
  for (let i = 0; i < maxPresses; i++) {
    if ((await focusedId(page)) === id) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`Tab never reached #${id}`);
}

// Each step waits on real deliveries through the local cloud, which a busy machine slows down.
describe('the web chat page', { timeout: 120_000 }, () => {
  let aliceContext: BrowserContext;
  let bobContext: BrowserContext;
  let alicePage: Page;
  let bobPage: Page;

  it('serves the page and its dev endpoints, and refuses bad user ids and foreign hosts', async () => {
    const page = await fetch(web.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await (await fetch(new URL('/api/config', web.url))).json()).toEqual({
      wsUrl: inject('heraldTarget').wsUrl,
    });
    const token = await fetch(new URL(`/api/token?user=${alice}`, web.url));
    expect(token.status).toBe(200);
    expect(await token.json()).toMatchObject({ userId: alice, token: expect.stringMatching(/^ey/) });
    const bad = await fetch(new URL('/api/token?user=a:b', web.url));
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: expect.stringContaining('user id') });
    expect((await fetch(new URL('/api/token', web.url))).status).toBe(400);
    expect((await fetch(new URL('/../package.json', web.url))).status).toBe(404);
    const foreign = await new Promise<number>((resolve, reject) => {
      // fetch() will not send another Host header: a page on a rebound DNS name would.
      const req = request(
        new URL('/api/token?user=alice', web.url),
        { headers: { host: 'evil.test' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(foreign).toBe(403);
  });

  it('lets two users chat both ways, with typing, a read receipt and presence', async () => {
    bobContext = await newContext();
    aliceContext = await newContext();
    bobPage = await signIn(bobContext, bob);
    alicePage = await signIn(aliceContext, alice);

    // Alice starts a direct chat with Bob by his user id and says hello.
    await alicePage.getByLabel('Direct chat with user id').fill(bob);
    await alicePage.getByRole('button', { name: 'Chat', exact: true }).click();
    await alicePage.getByRole('heading', { name: bob }).waitFor();
    await send(alicePage, 'Hi Bob');

    // The conversation appears live in Bob's list with its unread count; opening it reads it.
    const fromAlice = conversationButton(bobPage, alice);
    await fromAlice.locator('.badge', { hasText: '1 unread' }).waitFor();
    await fromAlice.click();
    await waitForMessage(bobPage, 'Hi Bob');
    await expect.poll(() => focusedId(bobPage)).toBe('composer-text');
    await fromAlice.locator('.badge').waitFor({ state: 'detached' });

    // Alice sees that Bob read it.
    await alicePage.locator('li.message.mine .seen', { hasText: 'Seen' }).waitFor();

    // Bob types: Alice sees it; he answers: Alice gets the message live and the indicator goes.
    await bobPage.getByLabel(/^Message to /).pressSequentially('Hi Ali', { delay: 20 });
    await alicePage.locator('.typing', { hasText: `${bob} is typing` }).waitFor();
    await bobPage.getByLabel(/^Message to /).pressSequentially('ce', { delay: 20 });
    await bobPage.getByLabel(/^Message to /).press('Enter');
    await waitForMessage(bobPage, 'Hi Alice');
    await waitForMessage(alicePage, 'Hi Alice');
    await alicePage.locator('.typing', { hasText: 'typing' }).waitFor({ state: 'detached' });
    expect(await messageTexts(alicePage)).toEqual(['Hi Bob', 'Hi Alice']);
    expect(await messageTexts(bobPage)).toEqual(['Hi Bob', 'Hi Alice']);

    // The incoming message was announced to screen readers.
    await alicePage.locator('[aria-live="polite"]', { hasText: `${bob}: Hi Alice` }).waitFor();
  });

  it('catches Bob up when he comes back: three missed messages, in order, once each', async () => {
    await bobPage.close();
    // Bob's last connection closed: Alice, his contact now, sees him go offline.
    await conversationButton(alicePage, bob).locator('.dot.offline').waitFor();

    for (const text of ['while you were away 1', 'while you were away 2', 'while you were away 3'])
      await send(alicePage, text);

    bobPage = await signIn(bobContext, bob);
    await conversationButton(alicePage, bob).locator('.dot.online').waitFor();
    const fromAlice = conversationButton(bobPage, alice);
    await fromAlice.locator('.badge', { hasText: '3 unread' }).waitFor();
    await fromAlice.click();
    await waitForMessage(bobPage, 'while you were away 3');
    const expected = [
      'Hi Bob',
      'Hi Alice',
      'while you were away 1',
      'while you were away 2',
      'while you were away 3',
    ];
    expect(await messageTexts(bobPage)).toEqual(expected);
    // Nothing arrives twice later either (a live push and a catch-up of the same event).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await messageTexts(bobPage)).toEqual(expected);
    await alicePage.locator('li.message.mine .seen').last().waitFor();
    expect(await alicePage.locator('li.message.mine').last().locator('.seen').textContent()).toBe('Seen');
  });

  it('signs in, opens a chat and sends with the keyboard alone', async () => {
    const context = await newContext();
    const page = await openPage(context);
    await expect.poll(() => focusedId(page)).toBe('user-id');
    await page.keyboard.type(carol);
    await page.keyboard.press('Enter');
    await connected(page);

    await tabTo(page, 'direct-user');
    await page.keyboard.type(alice);
    await page.keyboard.press('Enter');
    await expect.poll(() => focusedId(page)).toBe('composer-text');
    await page.keyboard.type('Typed without a mouse');
    await page.keyboard.press('Enter');
    await waitForMessage(page, 'Typed without a mouse');
    expect(await page.getByLabel(/^Message to /).inputValue()).toBe('');
    expect(await focusedId(page)).toBe('composer-text');

    // Alice, reading her chat with Bob, sees Carol's conversation arrive with one unread.
    await conversationButton(alicePage, carol).locator('.badge', { hasText: '1 unread' }).waitFor();
    await page.close();
  });

  it('creates a group that its members see', async () => {
    await alicePage.getByText('Create a group').click();
    await alicePage.getByLabel('Group name').fill('Weekend plans');
    await alicePage.getByLabel(/^Members/).fill(`${bob}, ${carol}`);
    await alicePage.getByRole('button', { name: 'Create group' }).click();
    await alicePage.getByRole('heading', { name: 'Weekend plans' }).waitFor();
    await alicePage.locator('li.system', { hasText: 'created "Weekend plans"' }).waitFor();
    await send(alicePage, 'Saturday?');

    const group = conversationButton(bobPage, 'Weekend plans');
    await group.click();
    await waitForMessage(bobPage, 'Saturday?');
    await bobPage.locator('li.system', { hasText: `${alice} created "Weekend plans"` }).waitFor();
    await alicePage.locator('li.message.mine .seen', { hasText: `Seen by ${bob}` }).waitFor();
  });

  it('pages back through history with "Load older messages"', async () => {
    const dave = unique('dave');
    const sender = new HeraldClient({ url: inject('heraldTarget').wsUrl, token: () => tokenFor(dave) });
    try {
      await sender.connect();
      const conversationId = dave < alice ? `dm:${dave}:${alice}` : `dm:${alice}:${dave}`;
      await Promise.all(Array.from({ length: 34 }, (_, i) => sender.send(conversationId, `old ${i + 1}`)));
    } finally {
      sender.close();
    }
    await conversationButton(alicePage, dave).click();
    await waitForMessage(alicePage, 'old 34');
    const firstPage = await messageTexts(alicePage);
    expect(firstPage).toHaveLength(30);
    expect(firstPage[0]).toBe('old 5');
    await alicePage.getByRole('button', { name: 'Load older messages' }).click();
    await waitForMessage(alicePage, 'old 1');
    expect(await messageTexts(alicePage)).toEqual(Array.from({ length: 34 }, (_, i) => `old ${i + 1}`));
    await alicePage.getByRole('button', { name: 'Load older messages' }).waitFor({ state: 'detached' });
  });

  it('fits a narrow screen in one column, and leaves a screenshot', async () => {
    await conversationButton(alicePage, bob).click();
    await waitForMessage(alicePage, 'while you were away 3');
    mkdirSync(RESULTS_DIR, { recursive: true });
    await alicePage.screenshot({ path: SCREENSHOT });

    const narrow = await signIn(await newContext({ width: 390, height: 760 }), alice);
    await conversationButton(narrow, bob).click();
    await waitForMessage(narrow, 'Hi Alice');
    expect(await narrow.locator('.sidebar').isVisible()).toBe(false);
    expect(await narrow.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await narrow.screenshot({ path: join(RESULTS_DIR, 'web-chat-narrow.png') });
    await narrow.getByRole('button', { name: '← Conversations' }).click();
    expect(await narrow.locator('.sidebar').isVisible()).toBe(true);
    expect(await narrow.locator('.thread').isVisible()).toBe(false);
    expect(existsSync(SCREENSHOT)).toBe(true);
    expect(pageErrors).toEqual([]);
  });
});
