import { describe, expect, it } from "vitest";
import { readTrace } from "../../src/trace/read.js";
import { TRACE_VERSION } from "../../src/trace/schema.js";

const v1 = {
  version: 1,
  tasks: [{ id: 0, name: "t" }],
  objects: [{ id: 0, type: "mutex", name: "m" }],
  events: [{ step: 1, time: 0, task: 0, kind: "acquire", obj: 0, detail: "write" }],
  meta: {},
};

describe("readTrace", () => {
  it("reads a version-1 trace and a version-2 one, from text or from an object", () => {
    expect(readTrace(v1).version).toBe(1);
    expect(readTrace(JSON.stringify(v1)).events).toHaveLength(1);
    const v2 = {
      ...v1,
      version: 2,
      events: [{ step: 1, time: 0, task: 0, kind: "pte", obj: 0, addr: 4096 }],
    };
    expect(readTrace(v2).version).toBe(TRACE_VERSION);
  });

  it("rejects an unknown version, a version-2 event in a version-1 trace, a Perfetto file and non-JSON", () => {
    expect(() => readTrace({ ...v1, version: 3 })).toThrow(/version 3 is not one this build reads \(1, 2\)/);
    const mixed = { ...v1, events: [{ step: 1, time: 0, task: 0, kind: "pte", obj: 0 }] };
    expect(() => readTrace(mixed)).toThrow(/trace event 0 is not a version-1 event/);
    expect(() => readTrace({ traceEvents: [] })).toThrow(/Perfetto/);
    expect(() => readTrace("{")).toThrow(/not JSON/);
    expect(() => readTrace({ version: 2, tasks: [], objects: [] })).toThrow(/"events" is not an array/);
  });
});
