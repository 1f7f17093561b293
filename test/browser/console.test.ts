import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { AxeBuilder } from '@axe-core/playwright'
import type { BrowserContext, Page } from 'playwright-core'
import t from 'tap'
import { keysGenerateCommand } from '../../src/cli/keys.js'
import { createAgency } from '../../src/modules/agencies/agencies.service.js'
import { seal } from '../helpers/audit.js'
import { findChromium, launchChromium } from '../helpers/browser.js'
import { buildTestApp } from '../helpers/build-app.js'
import { ensureConsoleBuilt } from '../helpers/console.js'
import { tablesContaining } from '../helpers/db-search.js'
import { freePort } from '../helpers/tcp-proxy.js'

// Identifying details a case worker types in: invented, and unlike anything else the hub stores, so
// finding any of them in the database or the logs would mean they leaked.
const IDENTIFYING = {
  givenNames: 'Zorivela',
  familyNames: 'Quistranova-Fictiva',
  dateOfBirth: '1990-04-17',
  documentNumber: 'XQ0000000-INVENTED',
  contactValue: '+40 700 000 999 (invented)',
  narrative: 'Invented narrative: met the outreach team at Glimmerport station; nothing here is real.',
}
const NEEDLES = [
  IDENTIFYING.givenNames,
  IDENTIFYING.familyNames,
  IDENTIFYING.documentNumber,
  IDENTIFYING.contactValue,
  'Glimmerport',
]

/** Where the screenshots go; `TRM_SCREENSHOTS_DIR=docs/screenshots` refreshes the README's. */
const SCREENSHOTS = process.env['TRM_SCREENSHOTS_DIR']

const WAIT = { timeout: 40_000 }

/** Reads the device record from the console's IndexedDB and tries to export both keys. */
const READ_STORED_KEYS = `(async () => {
  const db = await new Promise((resolve, reject) => {
    const opening = indexedDB.open('trm-console')
    opening.onsuccess = () => resolve(opening.result)
    opening.onerror = () => reject(opening.error)
  })
  const device = await new Promise((resolve) => {
    const request = db.transaction('device').objectStore('device').get('device')
    request.onsuccess = () => resolve(request.result)
  })
  db.close()
  const exported = []
  for (const key of [device.signing.key, device.encryption.key]) {
    exported.push(await crypto.subtle.exportKey('jwk', key).then(() => 'exported', (error) => error.name))
  }
  return { extractable: [device.signing.key.extractable, device.encryption.key.extractable], exported }
})()`

// Debian's Chromium, installed when missing; without it (and no way to install it) the test skips, saying why.
const chromiumFound = await findChromium()
const skip = 'missing' in chromiumFound ? `browser tests skipped: ${chromiumFound.missing}` : false
if (skip) t.comment(skip)

