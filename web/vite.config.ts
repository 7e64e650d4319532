// Builds the visualizer into one self-contained HTML file (script and style inlined), which
// `mmun view` serves and `mmun demo --html` writes with its traces inside: it opens from disk with
// no server. `npm run build` builds it into dist/web/; a checkout's CLI builds it on demand.

import { defineConfig, type Plugin } from "vite";

/** Inlines the bundle's script and style into index.html, and drops their files. */
function inlineIntoHtml(): Plugin {
  return {
    name: "mmun-inline",
    enforce: "post",
    generateBundle(_options, bundle) {
      const html = Object.values(bundle).find((f) => f.type === "asset" && f.fileName.endsWith(".html"));
      if (html === undefined || html.type !== "asset") return;
      let text = String(html.source);
      for (const [name, file] of Object.entries(bundle)) {
        if (file.type === "chunk" && file.isEntry) {
          const code = file.code.replaceAll("</script", "<\\/script");
          text = text.replace(
            new RegExp(`<script type="module" crossorigin src="[^"]*${escapeRe(file.fileName)}"></script>`),
            () => `<script type="module">${code}</script>`,
          );
          delete bundle[name];
        } else if (file.type === "asset" && file.fileName.endsWith(".css")) {
          const css = String(file.source).replaceAll("</style", "<\\/style");
          text = text.replace(
            new RegExp(`<link rel="stylesheet" crossorigin href="[^"]*${escapeRe(file.fileName)}">`),
            () => `<style>${css}</style>`,
          );
          delete bundle[name];
        }
      }
      html.source = text;
    },
  };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export default defineConfig({
  root: import.meta.dirname,
  base: "./",
  logLevel: "warn",
  plugins: [inlineIntoHtml()],
  build: {
    outDir: "../dist/web",
    emptyOutDir: true,
    modulePreload: false,
    cssCodeSplit: false,
    assetsInlineLimit: 100_000_000,
    target: "es2022",
  },
});
