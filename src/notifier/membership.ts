// Where an interval notifier stands with respect to its mm's interval tree. The kernel encodes this
// in the rb node (RB_EMPTY_NODE = "not linked") plus the deferred list link; we name the states.

/** Never inserted, or its insert failed. */
export const NOT_INSERTED = 0;
/** Queued on the deferred list: the insert happened during an exclusive period. */
export const PENDING_INSERT = 1;
/** Linked in the interval tree: invalidations find it. */
export const IN_TREE = 2;
/** Still linked, queued on the deferred list for removal at the end of the exclusive period. */
export const PENDING_REMOVE = 3;
/** Unlinked by the end of the exclusive period; its remover has not returned yet. */
export const UNLINKED = 4;
/** `remove()` returned: no callback runs and none will. */
export const REMOVED = 5;

export type MembershipCode =
  | typeof NOT_INSERTED
  | typeof PENDING_INSERT
  | typeof IN_TREE
  | typeof PENDING_REMOVE
  | typeof UNLINKED
  | typeof REMOVED;

/** Names of the membership states, indexed by code. */
export const MEMBERSHIP_NAMES = [
  "not-inserted",
  "pending-insert",
  "in-tree",
  "pending-remove",
  "unlinked",
  "removed",
] as const;

export type IntervalMembership = (typeof MEMBERSHIP_NAMES)[number];
