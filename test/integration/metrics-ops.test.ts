import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { parse as parseYaml } from 'yaml'
import { buildTestApp } from '../helpers/build-app.js'
import { families, familyOf, PROMTOOL_MISSING, promqlMetricNames, promtool } from '../helpers/metrics.js'
import { startTestWorker } from '../helpers/worker.js'

const OPS = fileURLToPath(new URL('../../ops/', import.meta.url))
const read = (path: string) => readFileSync(`${OPS}${path}`, 'utf8')

/** Series Prometheus makes itself for every target, not the hub. */
const PROMETHEUS_OWN = new Set(['up'])

/** Grafana's reference to the dashboard's data source variable. */
const DATASOURCE_VARIABLE = '$' + '{datasource}'

interface Panel {
  id: number
  type: string
  title: string
  datasource?: { type: string; uid: string }
  gridPos: { x: number; y: number; w: number; h: number }
  targets?: { refId: string; expr: string; datasource?: { uid: string } }[]
}

interface Rule {
  alert: string
  expr: string
  labels?: { severity?: string }
  annotations?: { summary?: string }
}

/** Every metric family the hub exports, from a live scrape of an API app and of a worker. */
async function exported(t: Test) {
  const { app } = await buildTestApp(t)
  const worker = await startTestWorker(t, app.config, app.hubKeys)
  const api = families((await app.metrics()).body)
  const own = families((await worker.metrics.scrape()).body)
  return { api, worker: own, all: new Map([...api, ...own]) }
}

/** The names an expression selects that no family of the scrape has. */
const unknownNames = (expression: string, declared: Map<string, string>) =>
  promqlMetricNames(expression).filter((name) => !PROMETHEUS_OWN.has(name) && !familyOf(name, declared))

t.test(
  'the Grafana dashboard loads as JSON and names only metrics the hub exports, all of its own',
  async (t) => {
    const dashboard = JSON.parse(read('grafana/trm-hub.json')) as {
      uid: string
      title: string
      templating: { list: { name: string; type: string; query: string }[] }
      panels: Panel[]
    }
    t.equal(dashboard.uid, 'trm-hub')
    t.match(dashboard.templating.list, [{ name: 'datasource', type: 'datasource', query: 'prometheus' }])
    const ids = dashboard.panels.map((p) => p.id)
    t.equal(new Set(ids).size, ids.length, 'panel ids are unique')
    const graphs = dashboard.panels.filter((p) => p.type !== 'row')
    t.ok(graphs.length >= 20, `${graphs.length} panels`)
    for (const panel of graphs) {
      t.ok(panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title}: fits the 24-column grid`)
      t.equal(panel.datasource?.uid, DATASOURCE_VARIABLE, `${panel.title}: on the data source variable`)
      t.ok((panel.targets ?? []).length > 0, `${panel.title}: has a query`)
    }

    const { all } = await exported(t)
    const used = new Set<string>()
    for (const panel of graphs) {
      for (const target of panel.targets ?? []) {
        t.same(unknownNames(target.expr, all), [], `${panel.title} (${target.refId}): every name is exported`)
        for (const name of promqlMetricNames(target.expr)) used.add(familyOf(name, all) ?? name)
      }
    }
    const own = [...all.keys()].filter((name) => name.startsWith('trm_'))
    t.ok(own.length >= 15, `${own.length} trm_ families exported`)
    t.same(
      own.filter((name) => !used.has(name)),
      [],
      'every trm_ family has a panel',
    )
    t.ok(
      used.has('process_cpu_seconds_total') && used.has('nodejs_eventloop_lag_p99_seconds'),
      'and runtime panels',
    )
  },
)

t.test(
  'the alert rules pass promtool, their unit tests pass, and they name only exported metrics',
  async (t) => {
    const rules = (
      parseYaml(read('prometheus/alerts.yml')) as { groups: { rules: Rule[] }[] }
    ).groups.flatMap((g) => g.rules)
    t.ok(rules.length >= 10, `${rules.length} rules`)
    const { all } = await exported(t)
    for (const rule of rules) {
      t.same(unknownNames(rule.expr, all), [], `${rule.alert}: every name is exported`)
      t.match(rule.labels?.severity, /^(critical|warning|info)$/, `${rule.alert}: a severity`)
      t.ok(rule.annotations?.summary, `${rule.alert}: a summary`)
    }

    const checked = promtool(['check', 'rules', `${OPS}prometheus/alerts.yml`])
    if (!checked) return t.pass('promtool', { skip: PROMTOOL_MISSING })
    t.equal(checked.status, 0, 'promtool check rules')
    t.match(checked.output, `SUCCESS: ${rules.length} rules found`)
    const tested = promtool(['test', 'rules', `${OPS}prometheus/alerts.test.yml`])!
    t.equal(tested.status, 0, `promtool test rules\n${tested.output}`)
    const config = promtool(['check', 'config', `${OPS}prometheus/prometheus.yml`])!
    t.equal(
      config.status,
      0,
      `promtool check config: the example scrape configuration and its rule file\n${config.output}`,
    )
  },
)

t.test('the PromQL reader finds names and refuses what is not PromQL', async (t) => {
  t.same(
    promqlMetricNames('sum by (le) (rate(a_bucket{x="y"}[$__rate_interval])) / on() b + {__name__="c"}'),
    ['a_bucket', 'b', 'c'],
  )
  t.throws(() => promqlMetricNames('sum(rate(a[5m])'), /not PromQL/)
  const declared = new Map([
    ['h', 'histogram'],
    ['s', 'summary'],
    ['g', 'gauge'],
  ])
  t.equal(familyOf('h_bucket', declared), 'h')
  t.equal(familyOf('s_count', declared), 's')
  t.equal(familyOf('s_bucket', declared), undefined, 'a summary has no buckets')
  t.equal(familyOf('g_sum', declared), undefined, 'a gauge has no _sum')
  t.equal(familyOf('nope', declared), undefined)
})
