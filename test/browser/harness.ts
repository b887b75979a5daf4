import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import type { Browser, CDPSession, Page } from 'playwright-core'
import { startRig, type Rig } from '../fixtures/onboarding.js'

import type { Test } from 'tap'

type Tap = Test

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const SCREENSHOTS = join(process.cwd(), '.ci', 'out', 'screenshots')

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

export interface BrowserRig extends Rig {
  origin: string
  browser: Browser
  page: Page
  cdp: CDPSession
  authenticatorId: string
  screenshot(name: string): Promise<void>
}

/**
 * The real server listening on localhost (the WebAuthn RP id), Debian's Chromium driven by playwright-core,
 * and a CDP virtual platform authenticator (ctap2, internal, resident keys, user verification).
 * Returns null (and skips) where Chromium is not installed, except in CI, where that is a failure.
 */
export async function startBrowserRig(t: Tap, options: { isUserVerified?: boolean } = {}): Promise<BrowserRig | null> {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI) t.fail(`Chromium is required in CI at ${CHROMIUM}`)
    else t.comment(`skipped: no Chromium at ${CHROMIUM}; apt-get install chromium`)
    return null
  }
  const port = await freePort()
  const origin = `http://localhost:${port}`
  const rig = await startRig(t, {
    env: { WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: origin, CORS_ORIGINS: origin, DEMO_UI: 'true' },
  })
  await rig.app.listen({ port, host: '127.0.0.1' })
  const { chromium } = await import('playwright-core')
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  })
  t.teardown(() => browser.close())
  const context = await browser.newContext()
  const page = await context.newPage()
  const cdp = await context.newCDPSession(page)
  await cdp.send('WebAuthn.enable', { enableUI: false })
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: options.isUserVerified ?? true,
      automaticPresenceSimulation: true,
    },
  })
  await mkdir(SCREENSHOTS, { recursive: true })
  return {
    ...rig,
    origin,
    browser,
    page,
    cdp,
    authenticatorId,
    screenshot: async (name) => { await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true }) },
  }
}
