// Description: the build gate for shared-memory safety of the kernel module.
// Invariant: dist/kaio.wasm has no global or start section, imports only env.memory (shared),
// and its only data segments lie in the read-only ops region [RODATA_OFF, RODATA_END), so
// instantiation writes nothing outside it; the gate rejects a module that breaks any of these.
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import os from 'node:os';
import * as L from '../assembly/include/layout';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

test('dist/kaio.wasm passes the gate and imports only a shared env.memory', () => {
  const bytes = fs.readFileSync(path.join(root, 'dist/kaio.wasm'));
  const m = new WebAssembly.Module(bytes);
  expect(WebAssembly.Module.imports(m)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
  const out = execFileSync(process.execPath, [path.join(root, 'scripts/check-wasm.mjs'), path.join(root, 'dist/kaio.wasm')]).toString();
  expect(out).toMatch(/ok/);
  expect(out).not.toMatch(/global|start/);
});

test("the gate's rodata bounds are layout.ts's, and the module's data lies inside them", async () => {
  const gate = fs.readFileSync(path.join(root, 'scripts/check-wasm.mjs'), 'utf8');
  const num = (name: string) => Number(new RegExp(`const ${name} = (\\d+);`).exec(gate)?.[1]);
  expect([num('RODATA_OFF'), num('RODATA_END')]).toEqual([L.RODATA_OFF, L.RODATA_END]);
  expect(L.RODATA_END).toBe(L.HDR_OFF + L.HDR_SIZE);
  // The last header field in use ends well below rodata.
  expect(L.H_UFREELISTS + L.NR_CLASSES * 8).toBeLessThanOrEqual(L.RODATA_OFF);
  const mem = new WebAssembly.Memory({ initial: 2, maximum: 2, shared: true });
  const bytes = fs.readFileSync(path.join(root, 'dist/kaio.wasm'));
  new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory: mem } });
  const u8 = new Uint8Array(mem.buffer);
  const outside = u8.findIndex((b, i) => b !== 0 && (i < L.RODATA_OFF || i >= L.RODATA_END));
  expect(outside).toBe(-1); // instantiation wrote nothing outside rodata
  expect(u8.subarray(L.RODATA_OFF, L.RODATA_END).some((b) => b !== 0)).toBe(true);
});

test('the gate fails a module with a data segment and a global', () => {
  // (module (import "env" "memory" (memory 1 1 shared)) (global i32 (i32.const 0)) (data (i32.const 0) "x"))
  const wasm = Buffer.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x02, 0x10, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x03, 0x01, 0x01,
    0x06, 0x06, 0x01, 0x7f, 0x00, 0x41, 0x00, 0x0b,
    0x0b, 0x07, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x78,
  ]);
  const f = path.join(os.tmpdir(), `kaio-bad-${process.pid}.wasm`);
  fs.writeFileSync(f, wasm);
  let code = 0;
  let stderr = '';
  try {
    execFileSync(process.execPath, [path.join(root, 'scripts/check-wasm.mjs'), f], { stdio: 'pipe' });
  } catch (e) {
    code = (e as { status: number }).status;
    stderr = String((e as { stderr: Buffer }).stderr);
  } finally {
    fs.unlinkSync(f);
  }
  expect(code).toBe(1);
  expect(stderr).toMatch(/global/);
  expect(stderr).toMatch(/data/);
});
