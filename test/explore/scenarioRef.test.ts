// How replay commands name a scenario on the command line (issue: a user scenario's printed replay
// command named only the scenario, which the CLI cannot find).

import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { explore, replay } from "../../src/explore/explore.js";
import { replayCommands } from "../../src/explore/replay.js";
import { defineScenario, scenarioRefOf } from "../../src/explore/scenario.js";
import { abba } from "../../src/scenarios/classic/abba.js";

const failing = (module?: string) =>
  defineScenario({
    name: "my/race",
    description: "fails its check at once",
    setup: () => ({}),
    tasks: { t: async () => {} },
    check: () => false,
    ...(module === undefined ? {} : { module }),
  });

describe("scenarioRefOf", () => {
  it("names a built-in by its name", () => {
    expect(scenarioRefOf(abba)).toBe("classic/abba");
  });

  it("names a user module's scenario by its path below the working directory, and #name", () => {
    const url = pathToFileURL(`${process.cwd()}/scenarios/race.ts`).href;
    expect(scenarioRefOf({ name: "my/race", module: url })).toBe("./scenarios/race.ts#my/race");
  });

  it("keeps an absolute path outside the working directory, and decodes it", () => {
    expect(scenarioRefOf({ name: "x", module: "file:///elsewhere/my%20dir/s.js" })).toBe(
      "/elsewhere/my dir/s.js#x",
    );
  });

  it("has no command-line name without a module, or for a module that is not a file", () => {
    expect(scenarioRefOf({ name: "x" })).toBeUndefined();
    expect(scenarioRefOf({ name: "x", module: "https://example.org/s.js" })).toBeUndefined();
  });
});

describe("the replay commands a failure carries", () => {
  it("name the module file of a user scenario (seed 0)", async () => {
    const url = pathToFileURL(`${process.cwd()}/my-race.ts`).href;
    const r = await explore(failing(url), { executions: 1 });
    const f = r.failures[0];
    expect(f?.replay.cli).toBe(`npx mmun replay ./my-race.ts#my/race ${f?.token}`);
    const again = await replay(failing(url), f?.token as string);
    expect(again.failure?.replay.cli).toBe(f?.replay.cli);
  });

  it("print no command line for a scenario without a module, only the API call (seed 0)", async () => {
    const r = await explore(failing(), { executions: 1 });
    expect(r.failures[0]?.replay).toEqual({
      cli: undefined,
      api: `await replay(scenario, ${JSON.stringify(r.failures[0]?.token)})`,
    });
  });

  it("quote a name the shell would split or expand, POSIX-style", () => {
    expect(replayCommands("./my dir/s.ts#x", "T").cli).toBe("npx mmun replay './my dir/s.ts#x' T");
    expect(replayCommands("./$HOME/it's.ts#x", "T").cli).toBe("npx mmun replay './$HOME/it'\\''s.ts#x' T");
  });
});
