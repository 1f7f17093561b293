import t from 'tap'
import { Abandoned, GroupCommit, QueueFull } from '../../src/lib/group-commit.js'

/** A runner the test controls: each call waits until the test finishes it. */
function fakeRunner<T>() {
  const calls: {
    items: readonly T[]
    finish: (results: readonly string[]) => void
    fail: (e: Error) => void
  }[] = []
  const run = (items: readonly T[]) =>
    new Promise<readonly string[]>((resolve, reject) => {
      calls.push({ items, finish: resolve, fail: reject })
    })
  return { calls, run }
}

const tick = () => new Promise((resolve) => setImmediate(resolve))

t.test('at low load an item runs at once, alone', async (t) => {
  const runner = fakeRunner<string>()
  const commit = new GroupCommit(runner.run, { concurrency: 1, maxBatch: 10 })
  const answer = commit.submit('a')
  t.same(
    runner.calls.map((c) => c.items),
    [['a']],
  )
  runner.calls[0]!.finish(['A'])
  t.equal(await answer, 'A')
})

t.test(
  'items arriving while the batches run go together into the next, in order, up to maxBatch',
  async (t) => {
    const runner = fakeRunner<string>()
    const commit = new GroupCommit(runner.run, { concurrency: 1, maxBatch: 3 })
    const answers = ['a', 'b', 'c', 'd', 'e'].map((item) => commit.submit(item))
    t.equal(commit.waiting, 4, 'the first runs, four wait')
    runner.calls[0]!.finish(['A'])
    await tick()
    t.same(runner.calls[1]!.items, ['b', 'c', 'd'], 'the next batch takes three')
    t.equal(commit.waiting, 1)
    runner.calls[1]!.finish(['B', 'C', 'D'])
    await tick()
    t.same(runner.calls[2]!.items, ['e'])
    runner.calls[2]!.finish(['E'])
    t.same(await Promise.all(answers), ['A', 'B', 'C', 'D', 'E'], 'each gets its own result')
  },
)

t.test('concurrency: that many batches run at once', async (t) => {
  const runner = fakeRunner<string>()
  const commit = new GroupCommit(runner.run, { concurrency: 2, maxBatch: 10 })
  const answers = ['a', 'b', 'c'].map((item) => commit.submit(item))
  t.same(
    runner.calls.map((c) => c.items),
    [['a'], ['b']],
  )
  runner.calls[1]!.finish(['B'])
  await tick()
  t.same(runner.calls[2]!.items, ['c'])
  runner.calls[0]!.finish(['A'])
  runner.calls[2]!.finish(['C'])
  t.same(await Promise.all(answers), ['A', 'B', 'C'])
})

t.test('two items with the same key never share a batch', async (t) => {
  const runner = fakeRunner<{ id: string }>()
  const commit = new GroupCommit(runner.run, { concurrency: 1, maxBatch: 10, key: (item) => item.id })
  const answers = [{ id: 'x' }, { id: 'y' }, { id: 'x' }, { id: 'z' }].map((item) => commit.submit(item))
  runner.calls[0]!.finish(['1'])
  await tick()
  t.same(
    runner.calls[1]!.items.map((i) => i.id),
    ['y', 'x', 'z'],
  )
  runner.calls[1]!.finish(['2', '3', '4'])
  t.same(await Promise.all(answers), ['1', '2', '3', '4'])
  const clash = [{ id: 'q' }, { id: 'q' }].map((item) => commit.submit(item))
  t.same(runner.calls[2]!.items, [{ id: 'q' }])
  runner.calls[2]!.finish(['5'])
  await tick()
  t.same(runner.calls[3]!.items, [{ id: 'q' }], 'the second waits for a later batch')
  runner.calls[3]!.finish(['6'])
  t.same(await Promise.all(clash), ['5', '6'])
})

t.test('a full queue refuses at once; nothing is run for it', async (t) => {
  const runner = fakeRunner<string>()
  const commit = new GroupCommit(runner.run, { concurrency: 1, maxBatch: 10, maxWaiting: 2 })
  const taken = ['a', 'b', 'c'].map((item) => commit.submit(item))
  await t.rejects(commit.submit('d'), QueueFull)
  runner.calls[0]!.finish(['A'])
  await tick()
  t.same(runner.calls[1]!.items, ['b', 'c'], 'd never ran')
  runner.calls[1]!.finish(['B', 'C'])
  t.same(await Promise.all(taken), ['A', 'B', 'C'])
})

t.test('an item whose signal aborts while it waits gives up its place and is not run', async (t) => {
  const runner = fakeRunner<string>()
  const commit = new GroupCommit(runner.run, { concurrency: 1, maxBatch: 10 })
  const first = commit.submit('a')
  const client = new AbortController()
  const gone = commit.submit('b', client.signal)
  const kept = commit.submit('c')
  client.abort()
  await t.rejects(gone, Abandoned)
  t.equal(commit.waiting, 1, 'its place is free at once')
  runner.calls[0]!.finish(['A'])
  await tick()
  t.same(runner.calls[1]!.items, ['c'])
  runner.calls[1]!.finish(['C'])
  t.same(await Promise.all([first, kept]), ['A', 'C'])
  await t.rejects(commit.submit('d', AbortSignal.abort()), Abandoned, 'already aborted: refused at once')
  const late = new AbortController()
  const running = commit.submit('e', late.signal)
  late.abort()
  runner.calls[2]!.finish(['E'])
  t.equal(await running, 'E', 'an abort after its batch started changes nothing')
})

t.test('a batch that fails as a whole is run again item by item, each with its own answer', async (t) => {
  const runner = fakeRunner<string>()
  const commit = new GroupCommit(runner.run, { concurrency: 1, maxBatch: 10 })
  const first = commit.submit('a')
  const answers = ['b', 'c'].map((item) => commit.submit(item).catch((e: Error) => `error: ${e.message}`))
  runner.calls[0]!.finish(['A'])
  await tick()
  runner.calls[1]!.fail(new Error('connection lost'))
  await tick()
  t.same(runner.calls[2]!.items, ['b'], 'then each alone')
  runner.calls[2]!.finish(['B'])
  await tick()
  t.same(runner.calls[3]!.items, ['c'])
  runner.calls[3]!.fail(new Error('still failing'))
  t.same(await Promise.all([first, ...answers]), ['A', 'B', 'error: still failing'])
  const alone = commit.submit('d')
  runner.calls[4]!.fail(new Error('lone failure'))
  await t.rejects(alone, /lone failure/, 'a batch of one fails with its error, once')
  t.equal(runner.calls.length, 5)
})

t.test('a runner answering the wrong number of results fails its batch loudly', async (t) => {
  const runner = fakeRunner<string>()
  const commit = new GroupCommit(runner.run, { concurrency: 1, maxBatch: 10 })
  const answer = commit.submit('a')
  runner.calls[0]!.finish(['A', 'extra'])
  await t.rejects(answer, /answered 2 results for 1 items/)
})

t.test('bad options are refused', async (t) => {
  const run = async () => []
  t.throws(() => new GroupCommit(run, { concurrency: 0, maxBatch: 1 }), RangeError)
  t.throws(() => new GroupCommit(run, { concurrency: 1, maxBatch: 0 }), RangeError)
})
