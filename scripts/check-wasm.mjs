#!/usr/bin/env node
// Build gate for the kernel module. Every thread instantiates the same module
// over the same shared memory, so the module may hold no global (it would be
// per-instance) and no start function (it would run again on each
// instantiation), and may import nothing but env.memory. Its only data
// segments are the compiler's static Function objects for the ops tables
// (function-table indices, never written by code): they must lie inside the
// read-only region [RODATA_OFF, RODATA_END) of assembly/include/layout.ts, so
// that re-applying them on another instantiation writes the same bytes to a
// region no code writes, and nothing else.
import fs from 'node:fs';

// assembly/include/layout.ts (test/build-wasm-sections.test.ts checks they agree).
const RODATA_OFF = 3072;
const RODATA_END = 4096;

const file = process.argv[2] ?? 'dist/kaio.wasm';
const bytes = fs.readFileSync(file);
const NAMES = { 0: 'custom', 1: 'type', 2: 'import', 3: 'function', 4: 'table', 5: 'memory', 6: 'global', 7: 'export', 8: 'start', 9: 'element', 10: 'code', 11: 'data', 12: 'datacount', 13: 'tag' };
const FORBIDDEN = new Set([6, 8]);

let p = 8;
const leb = () => { let r = 0, s = 0, b; do { b = bytes[p++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return r >>> 0; };
const sleb = () => { let r = 0, s = 0, b; do { b = bytes[p++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); if (s < 32 && (b & 0x40)) r |= -1 << s; return r; };
const found = [];
const badData = [];
let segments = 0;
while (p < bytes.length) {
  const id = bytes[p++];
  const len = leb();
  const end = p + len;
  found.push(id);
  if (id === 11) {
    // Data segments: each must be active, in memory 0, at an i32.const offset inside rodata.
    const n = leb();
    for (let i = 0; i < n; i++) {
      const flags = leb();
      if (flags !== 0) { badData.push(`segment ${i}: flags ${flags} (only active segments at a constant offset)`); break; }
      if (bytes[p++] !== 0x41) { badData.push(`segment ${i}: offset is not an i32.const`); break; }
      const off = sleb() >>> 0;
      if (bytes[p++] !== 0x0b) { badData.push(`segment ${i}: offset expression too long`); break; }
      const size = leb();
      p += size;
      segments++;
      if (off < RODATA_OFF || off + size > RODATA_END) badData.push(`segment ${i} at [${off}, ${off + size}) is outside rodata [${RODATA_OFF}, ${RODATA_END})`);
    }
  }
  p = end;
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
if (bad.length || badImports.length || badData.length) {
  if (bad.length) console.error(`check-wasm: ${file} has forbidden section(s): ${bad.join(', ')}`);
  if (badData.length) console.error(`check-wasm: ${file} has data outside rodata: ${badData.join('; ')}`);
  if (badImports.length) console.error(`check-wasm: ${file} imports more than env.memory: ${badImports.map((i) => `${i.module}.${i.name}`).join(', ')}`);
  console.error('check-wasm: shared-memory kernels must not use string literals, static arrays, globals or `new`.');
  process.exit(1);
}
console.log(`check-wasm: ${file} ok (${bytes.length} bytes; sections: ${found.map((id) => NAMES[id]).join(' ')}; ${segments} rodata segment(s))`);
