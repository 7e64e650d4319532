// The layers of DESIGN.md §1, enforced: a module imports only from its own layer or the layers below
// it, the visualizer (web/) reads only src/trace and src/lib, and no value import cycle exists in
// src/ (type-only imports may point back: they vanish at build time). Run by `npm test`
// (`npm run deps`, over src/ and web/).

/** Bottom to top. `lib` and `trace` share the bottom row: neither imports the other's layer above. */
const LAYERS = ["lib", "trace", "sync", "notifier", "mm", "hmm", "drivers", "explore", "scenarios", "cli"];

/** The layers a module of LAYERS[i] must not import: every layer above it. */
function upward(i) {
  return LAYERS.slice(i + 1);
}

const layerRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer}`,
  comment: `src/${layer}/ imports only from itself and the layers below it (DESIGN.md §1)`,
  severity: "error",
  from: { path: `^src/${layer}/` },
  to: { path: `^src/(${upward(i).join("|")})/` },
}));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: "lib-trace-apart",
      comment: "lib/ and trace/ are the bottom row: lib does not import trace",
      severity: "error",
      from: { path: "^src/lib/" },
      to: { path: "^src/trace/" },
    },
    {
      name: "web-reads-trace-and-lib-only",
      comment: "the visualizer reads the versioned trace format and the pure lib, never the runtime",
      severity: "error",
      from: { path: "^web/" },
      to: { path: "^src/(?!trace/|lib/)" },
    },
    {
      name: "no-value-cycle",
      comment: "no import cycle in src/ through value imports (type-only imports aside)",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } },
    },
    {
      name: "src-does-not-import-tests",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(test|bench)/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js", ".mjs"] },
  },
};
