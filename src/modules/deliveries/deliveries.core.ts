/** Webhook delivery states and when a delivery may be sent again: pure rules, unit-tested without I/O. */
export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed', 'cancelled'] as const
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number]

/** What each state means, for the API's schema and its readers. */
export const DELIVERY_STATUS_MEANINGS: Record<DeliveryStatus, string> = {
  pending: 'being tried, or tried again after a retry was asked for',
  delivered: 'the webhook answered 2xx (final)',
  failed:
    'every attempt failed; the message is still in the inbox, and `POST /v1/deliveries/{messageId}/retry` sends it again',
  cancelled:
    'not tried any more: the agency switched to pull while it was pending (final; the message is in the inbox)',
}

/** Why a delivery in this state cannot be retried, or undefined when it can: only `failed` ones can. */
export function retryRefusal(status: DeliveryStatus): string | undefined {
  switch (status) {
    case 'failed':
      return undefined
    case 'pending':
      return 'This delivery is pending: it is still being tried.'
    case 'delivered':
      return 'This delivery is delivered: the webhook answered 2xx.'
    case 'cancelled':
      return 'This delivery is cancelled: the agency stopped taking webhooks before it was sent; the message is in its inbox (GET /v1/inbox).'
  }
}

/** Why an agency takes no webhook deliveries now, or undefined when it does (active, push, with a URL). */
export function webhookRefusal(agency: {
  status: string
  delivery_mode: string
  delivery_url: string | null
}): string | undefined {
  if (agency.status !== 'active') {
    return `The agency is ${agency.status}: nothing is sent to it until it is active again.`
  }
  if (agency.delivery_mode !== 'push' || !agency.delivery_url) {
    return 'The agency takes its messages by pull now (GET /v1/inbox): set its delivery to push to have them sent.'
  }
  return undefined
}
