// Model-based test: random interleavings of insert / remove / start (blocking and not) / end /
// readBegin / readRetry / setSeq on one mm, run against a small reference model of the protocol
// (kernel-spec §3.1 and §3.3, in plain arrays), with every invariant checked after every command.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EAGAIN } from "../../src/lib/errno.js";
import { checkIntervalTree } from "../../src/lib/intervalTreeCheck.js";
import type { Kernel } from "../../src/mm/kernel.js";
import type { Mm } from "../../src/mm/mm.js";
import { MmuIntervalNotifier } from "../../src/notifier/intervalNotifier.js";
import { type MmuNotifierRange, mmuNotifierRangeInit } from "../../src/notifier/range.js";
import { settle, track, world } from "./helpers.js";

const PAGE = 0x1000;
const SLOTS = 8; // addresses are slot * PAGE

type Member = "pending-insert" | "in-tree" | "pending-remove" | "removed";

interface ModelSub {
  id: number;
  start: number;
  last: number;
  seq: number;
  member: Member;
  /** The callback returns false for non-blocking ranges. */
  failsNonblock: boolean;
  /** The callback records cur and leaves setSeq to a later SetSeq command. */
  lateSetSeq: boolean;
  pendingCur: number | undefined;
  lastBegin: number | undefined;
}

interface ModelWait {
  /** Resolved once gseq differs from `seq`. */
  seq: number;
  resolved: boolean;
  real: { done: boolean; value: unknown; error: unknown };
  what: string;
}

interface Model {
  gseq: number;
  active: number;
  tree: ModelSub[];
  /** Oldest first; applied newest first. */
  deferred: ModelSub[];
  subs: ModelSub[];
  ranges: { id: number; start: number; end: number }[];
  waits: ModelWait[];
  nextRange: number;
  /** Calls expected from the last start, checked against the real log. */
}

interface Real {
  k: Kernel;
  mm: Mm;
  subs: MmuIntervalNotifier<Mm>[];
  ranges: Map<number, MmuNotifierRange>;
  log: { id: number; cur: number }[];
  /** Per sub: the cur its late-setSeq callback recorded. */
  lateCur: Map<number, number>;
}

function intersects(s: ModelSub, start: number, end: number): boolean {
  return s.start <= end - 1 && start <= s.last;
}

function modelLink(m: Model, s: ModelSub): void {
  let i = m.tree.length;
  while (i > 0 && (m.tree[i - 1] as ModelSub).start > s.start) i--;
  m.tree.splice(i, 0, s);
  s.member = "in-tree";
}

function modelWake(m: Model): void {
  for (const w of m.waits) if (!w.resolved && m.gseq !== w.seq) w.resolved = true;
}

function modelEnd(m: Model): void {
  m.active--;
  if (m.active !== 0 || m.gseq % 2 === 0) return;
  m.gseq++;
  for (let j = m.deferred.length - 1; j >= 0; j--) {
    const s = m.deferred[j] as ModelSub;
    if (s.member === "pending-insert") modelLink(m, s);
    else {
      m.tree.splice(m.tree.indexOf(s), 1);
      s.member = "removed";
    }
  }
  m.deferred.length = 0;
  modelWake(m);
}

function live(m: Model): ModelSub[] {
  return m.subs.filter((s) => s.member === "in-tree" || s.member === "pending-insert");
}

/** Compares the real state with the model and checks the invariants. */
async function checkAll(m: Model, r: Real): Promise<void> {
  await settle();
  const st = r.mm.notifiers.state();
  expect(st.invalidateSeq).toBe(m.gseq);
  expect(st.activeInvalidateRanges).toBe(m.active);
  expect(st.tree.map((e) => e.id)).toEqual(m.tree.map((s) => (r.subs[s.id] as MmuIntervalNotifier<Mm>).id));
  expect(st.deferred.map((e) => e.id)).toEqual(
    [...m.deferred].reverse().map((s) => (r.subs[s.id] as MmuIntervalNotifier<Mm>).id),
  );
  // 6.1-3
  if (m.gseq % 2 === 1) expect(m.active).toBeGreaterThan(0);
  if (m.active === 0) expect(st.deferred).toEqual([]);
  for (const s of m.subs) {
    const real = r.subs[s.id] as MmuIntervalNotifier<Mm>;
    if (s.member !== "removed") {
      expect(real.invalidateSeq).toBe(s.seq);
      expect(s.seq % 2).toBe(1); // 6.1-7
    }
  }
  for (const w of m.waits) expect(w.real.done, `${w.what} resolved`).toBe(w.resolved);
  checkIntervalTree(r.mm.notifiers.itree);
  expect(r.k.reports).toEqual([]);
}

type Cmd = fc.AsyncCommand<Model, Real>;

