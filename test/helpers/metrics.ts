import { spawnSync } from 'node:child_process'
import { parser as promqlParser } from '@prometheus-io/lezer-promql'

/** One sample of a Prometheus text exposition: `name{labels} value`. */
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/** The samples of a scrape (comments and blank lines skipped). */
export function samples(text: string): Sample[] {
  const found: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = SAMPLE.exec(line)
    if (!match) throw new Error(`not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, name, value] of (match[2] ?? '').matchAll(LABEL)) labels[name!] = value!
    found.push({ name: match[1]!, labels, value: Number(match[3]) })
  }
  return found
}

/** The value of the one sample with exactly these labels, or undefined when there is none. */
export function sampleValue(text: string, name: string, labels: Record<string, string> = {}) {
  const wanted = Object.entries(labels)
  const matches = samples(text).filter(
    (s) =>
      s.name === name &&
      Object.keys(s.labels).length === wanted.length &&
      wanted.every(([k, v]) => s.labels[k] === v),
  )
  if (matches.length > 1) throw new Error(`${matches.length} samples of ${name} ${JSON.stringify(labels)}`)
  return matches[0]?.value
}

/** The metric families a scrape declares (`# TYPE name type`), with their types. */
export function families(text: string): Map<string, string> {
  const declared = new Map<string, string>()
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) declared.set(match[1]!, match[2]!)
  return declared
}

/**
 * Runs `promtool` (Debian's `prometheus` package). Undefined when it is not installed and this is
 * not CI (`CI` set, as .ci/run has it): there its absence is a failure, since .ci/run installs it.
 */
export function promtool(args: string[], input?: string): { status: number; output: string } | undefined {
  const run = spawnSync('promtool', args, { input, encoding: 'utf8', timeout: 60_000 })
  if (run.error && (run.error as NodeJS.ErrnoException).code === 'ENOENT') {
    if (process.env['CI']) throw new Error('promtool is not installed: apt-get install -y prometheus')
    return undefined
  }
  if (run.error) throw run.error
  return { status: run.status ?? -1, output: `${run.stdout}${run.stderr}` }
}

export const PROMTOOL_MISSING = 'promtool not installed (apt-get install -y prometheus); CI installs it'

/** Grafana's own variables in an expression, given a value PromQL accepts so the expression parses. */
const GRAFANA_VARIABLES: Record<string, string> = {
  $__rate_interval: '5m',
  $__interval: '1m',
  $__range: '6h',
}

/**
 * The metric names a PromQL expression selects, read by Prometheus' own grammar
 * (`@prometheus-io/lezer-promql`): `name{…}` and `{__name__="name"}`. Throws when the expression
 * does not parse.
 */
export function promqlMetricNames(expression: string): string[] {
  let text = expression
  for (const [variable, value] of Object.entries(GRAFANA_VARIABLES)) text = text.replaceAll(variable, value)
  const tree = promqlParser.parse(text)
  const names: string[] = []
  const errors: number[] = []
  tree.iterate({
    enter(node) {
      if (node.type.isError) errors.push(node.from)
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') {
        names.push(text.slice(node.from, node.to))
      }
      if (node.name === 'UnquotedLabelMatcher') {
        const label = node.node.getChild('LabelName')
        const value = node.node.getChild('StringLiteral')
        const op = node.node.getChild('MatchOp')?.getChild('EqlSingle')
        if (label && value && op && text.slice(label.from, label.to) === '__name__') {
          names.push(JSON.parse(text.slice(value.from, value.to)) as string)
        }
      }
    },
  })
  if (errors.length > 0) throw new Error(`not PromQL at offset ${errors[0]}: ${expression}`)
  return names
}

/**
 * The metric family a sample name belongs to among those a scrape declares: itself, or the
 * histogram or summary whose `_bucket`, `_sum` or `_count` series it is. Undefined when none.
 */
export function familyOf(name: string, declared: Map<string, string>): string | undefined {
  if (declared.has(name)) return name
  const match = /^(.*)_(bucket|sum|count)$/.exec(name)
  if (!match) return undefined
  const type = declared.get(match[1]!)
  if (type === 'histogram' || (type === 'summary' && match[2] !== 'bucket')) return match[1]
  return undefined
}