t.test(
  'the console: two agencies refer and answer end to end, keys and names stay in the browser',
  { skip },
  async (t) => {
    if ('missing' in chromiumFound) return
    await ensureConsoleBuilt()

    const port = await freePort()
    const origin = `http://127.0.0.1:${port}`
    const { app, logs } = await buildTestApp(t, { PUBLIC_URL: origin, RATE_LIMIT_MAX: '1000000' })
    await app.listen({ port, host: '127.0.0.1' })

    // Each agency's key files exactly as `trm keys generate` writes them, registered as `trm agencies add` does.
    const work = await mkdtemp(path.join(tmpdir(), 'trm-console-'))
    t.teardown(() => rm(work, { recursive: true, force: true }))
    const register = async (name: string, country: string, kind: 'ngo' | 'national_agency', ncp: boolean) => {
      const dir = path.join(work, name)
      await keysGenerateCommand({ out: dir, alg: 'ES256' })
      const jwks = JSON.parse(await readFile(path.join(dir, 'public.jwks.json'), 'utf8'))
      const agency = await createAgency(
        { db: app.db, config: app.config },
        { name, country, kind, nationalContactPoint: ncp, delivery: { mode: 'pull' }, jwks },
        { agencyId: 'cli' },
      )
      return {
        id: agency.id,
        signing: path.join(dir, 'signing.private.jwk.json'),
        encryption: path.join(dir, 'encryption.private.jwk.json'),
      }
    }
    const ngo = await register('Fictional Shelter Association', 'RO', 'ngo', false)
    const ncp = await register('Fictional National Contact Point', 'DE', 'national_agency', true)

    const browser = await launchChromium(chromiumFound.path)
    t.teardown(() => browser.close())
    const requests: string[] = []
    const problems: string[] = []
    const newContext = async () => {
      const context = await browser.newContext({
        locale: 'en-GB',
        timezoneId: 'UTC',
        viewport: { width: 1280, height: 900 },
      })
      context.setDefaultTimeout(WAIT.timeout)
      context.on('request', (request) => requests.push(request.url()))
      context.on('page', watch)
      return context
    }
    const watch = (page: Page) => {
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
      page.on('console', (message) => {
        if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(message.text())
      })
    }
    const screenshot = async (page: Page, name: string) => {
      if (!SCREENSHOTS) return
      await mkdir(SCREENSHOTS, { recursive: true })
      await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true })
    }
    const axe = async (page: Page, where: string) => {
      const result = await new AxeBuilder({ page })
        .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'])
        .analyze()
      const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      t.same(
        serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
        [],
        `axe-core: no serious or critical violation on ${where} (${result.passes.length} rules passed, ` +
          `${result.violations.length - serious.length} minor or moderate)`,
      )
    }

    async function setUp(
      context: BrowserContext,
      agency: { id: string; signing: string; encryption: string },
    ) {
      const page = await context.newPage()
      await page.goto(`${origin}/console/`)
      await page.getByRole('heading', { name: 'Set up this device' }).waitFor()
      await page.getByLabel('Agency id').fill(agency.id)
      await page.locator('#signing').setInputFiles(agency.signing)
      await page.locator('#encryption').setInputFiles(agency.encryption)
      await page.getByRole('button', { name: 'Load the keys' }).click()
      await page.getByRole('heading', { name: 'Inbox' }).waitFor()
      await page.getByTestId('listening').filter({ hasText: 'Listening' }).waitFor()
      return page
    }

    // The NCP opens its inbox first: the referral must arrive there while it waits.
    const ncpContext = await newContext()
    const ngoContext = await newContext()
    const setupPage = await ncpContext.newPage()
    await setupPage.goto(`${origin}/console/`)
    await setupPage.getByRole('heading', { name: 'Set up this device' }).waitFor()
    await axe(setupPage, 'the set-up page')
    await setupPage.close()
    const ncpPage = await setUp(ncpContext, ncp)
    t.match(await ncpPage.getByTestId('agency-name').textContent(), /Fictional National Contact Point/)
    const ngoPage = await setUp(ngoContext, ngo)

    await t.test(
      'the NGO refers a case to the German contact point, identifying details encrypted',
      async (t) => {
        const page = ngoPage
        await page.getByRole('link', { name: 'New referral' }).click()
        await page.getByRole('heading', { name: 'New referral' }).waitFor()
        await page.getByRole('radio', { name: "To a country's national contact point" }).check()
        await page.getByRole('combobox', { name: 'Country', exact: true }).selectOption('DE')
        t.match(
          await page.locator('#recipient-country-hint').textContent(),
          /Fictional National Contact Point/,
        )

        await page.getByRole('radio', { name: 'Urgent', exact: true }).check()
        await page.getByRole('combobox', { name: 'Stage', exact: true }).selectOption('first_assistance')
        await page.getByRole('radio', { name: 'Presumed victim' }).check()
        await page.getByRole('radio', { name: 'Female' }).check()
        await page.getByRole('combobox', { name: 'Add a country to Citizenship' }).selectOption('RO')
        await page.getByRole('button', { name: 'Add a country to Citizenship' }).click()
        await page.getByRole('combobox', { name: 'Add a language to Languages spoken' }).selectOption('ro')
        await page.getByRole('button', { name: 'Add a language to Languages spoken' }).click()
        await page.getByRole('checkbox', { name: 'Forced labour' }).check()
        await page
          .getByRole('combobox', { name: 'Add a country to Countries where it happened' })
          .selectOption('DE')
        await page.getByRole('button', { name: 'Add a country to Countries where it happened' }).click()
        await page.getByRole('combobox', { name: 'Identified in', exact: true }).selectOption('DE')
        await page.getByRole('checkbox', { name: 'Accommodation' }).check()
        await page.getByRole('checkbox', { name: 'Medical care' }).check()
        await page.getByRole('radio', { name: 'Given', exact: true }).check()
        await page.getByRole('checkbox', { name: 'Assistance', exact: true }).check()
        for (const [field, text] of Object.entries(IDENTIFYING)) await page.locator(`#s-${field}`).fill(text)
        await page.getByRole('combobox', { name: 'Identity document: type' }).selectOption('passport')
        await page.getByRole('combobox', { name: 'Contact: channel' }).selectOption('phone')

        // A child: the minor flag is set and locked, and consent not given by a guardian is refused here.
        await page.getByRole('combobox', { name: 'Age group', exact: true }).selectOption('9-17')
        const minor = page.getByRole('checkbox', { name: 'Minor (also when age is disputed)' })
        t.ok(await minor.isChecked(), 'age 9–17 sets the minor flag')
        t.ok(await minor.isDisabled(), 'and locks it (presumption of minority)')
        await page.getByRole('button', { name: 'Encrypt, sign and send' }).click()
        const summary = page.locator('#form-errors')
        await summary.waitFor()
        t.match(await summary.textContent(), /A minor's consent must be given by a guardian/)
        await axe(page, 'the new-referral form with its errors shown')

        await page.getByRole('combobox', { name: 'Age group', exact: true }).selectOption('18-20')
        t.notOk(await minor.isChecked(), 'an adult age group releases the flag')
        await summary.waitFor({ state: 'detached' })
        t.pass('and the fault shown disappears once fixed')
        await screenshot(page, 'console-new-referral')
        const posted = page.waitForRequest(
          (request) => request.url().endsWith('/v1/referrals') && request.method() === 'POST',
        )
        await page.getByRole('button', { name: 'Encrypt, sign and send' }).click()
        const sent = page.getByTestId('submitted')
        await sent.waitFor()
        t.equal(
          await page.getByTestId('submit-receipt').getAttribute('data-state'),
          'ok',
          'the hub receipt verifies',
        )

        const { jws } = JSON.parse((await posted).postData() ?? '{}') as { jws: string }
        const payload = Buffer.from(jws.split('.')[1]!, 'base64url').toString('utf8')
        t.match(payload, /"sensitive":"ey/, 'the signed document carries the details as a JWE')
        for (const needle of NEEDLES)
          t.notOk(payload.includes(needle), `no "${needle}" in the signed document`)
        t.equal(JSON.parse(payload).victim.ageGroup, '18-20')
      },
    )

    const reference = (await ngoPage.getByTestId('submitted').textContent())?.match(/V-[0-9A-Z]{26}/)?.[0]
    t.ok(reference, `the NGO is shown the victim reference (${reference})`)

    await t.test('the NCP sees it arrive, opens it decrypted and verified, and answers', async (t) => {
      const page = ncpPage
      const row = page.getByTestId('referrals-received').locator('li', { hasText: reference! })
      await row.waitFor()
      await page.getByTestId('messages').getByText('New referral').waitFor()
      await row.getByTestId('status').filter({ hasText: 'Delivered' }).waitFor()
      t.match(await row.textContent(), /Urgent/, 'urgency shown')
      t.match(await row.textContent(), /Acknowledge by/, 'deadline shown')
      await screenshot(page, 'console-inbox')
      await axe(page, 'the inbox')

      await row.getByRole('link', { name: reference! }).click()
      await page.locator('main h1').filter({ hasText: reference! }).waitFor()
      await page.getByTestId('identifying').waitFor()
      for (const id of ['check-signature', 'check-receipt', 'check-decrypted']) {
        t.equal(await page.getByTestId(id).getAttribute('data-state'), 'ok', `${id}: verified`)
      }
      const details = (await page.getByTestId('identifying').textContent()) ?? ''
      for (const text of Object.values(IDENTIFYING)) t.ok(details.includes(text), `decrypted: ${text}`)
      t.match(details, /Passport · XQ0000000-INVENTED/, 'the document with its type, labelled')
      t.match(
        await page.getByRole('region', { name: 'Referral details' }).textContent(),
        /Forced labour.*First assistance|First assistance.*Forced labour/,
        'the clear part of the document, labelled',
      )
      await axe(page, 'the referral')

      const answer = async (type: 'Received' | 'Accepted') => {
        await page.getByRole('group', { name: 'Answer to send' }).getByRole('radio', { name: type }).check()
        await page.getByRole('button', { name: 'Sign and send' }).click()
        await page
          .getByTestId('ack-sent')
          .filter({ hasText: `Sent: ${type}` })
          .waitFor()
        await page.getByTestId('referral-status').filter({ hasText: type }).waitFor()
      }
      await answer('Received')
      await answer('Accepted')
      t.equal(await page.getByTestId('acknowledgements').locator('li[data-type]').count(), 2)
      t.equal(
        await page.getByTestId('ack-sent').locator('.check-ok').count(),
        1,
        'receipt of the answer verified',
      )
      await screenshot(page, 'console-referral')

      await seal(app)
      await page.getByRole('link', { name: 'Audit trail of this referral' }).click()
      await page.getByTestId('trail-events').waitFor()
      t.equal(
        await page.getByTestId('trail-hashes').getAttribute('data-state'),
        'ok',
        'every event hash holds',
      )
      t.equal(
        await page.getByTestId('trail-checkpoint').getAttribute('data-state'),
        'ok',
        'checkpoint verified',
      )
      t.match(await page.getByTestId('trail-events').textContent(), /Referral submitted/)
      await axe(page, 'the audit trail')
    })

    await t.test('the NGO sees both answers, signed by the NCP', async (t) => {
      const page = ngoPage
      await page.getByRole('link', { name: 'Inbox' }).click()
      const row = page.getByTestId('referrals-sent').locator('li', { hasText: reference! })
      await row.getByTestId('status').filter({ hasText: 'Accepted' }).waitFor()
      await row.getByRole('link', { name: reference! }).click()
      const answers = page.getByTestId('acknowledgements')
      await answers.waitFor()
      for (const type of ['received', 'accepted']) {
        const item = answers.locator(`li[data-type="${type}"]`)
        t.equal(await item.locator('.check-ok').count(), 2, `${type}: signature and receipt verified`)
        t.match(await item.textContent(), /Fictional National Contact Point/)
      }
      t.match(
        await page.getByRole('region', { name: 'Identifying details' }).textContent(),
        /encrypted for the recipient/,
        'the sender cannot read what it encrypted to the recipient',
      )
    })

    await t.test('the language switch changes the labels, in every language', async (t) => {
      const page = ngoPage
      await page.getByRole('link', { name: 'Inbox' }).click()
      await page.getByRole('heading', { name: 'Inbox' }).waitFor()
      const status = () => page.getByTestId('referrals-sent').getByTestId('status').first().textContent()
      const seen = new Map<string, string>()
      for (const language of ['en', 'ro', 'de', 'uk', 'it', 'fr', 'es']) {
        await page
          .getByRole('combobox', { name: /Language|Limba|Sprache|Мова|Lingua|Langue|Idioma/ })
          .selectOption(language)
        await page.locator(`html[lang="${language}"]`).waitFor({ state: 'attached' })
        const heading = (await page.locator('main h1').textContent()) ?? ''
        seen.set(
          language,
          `${heading} | ${await page.getByRole('link').nth(1).textContent()} | ${await status()}`,
        )
      }
      t.equal(
        new Set(seen.values()).size,
        7,
        `seven different sets of labels: ${[...seen.values()].join(' / ')}`,
      )
      t.match(seen.get('de'), /Posteingang/)
      t.match(seen.get('de'), /Angenommen/)
      t.match(seen.get('uk'), /Вхідні/)
      await page.reload()
      // The picker shows the language the app started in (read at its first render); the page's
      // `lang` follows in an effect after that render, so it is waited for, not read at once.
      const picker = page.getByRole('combobox', { name: /Language|Limba|Sprache|Мова|Lingua|Langue|Idioma/ })
      t.equal(await picker.inputValue(), 'es', 'the choice is remembered')
      await page.locator('html[lang="es"]').waitFor({ state: 'attached' })
      await page.getByRole('combobox', { name: 'Idioma' }).selectOption('en')
    })

    await t.test('on a phone-sized window the inbox fits', async (t) => {
      const page = await ncpContext.newPage()
      await page.setViewportSize({ width: 390, height: 844 })
      await page.goto(`${origin}/console/#/`)
      await page.getByTestId('referrals-received').locator('li').first().waitFor()
      const overflow = (await page.evaluate(
        'document.documentElement.scrollWidth - window.innerWidth',
      )) as number
      t.ok(overflow <= 0, `no horizontal scrolling (${overflow}px)`)
      await screenshot(page, 'console-inbox-phone')
      await axe(page, 'the inbox on a phone-sized window')
      await page.close()
    })

    await t.test(
      'the keys in IndexedDB cannot be read out, and "forget this device" deletes them',
      async (t) => {
        const page = ngoPage
        // Page scripts as text: this file is type-checked for Node, without the DOM's types.
        const stored = (await page.evaluate(READ_STORED_KEYS)) as {
          extractable: boolean[]
          exported: string[]
        }
        t.same(stored.extractable, [false, false], 'both keys are non-extractable CryptoKeys')
        t.same(stored.exported, ['InvalidAccessError', 'InvalidAccessError'], 'exporting them is refused')

        await page.getByRole('button', { name: 'Forget this device' }).click()
        await page.getByRole('button', { name: 'Yes, delete the keys' }).click()
        await page.getByRole('heading', { name: 'Set up this device' }).waitFor()
        const databases = (await page.evaluate(
          'indexedDB.databases().then((all) => all.map((db) => db.name))',
        )) as string[]
        t.notOk(databases.includes('trm-console'), 'the IndexedDB database is gone')
        await page.reload()
        await page.getByRole('heading', { name: 'Set up this device' }).waitFor()
        t.pass('after a reload the console asks for the keys again')
      },
    )

    await t.test('the hub holds none of the identifying text, and nothing left the origin', async (t) => {
      t.ok((await tablesContaining(app, reference!)).length > 0, 'the search finds what the hub does store')
      for (const needle of NEEDLES) {
        t.same(await tablesContaining(app, needle), [], `no table holds "${needle}"`)
        t.notOk(logs.text.includes(needle), `the logs do not hold "${needle}"`)
      }
      t.ok(logs.lines.length > 0, 'the logs were captured')
      const elsewhere = requests.filter((url) => !url.startsWith(`${origin}/`))
      t.same(elsewhere, [], `every one of ${requests.length} requests went to the hub's origin`)
      t.same(problems, [], 'no script error and no CSP violation in any page')
    })
  },
)
