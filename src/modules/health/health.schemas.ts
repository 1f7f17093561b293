import { Type } from 'typebox'

export const LiveSchema = Type.Object({ status: Type.Literal('ok') })

export const ReadySchema = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
    checks: Type.Object({
      postgres: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
      redis: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
    }),
  },
  { $id: 'Readiness' },
)