/** A command on one live notifier: the `pick`-th (modulo) of those it is `eligible` for. */
abstract class OnePickedSub implements Cmd {
  abstract readonly name: string;
  constructor(readonly pick: number) {}
  /** Which live notifiers the command can act on (all by default). */
  eligible(_s: ModelSub): boolean {
    return true;
  }
  check(m: Model): boolean {
    return live(m).some((s) => this.eligible(s));
  }
  /** The model notifier this command acts on, and the real one. */
  picked(m: Model, r: Real): [ModelSub, MmuIntervalNotifier<Mm>] {
    const l = live(m).filter((s) => this.eligible(s));
    const s = l[this.pick % l.length] as ModelSub;
    return [s, r.subs[s.id] as MmuIntervalNotifier<Mm>];
  }
  abstract run(m: Model, r: Real): Promise<void>;
  toString(): string {
    return `${this.name}(#${this.pick})`;
  }
}

class InsertCmd implements Cmd {
  constructor(
    readonly slot: number,
    readonly pages: number,
    readonly failsNonblock: boolean,
    readonly lateSetSeq: boolean,
  ) {}
  check(m: Model): boolean {
    return live(m).length < 12;
  }
  async run(m: Model, r: Real): Promise<void> {
    const id = m.subs.length;
    const s: ModelSub = {
      id,
      start: this.slot * PAGE,
      last: (this.slot + this.pages) * PAGE - 1,
      seq: 0,
      member: "in-tree",
      failsNonblock: this.failsNonblock,
      lateSetSeq: this.lateSetSeq,
      pendingCur: undefined,
      lastBegin: undefined,
    };
    m.subs.push(s);
    if (m.active > 0) {
      if (m.gseq % 2 === 1) {
        m.deferred.push(s);
        s.member = "pending-insert";
      } else {
        m.gseq++;
        modelLink(m, s);
      }
      s.seq = m.gseq;
    } else {
      s.seq = m.gseq - 1;
      modelLink(m, s);
    }
    const { failsNonblock, lateSetSeq } = this;
    const ret = MmuIntervalNotifier.insert(r.mm, s.start, s.last - s.start + 1, {
      invalidate(sub, range, cur) {
        r.log.push({ id, cur });
        if (lateSetSeq) r.lateCur.set(id, cur);
        else sub.setSeq(cur);
        return !(failsNonblock && !range.blockable);
      },
    });
    expect(ret).toBeInstanceOf(MmuIntervalNotifier); // registered already: never waits
    r.subs.push(ret as MmuIntervalNotifier<Mm>);
    expect((ret as MmuIntervalNotifier<Mm>).membership).toBe(s.member);
    await checkAll(m, r);
  }
  toString(): string {
    return `insert(${this.slot}, ${this.pages}${this.failsNonblock ? ", fails-nonblock" : ""}${this.lateSetSeq ? ", late-setseq" : ""})`;
  }
}

class RemoveCmd extends OnePickedSub {
  readonly name = "remove";
  async run(m: Model, r: Real): Promise<void> {
    const [s, real] = this.picked(m, r);
    let waits = false;
    if (m.gseq % 2 === 1) {
      if (s.member === "pending-insert") {
        m.deferred.splice(m.deferred.indexOf(s), 1);
        s.member = "removed";
      } else {
        m.deferred.push(s);
        s.member = "pending-remove";
        waits = true;
      }
    } else {
      m.tree.splice(m.tree.indexOf(s), 1);
      s.member = "removed";
    }
    const p = real.remove();
    expect(p !== undefined).toBe(waits); // 6.1-18
    if (waits) m.waits.push({ seq: m.gseq, resolved: false, real: track(p), what: `remove #${s.id}` });
    await checkAll(m, r);
  }
}

class StartCmd implements Cmd {
  constructor(
    readonly slot: number,
    readonly pages: number,
    readonly blockable: boolean,
  ) {}
  check(m: Model): boolean {
    return m.ranges.length < 4;
  }
  async run(m: Model, r: Real): Promise<void> {
    const start = this.slot * PAGE;
    const end = (this.slot + this.pages) * PAGE;
    m.active++;
    const hits = m.tree.filter((s) => intersects(s, start, end));
    if (hits.length > 0 && m.gseq % 2 === 0) m.gseq++;
    const cur = m.gseq;
    const expected: { id: number; cur: number }[] = [];
    let failed = false;
    for (const s of hits) {
      expected.push({ id: s.id, cur });
      if (s.lateSetSeq) s.pendingCur = cur;
      else s.seq = cur;
      if (!this.blockable && s.failsNonblock) {
        failed = true;
        break;
      }
    }
    const id = m.nextRange++;
    if (failed) modelEnd(m);
    else m.ranges.push({ id, start, end });
    r.log.length = 0;
    const range = mmuNotifierRangeInit(0, r.mm, start, end);
    const subs = r.mm.notifiers;
    if (this.blockable) expect(subs.invalidateRangeStart(range)).toBeUndefined();
    else expect(subs.invalidateRangeStartNonblock(range)).toBe(failed ? -EAGAIN : 0);
    for (const [sid, c] of r.lateCur) {
      const s = m.subs[sid] as ModelSub;
      expect(s.pendingCur).toBe(c);
    }
    r.lateCur.clear();
    expect(r.log).toEqual(expected); // 6.1-8, 6.1-9, 6.1-20
    if (!failed) r.ranges.set(id, range);
    await checkAll(m, r);
  }
  toString(): string {
    return `start${this.blockable ? "" : "_nonblock"}([${this.slot}, +${this.pages}))`;
  }
}

