import { randomUUID } from 'node:crypto'
import type { AckType } from '../../src/modules/referrals/lifecycle.core.js'
import { signAcknowledgement, signReferral } from '../../src/sdk/documents.js'
import type { TestAgency } from './agencies.js'
import { inboxUntil } from './inbox.js'
import { referralDocument } from './referrals.js'

type Json = Record<string, any>

export function acknowledgement(referralId: string, type: AckType, extra: Json = {}): Json {
  const reason = type === 'declined' ? { reason: 'capacity' } : {}
  const outcome = type === 'closed' ? { outcome: 'assistance_completed' } : {}
  return {
    id: randomUUID(),
    referralId,
    type,
    createdAt: new Date().toISOString(),
    ...reason,
    ...outcome,
    ...extra,
  }
}

export async function acknowledge(agency: TestAgency, referralId: string, type: AckType, extra: Json = {}) {
  const jws = await signAcknowledgement(acknowledgement(referralId, type, extra), agency.keys.signing)
  return agency.client.request<Json>('POST', `/v1/referrals/${referralId}/acknowledgements`, { jws })
}

/** The steps that bring a fresh referral to each state through the API. */
const PATHS: Record<string, ['sender' | 'recipient', AckType | 'confirm'][]> = {
  submitted: [],
  delivered: [['recipient', 'confirm']],
  received: [['recipient', 'received']],
  info_requested: [
    ['recipient', 'received'],
    ['recipient', 'info_requested'],
  ],
  accepted: [
    ['recipient', 'received'],
    ['recipient', 'accepted'],
  ],
  declined: [
    ['recipient', 'received'],
    ['recipient', 'declined'],
  ],
  closed: [
    ['recipient', 'received'],
    ['recipient', 'accepted'],
    ['recipient', 'closed'],
  ],
  withdrawn: [['sender', 'withdrawn']],
}

export async function referralIn(state: string, sender: TestAgency, recipient: TestAgency): Promise<string> {
  const document = referralDocument(sender, { agencyId: recipient.id })
  await sender.client.request('POST', '/v1/referrals', {
    jws: await signReferral(document, sender.keys.signing),
  })
  for (const [who, step] of PATHS[state]!) {
    const agency = who === 'sender' ? sender : recipient
    if (step === 'confirm') {
      const isIt = (i: Json) => i['referralId'] === document.id && i['type'] === 'referral'
      const item = (await inboxUntil(agency, (items) => items.some(isIt))).find(isIt)!
      await agency.client.request('POST', '/v1/inbox/confirm', { through: item['cursor'] })
    } else {
      await acknowledge(agency, document.id, step)
    }
  }
  return document.id
}
