/**
 * A real browser for the dashboard's tests: Debian's Chromium (scripts/peers/chromium.sh, run by
 * the e2e global set-up) driven by playwright-core, headless, no browser download. A page is
 * watched as it runs: every request it makes (anything off the server's origin is
 * recorded apart), every console error and uncaught exception.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { inject } from 'vitest';
import { ROOT } from './readme.js';

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

/** Where the tests write their screenshots (git-ignored). */
export const SCREENSHOT_DIR = path.join(ROOT, 'test-results', 'dashboard');

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: inject('chromiumBin'), args: CHROMIUM_ARGS });
}

export interface WatchedPage {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Every URL the page asked for, in order. */
  readonly requests: string[];
  /** Requests to anywhere but `origin`. */
  readonly outside: string[];
  /** Console messages of type error, and uncaught exceptions. */
  readonly errors: string[];
  close(): Promise<void>;
}

/** A fresh context (its own storage) and page, at a laptop's screen size, watched. */
export async function watchedPage(browser: Browser, origin: string, viewport = { width: 1366, height: 768 }): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const requests: string[] = [];
  const outside: string[] = [];
  const errors: string[] = [];
  // Listened to, not intercepted: routing each request through the test would slow the page
  // it measures. The page's Content-Security-Policy is what blocks anything else.
  context.on('request', (request) => {
    const url = request.url();
    requests.push(url);
    if (new URL(url).origin !== origin) outside.push(url);
  });
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  return { context, page, requests, outside, errors, close: () => context.close() };
}

/** Writes a full-page screenshot as test-results/dashboard/<name>.png; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** scripts/peers/chromium.sh's Chromium (test/support/chromium.ts). */
    chromiumBin: string;
  }
}
