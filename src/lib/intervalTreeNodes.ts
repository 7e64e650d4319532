// The structure of IntervalTree (intervalTree.ts): an augmented B+ tree where the kernel
// (include/linux/interval_tree_generic.h, rbtree_augmented.h) uses an augmented red-black tree.
// Leaves split when full; non-root nodes stay at least a quarter full (borrow or merge on removal);
// leaf 0 is created first, never freed, and always the leftmost leaf. Every change refreshes the
// records above the nodes it touched (least start, its seq, subtree-last, prefix maxima), as the
// kernel's augmentation callbacks do. This file knows nothing of queries; it tells the key directory
// (keyDirectory.ts) of entries that move between leaves through its hooks. The layout and the pools
// are in intervalTreePools.ts.

import { IntervalTreePools, NODE_LAYOUT } from "./intervalTreePools.js";
import { prefixMax, upperBound } from "./sortedSearch.js";

const { NIL, LEAF_BITS, LEAF_CAP, LEAF_MIN, INNER_CAP, INNER_MIN } = NODE_LAYOUT;

/** Two leaves merge when together they hold at most this many entries, else they share evenly. */
const LEAF_MERGE = (LEAF_CAP * 3) / 4;
const INNER_MERGE = (INNER_CAP * 3) / 4;

/** The structure of an IntervalTree, which extends this class. Every member is internal. */
export abstract class IntervalTreeNodes<T> extends IntervalTreePools<T> {
  // ---- augmentation upkeep ----

  // Greatest last in a leaf (its subtree-last), by a scan.
  private leafMax(leaf: number): number {
    const lLast = this.lLast;
    let m = -1;
    for (let j = leaf * LEAF_CAP, end = j + this.lCount[leaf]!; j < end; j++)
      if (lLast[j]! > m) m = lLast[j]!;
    return m;
  }

  // Recomputes the inner node's prefix maxima from flat index `from` on.
  private innerPm(n: number, from: number): void {
    prefixMax(this.iMax, this.iPm, n * INNER_CAP, from, n * INNER_CAP + this.iCount[n]!);
  }

  // Least start of a non-empty node's subtree.
  private minOf(n: number, isLeaf: boolean): number {
    return isLeaf ? this.lStart[n * LEAF_CAP]! : this.iMin[n * INNER_CAP]!;
  }

  // Seq of the entry holding a non-empty node's least start.
  private minSeqOf(n: number, isLeaf: boolean): number {
    return isLeaf ? this.lSeq[n * LEAF_CAP]! : this.iMinSeq[n * INNER_CAP]!;
  }

  // Greatest last of a non-empty node's subtree (its subtree-last).
  private maxOf(n: number, isLeaf: boolean): number {
    return isLeaf ? this.leafMax(n) : this.iPm[n * INNER_CAP + this.iCount[n]! - 1]!;
  }

  /** @internal The greatest last in the tree (the root's subtree-last), or -1 when it is empty. */
  subtreeLast(): number {
    return this.maxOf(this.root, this.height === 0);
  }

  // Refreshes the parent's record of `n` (least start, subtree-last, prefix maxima), then the
  // grandparent's record of the parent, and so on while something changed.
  private fixUp(n: number, isLeaf: boolean): void {
    for (;;) {
      const p = isLeaf ? this.lParent[n]! : this.iParent[n]!;
      if (p === NIL) return;
      const c = p * INNER_CAP + (isLeaf ? this.lPos[n]! : this.iPos[n]!);
      const mn = this.minOf(n, isLeaf);
      const ms = this.minSeqOf(n, isLeaf);
      const mx = this.maxOf(n, isLeaf);
      if (this.iMin[c] === mn && this.iMinSeq[c] === ms && this.iMax[c] === mx) return;
      this.iMin[c] = mn;
      this.iMinSeq[c] = ms;
      this.iMax[c] = mx;
      this.innerPm(p, c);
      n = p;
      isLeaf = false;
    }
  }

  // ---- insertion ----

