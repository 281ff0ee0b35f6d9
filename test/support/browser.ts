/**
 * Debian's Chromium driven by playwright-core (no downloaded browser builds): one browser per call with a
 * fresh --user-data-dir, and the page-side evidence a console test asserts on — dialogs opened and CSP
 * violations reported (both must stay zero), and axe-core's findings.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';

// Page-side code (page.evaluate) runs in the browser; the test program is compiled without the DOM library.
declare const document: any;
declare const window: any;

export const chromiumPath = process.env['BULKHEAD_TEST_CHROMIUM'] ?? '/usr/bin/chromium';
export const chromiumArgs = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** Dialogs (alert/confirm/prompt) any page opened: an executed payload shows up here. */
  dialogs: string[];
  /** CSP violations reported by any page (`securitypolicyviolation` events and console reports). */
  violations(): Promise<string[]>;
  close(): Promise<void>;
}

export const openBrowser = async (): Promise<TestBrowser> => {
  const dir = mkdtempSync(join(tmpdir(), 'bulkhead-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: chromiumPath, args: chromiumArgs, headless: true, viewport: { width: 1280, height: 800 },
  });
  const dialogs: string[] = [];
  const consoleViolations: string[] = [];
  // Injected by the driver (not subject to the page's CSP): records every violation the page reports.
  await context.addInitScript(() => {
    (window as unknown as { __violations: string[] }).__violations = [];
    document.addEventListener('securitypolicyviolation', (event: { violatedDirective: string; blockedURI: string }) => {
      (window as unknown as { __violations: string[] }).__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
    });
  });
  const watch = (page: Page) => {
    page.on('dialog', (dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void dialog.dismiss();
    });
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) consoleViolations.push(message.text());
    });
  };
  context.on('page', watch);
  const page = context.pages()[0] ?? (await context.newPage());
  watch(page);
  return {
    context, page, dialogs,
    async violations() {
      const reported = await Promise.all(context.pages().map((p) => p.evaluate(() => (window as unknown as { __violations?: string[] }).__violations ?? []).catch(() => [])));
      return [...consoleViolations, ...reported.flat()];
    },
    async close() {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical violations on the page as it is now (WCAG 2.x A and AA rules). */
export const seriousAxeViolations = async (page: Page): Promise<Array<{ id: string; impact: string; help: string; nodes: string[] }>> => {
  // Evaluated by the driver, like the init script: the page's CSP (script-src 'self') stays as it is.
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: unknown, options: object): Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown }> }> }> } }).axe;
    const run = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return run.violations.map((v) => ({ id: v.id, impact: v.impact ?? '', help: v.help, nodes: v.nodes.map((n) => JSON.stringify(n.target)) }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
};

/** How many pixels of `canvas` are (close to) `hex`: evidence that a series was drawn, not just a canvas. */
export const countColoredPixels = (page: Page, selector: string, hex: string): Promise<number> =>
  page.evaluate(({ selector, hex }) => {
    const canvas = document.querySelector(selector) as { width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null } | null;
    if (canvas === null) return -1;
    const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i]! - r) < 24 && Math.abs(data[i + 1]! - g) < 24 && Math.abs(data[i + 2]! - b) < 24 && data[i + 3]! > 200) n += 1;
    }
    return n;
  }, { selector, hex });
