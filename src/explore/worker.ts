// The worker-thread entry of parallel exploration: loads the scenario's module (TypeScript too), runs
// its shard.

import { parentPort, workerData } from "node:worker_threads";
import { importModule } from "./moduleLoader.js";
import type { WorkerJob, WorkerMessage } from "./parallel.js";
import { findScenario } from "./scenarioModule.js";
import { exploreShard } from "./shardRunner.js";

async function main(): Promise<void> {
  const job = workerData as WorkerJob;
  const port = parentPort;
  if (port === null) return;
  const post = (m: WorkerMessage) => port.postMessage(m);
  try {
    const mod = await importModule(job.module);
    const scenario = findScenario(mod, job.scenario);
    const outcome = await exploreShard(
      scenario as never as Parameters<typeof exploreShard>[0],
      job.opts,
      job.shard,
      {
        onProgress: (progress) => post({ type: "progress", progress }),
      },
    );
    post({ type: "done", outcome });
  } catch (e) {
    post({ type: "error", message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
}

void main();