  /**
   * @internal Puts the entry into `leaf` (the one the descent chose, whose records it widened on the
   * way down), splitting the leaf when it is full; returns the cursor the entry landed at.
   */
  leafInsert(leaf: number, start: number, last: number, seq: number, value: T): number {
    const lb = leaf * LEAF_CAP;
    const cnt = this.lCount[leaf]!;
    let at = upperBound(this.lStart, lb, cnt, start);
    if (cnt === LEAF_CAP) {
      // Full: move the upper half to a new right sibling (only LEAF_MIN entries when appending to the
      // rightmost leaf, so ascending inserts leave leaves 3/4 full), then insert into the half that
      // covers `at`.
      const right = this.allocLeaf();
      this.keys.onEntriesMovedRight(leaf, right);
      const keep = at === lb + LEAF_CAP && this.lNext[leaf] === NIL ? LEAF_CAP - LEAF_MIN : LEAF_CAP / 2;
      this.moveEntries(leaf, lb + keep, right, right * LEAF_CAP, LEAF_CAP - keep);
      this.clearValues(lb + keep, lb + LEAF_CAP);
      this.lCount[leaf] = keep;
      this.lNext[right] = this.lNext[leaf]!;
      this.lNext[leaf] = right;
      let target = leaf;
      if (at > lb + keep) {
        target = right;
        at = right * LEAF_CAP + (at - lb - keep);
      }
      this.leafPut(target, at, start, last, seq, value);
      this.insertChild(leaf, true, right, keep !== LEAF_CAP / 2);
      return at;
    }
    this.leafPut(leaf, at, start, last, seq, value);
    return at;
  }

  // Puts an entry at flat index `at` of a leaf with room, shifting the ones after it. The hottest path
  // of insert: one fused loop, as typed-array copyWithin costs more than the move for a few entries.
  // The parent's record of the leaf was widened on the way down.
  private leafPut(leaf: number, at: number, start: number, last: number, seq: number, value: T): void {
    const end = leaf * LEAF_CAP + this.lCount[leaf]!;
    const lStart = this.lStart;
    const lLast = this.lLast;
    const lSeq = this.lSeq;
    const lVal = this.lVal;
    for (let j = end; j > at; j--) {
      lStart[j] = lStart[j - 1]!;
      lLast[j] = lLast[j - 1]!;
      lSeq[j] = lSeq[j - 1]!;
      lVal[j] = lVal[j - 1];
    }
    lStart[at] = start;
    lLast[at] = last;
    lSeq[at] = seq;
    lVal[at] = value;
    this.lCount[leaf] = end + 1 - leaf * LEAF_CAP;
  }

  // Moves `k` entries from flat index `from` (in leaf `src`) to `to` (in leaf `dst`, whose count this
  // raises by k). The caller fixes src's count and clears the value slots it no longer uses
  // (clearValues).
  private moveEntries(src: number, from: number, dst: number, to: number, k: number): void {
    if (src === dst) throw new Error("moveEntries within one leaf");
    this.shiftEntries(from, to, k);
    this.lCount[dst]! += k;
  }

  // Copies the entry fields of flat indices [from, from + k) to [to, to + k) (overlap allowed).
  private shiftEntries(from: number, to: number, k: number): void {
    this.lStart.copyWithin(to, from, from + k);
    this.lLast.copyWithin(to, from, from + k);
    this.lSeq.copyWithin(to, from, from + k);
    // Array copyWithin is a generic (slow) builtin: move the values by hand, in the safe direction.
    const lVal = this.lVal;
    if (to < from) for (let j = 0; j < k; j++) lVal[to + j] = lVal[from + j];
    else for (let j = k - 1; j >= 0; j--) lVal[to + j] = lVal[from + j];
  }

  // Drops the values of flat indices [from, to), so unused slots keep nothing alive.
  private clearValues(from: number, to: number): void {
    const lVal = this.lVal;
    for (let j = from; j < to; j++) lVal[j] = undefined;
  }

