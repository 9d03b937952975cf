/**
 * Headless Chromium for the browser tests (Bun leg): the binary scripts/ensure-chromium.sh
 * provides (TROUPE_CHROMIUM, set by scripts/test.sh), driven by playwright-core.
 */
import { type Browser, chromium } from "playwright-core";

/** Chromium's flags for this machine: headless, no sandbox as root, no calls home. */
export const CHROMIUM_ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.TROUPE_CHROMIUM ?? "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
  });
}
