// npm run bench -- <suite> [options]: runs one benchmark suite (or all) and prints its tables.

const suites: Record<string, () => Promise<{ main(args: string[]): Promise<void> }>> = {
  itree: () => import("./itree.js"),
  mm: () => import("./mm.js"),
  hmm: () => import("./hmm.js"),
  sync: () => import("./sync.js"),
  explore: () => import("./explore.js"),
  notifier: () => import("./notifier.js"),
};

async function mainEntry(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h") {
    console.log(`usage: npm run bench -- <suite> [options]\nsuites: ${Object.keys(suites).join(", ")}, all`);
    return;
  }
  const names = name === "all" ? Object.keys(suites) : [name];
  for (const n of names) {
    const load = suites[n];
    if (!load) {
      console.error(`unknown suite "${n}"; suites: ${Object.keys(suites).join(", ")}, all`);
      process.exitCode = 2;
      return;
    }
    const suite = await load();
    await suite.main(rest);
  }
}

await mainEntry(process.argv.slice(2));