  // Links the new node `right` as the child after `left` (both leaves or both inner nodes), splitting
  // the parent when it is full, up to a new root. `append`: right is the new rightmost node of its
  // level, so a full parent splits 3/4 : 1/4 as leaves do.
  private insertChild(left: number, isLeaf: boolean, right: number, append: boolean): void {
    const p = isLeaf ? this.lParent[left]! : this.iParent[left]!;
    if (p === NIL) {
      const r = this.allocInner();
      this.iCount[r] = 0;
      this.iHeight[r] = this.height + 1;
      this.iParent[r] = NIL;
      this.setChild(r, 0, left, isLeaf);
      this.setChild(r, 1, right, isLeaf);
      this.iCount[r] = 2;
      this.innerPm(r, r * INNER_CAP);
      this.root = r;
      this.height++;
      return;
    }
    const b = p * INNER_CAP;
    const leftAt = b + (isLeaf ? this.lPos[left]! : this.iPos[left]!);
    // The left node lost entries: its record shrinks before anything moves.
    this.iMax[leftAt] = this.maxOf(left, isLeaf);
    const cnt = this.iCount[p]!;
    if (cnt < INNER_CAP) {
      this.openChild(p, leftAt + 1 - b);
      this.setChild(p, leftAt + 1 - b, right, isLeaf);
      this.innerPm(p, leftAt);
      this.fixUp(p, false);
      return;
    }
    // Full: the upper half of the children moves to a new sibling, then `right` goes to its side.
    const at = leftAt + 1 - b;
    const q = this.allocInner();
    const keep = append && at === INNER_CAP ? INNER_CAP - INNER_MIN : INNER_CAP / 2;
    this.iHeight[q] = this.iHeight[p]!;
    this.iCount[q] = 0;
    this.moveChildren(p, keep, q, 0, INNER_CAP - keep);
    this.iCount[p] = keep;
    if (at <= keep) {
      this.openChild(p, at);
      this.setChild(p, at, right, isLeaf);
    } else {
      this.openChild(q, at - keep);
      this.setChild(q, at - keep, right, isLeaf);
    }
    this.innerPm(p, b);
    this.innerPm(q, q * INNER_CAP);
    this.insertChild(p, false, q, append && at === INNER_CAP);
  }

  // Opens position `at` (0-based) in inner node `p` by shifting the children after it; count + 1.
  private openChild(p: number, at: number): void {
    const b = p * INNER_CAP;
    const cnt = this.iCount[p]!;
    const from = b + at;
    const end = b + cnt;
    if (from < end) {
      this.iMin.copyWithin(from + 1, from, end);
      this.iMinSeq.copyWithin(from + 1, from, end);
      this.iMax.copyWithin(from + 1, from, end);
      this.iChild.copyWithin(from + 1, from, end);
      this.reindex(p, at + 1, cnt + 1);
    }
    this.iCount[p] = cnt + 1;
  }

  // Stores `child` at position `at` of `p` with its record, and points it at `p`.
  private setChild(p: number, at: number, child: number, isLeaf: boolean): void {
    const c = p * INNER_CAP + at;
    this.iChild[c] = child;
    this.iMin[c] = this.minOf(child, isLeaf);
    this.iMinSeq[c] = this.minSeqOf(child, isLeaf);
    this.iMax[c] = this.maxOf(child, isLeaf);
    if (isLeaf) {
      this.lParent[child] = p;
      this.lPos[child] = at;
    } else {
      this.iParent[child] = p;
      this.iPos[child] = at;
    }
  }

  // Points the children of `p` at positions [from, to) at `p` and at their positions.
  private reindex(p: number, from: number, to: number): void {
    const b = p * INNER_CAP;
    if (this.iHeight[p] === 1) {
      for (let k = from; k < to; k++) {
        const ch = this.iChild[b + k]!;
        this.lParent[ch] = p;
        this.lPos[ch] = k;
      }
    } else {
      for (let k = from; k < to; k++) {
        const ch = this.iChild[b + k]!;
        this.iParent[ch] = p;
        this.iPos[ch] = k;
      }
    }
  }

