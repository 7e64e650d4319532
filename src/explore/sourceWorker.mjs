// Worker bootstrap used only when mmun runs from its TypeScript sources (tests, npm run bench):
// registers the tsx loader, then loads the real worker. The built package uses dist/explore/worker.js.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.workerUrl);
