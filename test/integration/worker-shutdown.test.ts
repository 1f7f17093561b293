import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Queue } from 'bullmq'
import t from 'tap'
import { createWorkerRedis } from '../../src/lib/redis.js'
import { signReferral } from '../../src/sdk/documents.js'
import { addAgency } from '../helpers/agencies.js'
import { buildTestApp } from '../helpers/build-app.js'
import { REDIS_URL } from '../helpers/env.js'
import { startHubProcess } from '../helpers/processes.js'
import { referralDocument } from '../helpers/referrals.js'
import { eventually, WebhookReceiver } from '../helpers/webhook-receiver.js'
import { startTestWorker, workerProcessEnv } from '../helpers/worker.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
/**
 * src/worker.ts gives its close 30 s (close-with-grace) and exits 1 when that runs out; the test gives
 * up later than that, so the exit status, not the test's clock, tells a close in time from one that
 * was cut.
 */
const GIVE_UP_MS = 60_000

function exited(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker still running after ${timeoutMs} ms`)), timeoutMs)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve(code)
    })
  })
}

t.test(
  'SIGTERM in the middle of a webhook: the worker exits and the job is done by the next one',
  async (t) => {
    const { app, config } = await buildTestApp(t)
    // The first POST is held unanswered (a slow receiver); later ones are answered at once.
    const receiver = new WebhookReceiver((n) => (n === 1 ? 'hold' : 200))
    await receiver.start()
    t.teardown(() => receiver.close())
    const ro = await addAgency(app, { country: 'RO' })
    const de = await addAgency(app, { country: 'DE', push: receiver.url })
    const document = referralDocument(ro, { agencyId: de.id })
    await ro.client.request('POST', '/v1/referrals', { jws: await signReferral(document, ro.keys.signing) })
    const { id: jobId } = await app.db
      .selectFrom('outbox')
      .select('id')
      .where('queue', '=', 'webhooks')
      .executeTakeFirstOrThrow()

    // The real worker process, on the test's schema and queue prefix.
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
      cwd: ROOT,
      env: workerProcessEnv(config, 'info'),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk))
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk))
    t.teardown(() => {
      if (child.exitCode === null) child.kill('SIGKILL')
    })

    await receiver.waitFor(1, 30_000)
    child.kill('SIGTERM')
    const code = await exited(child, GIVE_UP_MS)
    t.equal(code, 0, 'the worker closed within its grace (it exits 1 when the grace runs out)')
    t.notMatch(output, /killed by timeout/, 'not cut by the grace')
    t.match(output, /"signal":"SIGTERM","msg":"closing"/, 'it closed on the signal')

    const connection = createWorkerRedis(REDIS_URL)
    const queue = new Queue('webhooks', { connection, prefix: config.queuePrefix })
    t.teardown(async () => {
      await queue.close()
      connection.disconnect()
    })
    const job = (await queue.getJob(jobId))!
    t.equal(await job.getState(), 'waiting', 'the job went back to the queue, not lost')
    t.equal(job.attemptsMade, 0, 'without spending an attempt')
    const interrupted = await app.db.selectFrom('deliveries').selectAll().executeTakeFirstOrThrow()
    t.match(interrupted, { status: 'pending', attempts: 1, last_error: /interrupted/ })

    // A second worker takes it from the queue and delivers it.
    await startTestWorker(t, config, app.hubKeys)
    const delivered = await eventually(async () => {
      const row = await app.db.selectFrom('deliveries').selectAll().executeTakeFirstOrThrow()
      return row.status === 'delivered' ? row : undefined
    }, 'the delivery by the second worker')
    t.equal(delivered.attempts, 2)
    // The job completes in Redis just after its outcome is committed in Postgres.
    const done = await eventually(async () => {
      const job = await queue.getJob(jobId)
      return job?.finishedOn ? job : undefined
    }, 'the job to complete')
    t.equal(await done.getState(), 'completed')
    t.equal(done.attemptsMade, 1)
    t.equal(receiver.received.length, 2, 'the receiver saw the interrupted POST and the delivered one')
    t.equal(receiver.tally().ids.size, 1, 'both with the same TRM-Message-Id')
  },
)

t.test('SIGTERM while the worker starts: it finishes starting, then closes and exits 0', async (t) => {
  const { config } = await buildTestApp(t)
  const worker = startHubProcess(t, 'src/worker.ts', config)
  // The metrics listener is up before the queues are: the signal comes in the middle of the start.
  await eventually(
    async () => {
      if (worker.child.exitCode !== null) throw new Error(`the worker exited:\n${worker.output()}`)
      return /"msg":"metrics listening"/.test(worker.output()) || undefined
    },
    'the worker to be starting',
    GIVE_UP_MS,
  )
  worker.child.kill('SIGTERM')
  const { code, signal } = await worker.exited
  t.same({ code, signal }, { code: 0, signal: null }, 'a clean exit, not one by the signal')
  t.match(worker.output(), /"msg":"closing"/, 'it said it was closing')
})
