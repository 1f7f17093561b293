/** Exit statuses of `trm`, part of its stable interface (README, The `trm` command). */
export const EXIT = { ok: 0, failedCheck: 1, usage: 2 } as const

/** Bad usage (exit 2): a value the command cannot take, told in one sentence. */
export class UsageError extends Error {
  override name = 'UsageError'
}
