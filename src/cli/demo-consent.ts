import { randomUUID } from 'node:crypto'
import { signAcknowledgement } from '../sdk/documents.js'
import type { HubClient } from '../sdk/hub-client.js'
import type { AgencyKeys } from '../sdk/keys.js'

interface Holder {
  name: string
  id: string
  client: HubClient
  keys: AgencyKeys
}
interface Withdrawal {
  confirmed: { agencyId: string }[]
  pending: { agencyId: string }[]
}

/**
 * The holder's `consent_withdrawn` message. A message shows once every transaction older than its
 * own has ended, so a read right after the withdrawal may come too early: read again, for 10 s at most.
 */
async function consentMessage(holder: Holder) {
  for (let attempt = 0; attempt < 40; attempt++) {
    const inbox = await holder.client.request<{ items: { type: string; referralId: string }[] }>(
      'GET',
      '/v1/inbox?limit=200',
    )
    const message = inbox.items.find((m) => m.type === 'consent_withdrawn')
    if (message) return message
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  return undefined
}

/**
 * The last part of `trm demo`: RO, which recorded the consent, withdraws all of it on its referral.
 * The hub erases what it holds of the whole chain and tells every holder; each confirms its own
 * erasure with a signed `erasure_confirmed`, and RO's view of the referral shows who confirmed.
 * `holders[0]` is the withdrawing sender. Answers whether every holder confirmed.
 */
export async function demoConsentWithdrawal(demo: {
  say: (step: string, detail?: string) => void
  referralId: string
  holders: readonly Holder[]
}): Promise<boolean> {
  const [sender] = demo.holders
  if (!sender) return false
  const sign = async (holder: Holder, referralId: string, type: string, extra: object = {}) =>
    holder.client.request('POST', `/v1/referrals/${referralId}/acknowledgements`, {
      jws: await signAcknowledgement(
        { id: randomUUID(), referralId, type, createdAt: new Date().toISOString(), ...extra },
        holder.keys.signing,
      ),
    })
  await sign(sender, demo.referralId, 'consent_withdrawn', { scope: 'all' })
  demo.say(
    `${sender.name} withdrew all consent (signed consent_withdrawn)`,
    'the hub erased the stored documents of every link of the chain in the same transaction',
  )
  for (const holder of demo.holders) {
    const message = await consentMessage(holder)
    if (!message) return false
    await sign(holder, message.referralId, 'erasure_confirmed')
  }
  demo.say(
    `each holder read its consent_withdrawn message and confirmed its erasure`,
    demo.holders.map((h) => h.name).join(', '),
  )
  const view = await sender.client.request<{ jws: string | null; consentWithdrawals: Withdrawal[] }>(
    'GET',
    `/v1/referrals/${demo.referralId}`,
  )
  const [withdrawal] = view.consentWithdrawals
  demo.say(
    `${sender.name}'s view: erasure confirmed by ${withdrawal?.confirmed.length ?? 0}, pending ${withdrawal?.pending.length ?? '?'}`,
    `stored referral JWS now ${view.jws === null ? 'erased' : 'still there'}`,
  )
  return (
    view.jws === null &&
    withdrawal?.pending.length === 0 &&
    withdrawal.confirmed.length === demo.holders.length
  )
}
