import { deadlineProcessor } from './deadlines.js'
import { maintenanceProcessor } from './maintenance.js'
import type { Processor, QueueName } from './queues.js'
import { webhookProcessor } from './webhooks.js'
import type { JobDeps } from './worker-deps.js'

/** One processor per queue; each job file exports its own and is listed here. */
export const PROCESSORS: Partial<Record<QueueName, (deps: JobDeps) => Processor>> = {
  maintenance: maintenanceProcessor,
  deadlines: deadlineProcessor,
  webhooks: webhookProcessor,
}
