// Prints "N passed, N failed" from vitest's JSON report (the line CI counts).
import { existsSync, readFileSync } from "node:fs";

const file = process.argv[2] ?? "reports/vitest.json";
if (!existsSync(file)) {
  console.log("0 passed, 0 failed");
  console.error(`no test report at ${file}: the tests did not run (typecheck or lint failed first?)`);
  process.exit(1);
}
const report = JSON.parse(readFileSync(file, "utf8"));
const passed = report.numPassedTests ?? 0;
const failed = (report.numFailedTests ?? 0) + (report.numFailedTestSuites ?? 0);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
