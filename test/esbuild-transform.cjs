// Jest transform: TypeScript tests to ESM with esbuild (ts-jest needs the
// TypeScript compiler API, which TypeScript 7 no longer has).
const { transformSync } = require('esbuild');

module.exports = {
  process(source, filename) {
    const r = transformSync(source, { loader: 'ts', format: 'esm', target: 'node20', sourcemap: 'inline', sourcefile: filename });
    return { code: r.code };
  },
};