  // Moves `k` children of `src` from position `from` to position `to` of `dst` (whose count the
  // caller has made room in, or which is being appended to), repointing them; dst count += k.
  private moveChildren(src: number, from: number, dst: number, to: number, k: number): void {
    const s = src * INNER_CAP + from;
    const d = dst * INNER_CAP + to;
    this.iMin.copyWithin(d, s, s + k);
    this.iMinSeq.copyWithin(d, s, s + k);
    this.iMax.copyWithin(d, s, s + k);
    this.iChild.copyWithin(d, s, s + k);
    this.iCount[dst]! += k;
    this.reindex(dst, to, to + k);
  }

  // ---- removal ----

  /**
   * @internal Takes the entry at live cursor `at` out of its leaf, then repairs the tree: the leaf
   * borrows or merges when it falls below LEAF_MIN, else the records above it are refreshed when the
   * entry was the leaf's first or ended at its recorded subtree-last.
   */
  eraseAt(at: number): void {
    const leaf = at >> LEAF_BITS;
    const lb = leaf * LEAF_CAP;
    const gone = this.lLast[at]!;
    const end = lb + this.lCount[leaf]! - 1;
    const lStart = this.lStart;
    const lLast = this.lLast;
    const lSeq = this.lSeq;
    const lVal = this.lVal;
    for (let j = at; j < end; j++) {
      lStart[j] = lStart[j + 1]!;
      lLast[j] = lLast[j + 1]!;
      lSeq[j] = lSeq[j + 1]!;
      lVal[j] = lVal[j + 1];
    }
    lVal[end] = undefined;
    const cnt = end - lb;
    this.lCount[leaf] = cnt;
    if (this.height === 0) return;
    if (cnt < LEAF_MIN) this.rebalanceLeaf(leaf);
    // The parent's record (least start, subtree-last) changes only if the first entry left or one
    // ending at the recorded subtree-last did.
    else if (at === lb || gone === this.iMax[this.lParent[leaf]! * INNER_CAP + this.lPos[leaf]!])
      this.fixUp(leaf, true);
  }

  // A non-root leaf fell below LEAF_MIN: merge it with a sibling or take entries from one.
  private rebalanceLeaf(leaf: number): void {
    const p = this.lParent[leaf]!;
    const pos = this.lPos[leaf]!;
    const b = p * INNER_CAP;
    const left = pos > 0 ? this.iChild[b + pos - 1]! : leaf;
    const right = pos > 0 ? leaf : this.iChild[b + 1]!;
    const lb = left * LEAF_CAP;
    const rb = right * LEAF_CAP;
    const nl = this.lCount[left]!;
    const nr = this.lCount[right]!;
    if (nl + nr <= LEAF_MERGE) {
      this.keys.onEntriesMovedLeft(right, left);
      this.moveEntries(right, rb, left, lb + nl, nr);
      this.clearValues(rb, rb + nr);
      this.lCount[right] = 0;
      this.lNext[left] = this.lNext[right]!;
      const rightPos = this.lPos[right]!;
      this.freeLeaf(right);
      this.removeChild(p, rightPos, left, true);
      return;
    }
    // Share evenly: move entries across the boundary toward the smaller side.
    const want = (nl + nr) >> 1;
    if (nl < want) {
      const k = want - nl;
      this.keys.onEntriesMovedLeft(right, left);
      this.moveEntries(right, rb, left, lb + nl, k);
      this.shiftEntries(rb + k, rb, nr - k);
      this.clearValues(rb + nr - k, rb + nr);
      this.lCount[right] = nr - k;
    } else {
      const k = nl - want;
      this.keys.onEntriesMovedRight(left, right);
      this.shiftEntries(rb, rb + k, nr);
      this.moveEntries(left, lb + nl - k, right, rb, k);
      this.clearValues(lb + nl - k, lb + nl);
      this.lCount[left] = nl - k;
    }
    this.refreshPair(p, left, right, true);
  }

