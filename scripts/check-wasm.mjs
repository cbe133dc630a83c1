#!/usr/bin/env node
// Build gate for the kernel module (issue: "the build fails if the module has
// data, global or start sections"). Every thread instantiates the same module
// over the same shared memory; a data segment would be re-applied, a global
// heap pointer would be per-instance, and a start function would run again on
// each instantiation. So the module may contain none of them, and may import
// nothing but env.memory.
import fs from 'node:fs';

const file = process.argv[2] ?? 'dist/kaio.wasm';
const bytes = fs.readFileSync(file);
const NAMES = { 0: 'custom', 1: 'type', 2: 'import', 3: 'function', 4: 'table', 5: 'memory', 6: 'global', 7: 'export', 8: 'start', 9: 'element', 10: 'code', 11: 'data', 12: 'datacount', 13: 'tag' };
const FORBIDDEN = new Set([6, 8, 11, 12]);

let p = 8;
const leb = () => { let r = 0, s = 0, b; do { b = bytes[p++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return r >>> 0; };
const found = [];
while (p < bytes.length) {
  const id = bytes[p++];
  const len = leb();
  found.push(id);
  p += len;
}
const bad = found.filter((id) => FORBIDDEN.has(id)).map((id) => NAMES[id]);
let imports;
try {
  imports = WebAssembly.Module.imports(new WebAssembly.Module(bytes));
} catch (e) {
  console.error(`check-wasm: ${file} is not a valid module: ${e.message}`);
  process.exit(1);
}
const badImports = imports.filter((i) => !(i.module === 'env' && i.name === 'memory' && i.kind === 'memory'));
if (bad.length || badImports.length) {
  if (bad.length) console.error(`check-wasm: ${file} has forbidden section(s): ${bad.join(', ')}`);
  if (badImports.length) console.error(`check-wasm: ${file} imports more than env.memory: ${badImports.map((i) => `${i.module}.${i.name}`).join(', ')}`);
  console.error('check-wasm: shared-memory kernels must not use string literals, static arrays, globals or `new`.');
  process.exit(1);
}
console.log(`check-wasm: ${file} ok (${bytes.length} bytes; sections: ${found.map((id) => NAMES[id]).join(' ')})`);
