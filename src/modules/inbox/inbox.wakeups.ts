// What a long-poll waits on; plugins/inbox-wakeups.ts provides it (LISTEN/NOTIFY).

export interface InboxSubscription {
  /**
   * Resolves true once the agency may have a new message since subscribing (a NOTIFY for it, or the
   * listener coming back after a loss, or the process closing), false at the timeout or on abort.
   */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<boolean>
  cancel(): void
}

export interface InboxWakeups {
  /** Subscribe before reading the inbox, so a message committed in between is not missed. */
  subscribe(agencyId: string): InboxSubscription
  /** Long-polls waiting in this process right now. */
  readonly waiting: number
  /** Whether this process hears NOTIFYs right now (false while the listener reconnects). */
  readonly listening: boolean
  /** True once the app closes: long-polls answer with what they have instead of waiting. */
  readonly closing: boolean
}
