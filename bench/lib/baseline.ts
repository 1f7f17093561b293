// The bare baseline of bench/referrals.ts (the STACK-NOTES pipeline), in a child process of its
// own: Fastify 5, one POST route that verifies the ES256 compact JWS with jose (key imported once)
// and writes one transaction of three inserts into three plain tables in its own schema. No auth,
// no rate limit, no helmet, no query builder, no receipt: the floor of what the hub's stack costs.
import Fastify from 'fastify'
import { compactVerify, importJWK, type JWK } from 'jose'
import pg from 'pg'
import { serve, type ToBaseline } from './ipc.js'

let close: (() => Promise<void>) | undefined

async function start(message: Extract<ToBaseline, { type: 'start' }>) {
  const schema = message.schema
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`bad schema name ${schema}`)
  const pool = new pg.Pool({
    connectionString: message.databaseUrl,
    max: message.poolMax,
    application_name: message.applicationName,
    options: `-c search_path=${schema}`,
  })
  pool.on('error', () => {})
  await pool.query(`create schema ${schema}`)
  await pool.query(`
    create table referrals (
      id uuid primary key, sender_id text not null, recipient_country text not null,
      payload jsonb not null, jws text not null, submitted_at timestamptz not null default now());
    create table inbox (
      id bigserial primary key, referral_id uuid not null, jws text not null,
      created_at timestamptz not null default now());
    create table audit (
      id bigserial primary key, referral_id uuid not null, action text not null, details jsonb not null,
      at timestamptz not null default now());
  `)
  const key = await importJWK(message.publicJwk as JWK, 'ES256')
  const decoder = new TextDecoder()

  const app = Fastify({ logger: false })
  app.post(
    '/v1/referrals',
    {
      schema: {
        body: {
          type: 'object',
          required: ['jws'],
          additionalProperties: false,
          properties: { jws: { type: 'string', maxLength: 200_000 } },
        },
      },
    },
    async (request, reply) => {
      const { jws } = request.body as { jws: string }
      let payload: Uint8Array
      try {
        ;({ payload } = await compactVerify(jws, key, { algorithms: ['ES256'] }))
      } catch {
        return reply.code(400).send({ error: 'signature' })
      }
      const document = JSON.parse(decoder.decode(payload)) as {
        id: string
        sender: string
        recipient: { country: string }
      }
      const client = await pool.connect()
      try {
        await client.query('begin')
        await client.query(
          'insert into referrals (id, sender_id, recipient_country, payload, jws) values ($1, $2, $3, $4, $5)',
          [document.id, document.sender, document.recipient.country, JSON.stringify(document), jws],
        )
        await client.query('insert into inbox (referral_id, jws) values ($1, $2)', [document.id, jws])
        await client.query('insert into audit (referral_id, action, details) values ($1, $2, $3)', [
          document.id,
          'referral.submitted',
          JSON.stringify({ sender: document.sender }),
        ])
        await client.query('commit')
      } catch (error) {
        await client.query('rollback').catch(() => {})
        throw error
      } finally {
        client.release()
      }
      return reply.code(201).send({ id: document.id, status: 'submitted' })
    },
  )
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  close = async () => {
    await app.close()
    await pool.end()
  }
  return { port: typeof address === 'object' && address ? address.port : 0, pid: process.pid }
}

serve<ToBaseline>(async (message) => {
  switch (message.type) {
    case 'start':
      return start(message)
    case 'stop': {
      // The schema is dropped by the parent (it must go even when this process died).
      await close?.()
      setImmediate(() => process.exit(0))
      return null
    }
  }
})