class EndCmd implements Cmd {
  constructor(readonly pick: number) {}
  check(m: Model): boolean {
    return m.ranges.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const [rg] = m.ranges.splice(this.pick % m.ranges.length, 1);
    if (rg === undefined) throw new Error("no range");
    modelEnd(m);
    const range = r.ranges.get(rg.id) as MmuNotifierRange;
    r.ranges.delete(rg.id);
    expect(r.mm.notifiers.invalidateRangeEnd(range)).toBeUndefined();
    await checkAll(m, r);
  }
  toString(): string {
    return `end(#${this.pick})`;
  }
}

class ReadBeginCmd extends OnePickedSub {
  readonly name = "readBegin";
  async run(m: Model, r: Real): Promise<void> {
    const [s, real] = this.picked(m, r);
    const busy = s.seq === m.gseq;
    const v = real.readBegin();
    s.lastBegin = s.seq;
    if (busy) {
      expect(v).toBeInstanceOf(Promise); // 6.1-14
      m.waits.push({ seq: m.gseq, resolved: false, real: track(v), what: `readBegin #${s.id}` });
    } else expect(v).toBe(s.seq);
    await checkAll(m, r);
  }
}

class ReadRetryCmd extends OnePickedSub {
  readonly name = "readRetry";
  override eligible(s: ModelSub): boolean {
    return s.lastBegin !== undefined;
  }
  async run(m: Model, r: Real): Promise<void> {
    const [s, real] = this.picked(m, r);
    const begun = s.lastBegin as number;
    expect(real.readRetry(begun)).toBe(s.seq !== begun); // 6.1-15
    expect(real.checkRetry(begun)).toBe(s.seq !== begun);
    await checkAll(m, r);
  }
}

class SetSeqCmd extends OnePickedSub {
  readonly name = "setSeq";
  override eligible(s: ModelSub): boolean {
    return s.pendingCur !== undefined;
  }
  async run(m: Model, r: Real): Promise<void> {
    const [s, real] = this.picked(m, r);
    s.seq = s.pendingCur as number;
    s.pendingCur = undefined;
    real.setSeq(s.seq);
    await checkAll(m, r);
  }
}

const commands = [
  fc
    .tuple(fc.integer({ min: 0, max: SLOTS - 1 }), fc.integer({ min: 1, max: 3 }), fc.boolean(), fc.boolean())
    .map(([s, p, f, l]) => new InsertCmd(s, p, f, l)),
  fc.nat().map((p) => new RemoveCmd(p)),
  fc
    .tuple(fc.integer({ min: 0, max: SLOTS - 1 }), fc.integer({ min: 1, max: 4 }), fc.boolean())
    .map(([s, p, b]) => new StartCmd(s, p, b)),
  fc.nat().map((p) => new EndCmd(p)),
  fc.nat().map((p) => new EndCmd(p)),
  fc.nat().map((p) => new ReadBeginCmd(p)),
  fc.nat().map((p) => new ReadRetryCmd(p)),
  fc.nat().map((p) => new SetSeqCmd(p)),
];

describe("model-based: the notifier against a reference model of the protocol", () => {
  it("random command sequences match the reference model and keep every invariant (seed 20240601, 300 runs)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 80, size: "max" }), async (cmds) => {
        const { k, mm } = world();
        // Register the interval tree first (a start/end pair never straddles the first registration).
        await (await MmuIntervalNotifier.insert(mm, 0x100000, PAGE, { invalidate: () => true })).remove();
        const model: Model = {
          gseq: 2,
          active: 0,
          tree: [],
          deferred: [],
          subs: [],
          ranges: [],
          waits: [],
          nextRange: 0,
        };
        const real: Real = { k, mm, subs: [], ranges: new Map(), log: [], lateCur: new Map() };
        await fc.asyncModelRun(() => ({ model, real }), cmds);
        // Drain: end everything; every wait must then be over.
        for (const rg of model.ranges) {
          modelEnd(model);
          mm.notifiers.invalidateRangeEnd(real.ranges.get(rg.id) as MmuNotifierRange);
        }
        model.ranges.length = 0;
        await checkAll(model, real);
        expect(model.waits.every((w) => w.resolved)).toBe(true);
      }),
      { seed: 20240601, numRuns: 300 },
    );
  });
});
