import { readFile } from 'node:fs/promises'
import t from 'tap'

const read = (file: string) => readFile(new URL(`../../${file}`, import.meta.url), 'utf8')

t.test(
  'the image, .nvmrc, engines and CI name the same Node 24 LTS, the image pinned by digest',
  async (t) => {
    const dockerfile = await read('docker/Dockerfile')
    const image = dockerfile.match(/^ARG NODE_IMAGE=(.+)$/m)?.[1]
    t.match(
      image,
      /^node:24\.\d+\.\d+-bookworm-slim@sha256:[0-9a-f]{64}$/,
      'a Node 24 bookworm-slim image, by digest',
    )
    const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1])
    t.ok(froms.length >= 2, 'build and runtime stages')
    t.ok(
      froms.every((from) => /^\$\{NODE_IMAGE\}$/.test(from ?? '')),
      `every stage starts from that image (${froms.join(', ')})`,
    )
    t.equal((await read('.nvmrc')).trim(), '24')
    const { engines } = JSON.parse(await read('package.json')) as { engines: { node: string } }
    t.equal(engines.node, '^24.0.0')
    const ci = await read('.ci/run')
    t.match(ci, /sed -nE 's\/\^ARG NODE_IMAGE=node:/, 'CI takes its second Node version from the image')
  },
)
