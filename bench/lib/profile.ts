// CPU profiles of the hub process during a benchmark run, through the inspector (no restart, no
// flags). The .cpuprofile files open in Chrome DevTools (Performance tab) or speedscope.
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

/** Starts profiling this process; the function it resolves to stops and writes the profile to `file`. */
export async function startProfile(): Promise<(file: string) => Promise<void>> {
  const { Session } = await import('node:inspector/promises')
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.setSamplingInterval', { interval: 500 })
  await session.post('Profiler.start')
  return async (file: string) => {
    const { profile } = await session.post('Profiler.stop')
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, JSON.stringify(profile))
    session.disconnect()
  }
}