  // Same for an inner node below INNER_MIN.
  private rebalanceInner(n: number): void {
    const p = this.iParent[n]!;
    const pos = this.iPos[n]!;
    const b = p * INNER_CAP;
    const left = pos > 0 ? this.iChild[b + pos - 1]! : n;
    const right = pos > 0 ? n : this.iChild[b + 1]!;
    const nl = this.iCount[left]!;
    const nr = this.iCount[right]!;
    if (nl + nr <= INNER_MERGE) {
      this.moveChildren(right, 0, left, nl, nr);
      this.iCount[right] = 0;
      this.innerPm(left, left * INNER_CAP + nl);
      const rightPos = this.iPos[right]!;
      this.freeInner(right);
      this.removeChild(p, rightPos, left, false);
      return;
    }
    const want = (nl + nr) >> 1;
    const lb = left * INNER_CAP;
    const rb = right * INNER_CAP;
    if (nl < want) {
      const k = want - nl;
      this.moveChildren(right, 0, left, nl, k);
      this.iMin.copyWithin(rb, rb + k, rb + nr);
      this.iMinSeq.copyWithin(rb, rb + k, rb + nr);
      this.iMax.copyWithin(rb, rb + k, rb + nr);
      this.iChild.copyWithin(rb, rb + k, rb + nr);
      this.iCount[right] = nr - k;
      this.reindex(right, 0, nr - k);
      this.innerPm(left, lb + nl);
    } else {
      const k = nl - want;
      this.iMin.copyWithin(rb + k, rb, rb + nr);
      this.iMinSeq.copyWithin(rb + k, rb, rb + nr);
      this.iMax.copyWithin(rb + k, rb, rb + nr);
      this.iChild.copyWithin(rb + k, rb, rb + nr);
      this.iCount[right] = nr; // moveChildren adds k
      this.moveChildren(left, nl - k, right, 0, k);
      this.reindex(right, k, nr + k);
      this.iCount[left] = nl - k;
      this.innerPm(left, lb);
    }
    this.innerPm(right, rb);
    this.refreshPair(p, left, right, false);
  }

  // Both siblings changed in place: refresh their records in `p`, then p's record upward.
  private refreshPair(p: number, left: number, right: number, isLeaf: boolean): void {
    const b = p * INNER_CAP;
    const lc = b + (isLeaf ? this.lPos[left]! : this.iPos[left]!);
    this.iMin[lc] = this.minOf(left, isLeaf);
    this.iMinSeq[lc] = this.minSeqOf(left, isLeaf);
    this.iMax[lc] = this.maxOf(left, isLeaf);
    this.iMin[lc + 1] = this.minOf(right, isLeaf);
    this.iMinSeq[lc + 1] = this.minSeqOf(right, isLeaf);
    this.iMax[lc + 1] = this.maxOf(right, isLeaf);
    this.innerPm(p, lc);
    this.fixUp(p, false);
  }

  // Drops the child at position `at` of `p` (already merged into `into`, the child before it), then
  // repairs p: collapse a root with one child, rebalance an underfull node, or refresh upward.
  private removeChild(p: number, at: number, into: number, isLeaf: boolean): void {
    const b = p * INNER_CAP;
    const cnt = this.iCount[p]!;
    const from = b + at;
    this.iMin.copyWithin(from, from + 1, b + cnt);
    this.iMinSeq.copyWithin(from, from + 1, b + cnt);
    this.iMax.copyWithin(from, from + 1, b + cnt);
    this.iChild.copyWithin(from, from + 1, b + cnt);
    this.iCount[p] = cnt - 1;
    this.reindex(p, at, cnt - 1);
    const ic = b + (isLeaf ? this.lPos[into]! : this.iPos[into]!);
    this.iMin[ic] = this.minOf(into, isLeaf);
    this.iMinSeq[ic] = this.minSeqOf(into, isLeaf);
    this.iMax[ic] = this.maxOf(into, isLeaf);
    this.innerPm(p, ic);
    if (p === this.root) {
      if (cnt - 1 === 1) {
        this.root = into;
        this.height--;
        if (isLeaf) this.lParent[into] = NIL;
        else this.iParent[into] = NIL;
        this.freeInner(p);
      }
      return;
    }
    if (cnt - 1 < INNER_MIN) this.rebalanceInner(p);
    else this.fixUp(p, false);
  }
}
