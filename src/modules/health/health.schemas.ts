import { Type } from 'typebox'

export const LiveSchema = Type.Object({ status: Type.Literal('ok') })

const Up = Type.Union([Type.Literal('ok'), Type.Literal('unavailable')])

export const ReadySchema = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('unavailable')], {
      description:
        'ok: everything answers; degraded: Postgres answers but Redis does not (work waits in the outbox, ' +
        'the process stays ready); unavailable: this process cannot store work (Postgres away, overloaded or closing)',
    }),
    checks: Type.Object({
      postgres: Up,
      redis: Up,
      process: Type.Union([Type.Literal('ok'), Type.Literal('overloaded'), Type.Literal('closing')]),
    }),
  },
  { $id: 'Readiness' },
)
