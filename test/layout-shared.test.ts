// Description: assembly/include/layout.ts is compiled into the kernel and imported by the host.
// Invariant: every constant is a non-negative integer that fits in u32 in JavaScript too (so both
// sides compute the same offsets), and the kernel module carries the same layout signature.
import * as L from '../assembly/include/layout';
import * as E from '../assembly/include/errno';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

test('every layout constant is a u32 integer in JavaScript, as in AssemblyScript', () => {
  for (const [name, v] of Object.entries(L)) {
    expect([name, Number.isInteger(v) && v >= 0 && v <= 0xffffffff]).toEqual([name, true]);
  }
  for (const [name, v] of Object.entries(E)) expect([name, Number.isInteger(v) && v > 0]).toEqual([name, true]);
});

test('regions are ordered, aligned and do not overlap', () => {
  const regions: Array<[string, number, number]> = [
    ['header', L.HDR_OFF, L.HDR_SIZE],
    ['cpus', L.CPU_OFF, L.MAX_CPUS * L.CPU_SIZE],
    ['contexts', L.CTX_OFF, L.MAX_CTX * L.CTX_SIZE],
    ['files', L.FILE_OFF, L.MAX_FILES * L.FILE_SIZE],
    ['fds', L.FD_OFF, L.MAX_FDS * 4],
    ['devices', L.DEV_OFF, L.MAX_DEVS * L.DEV_SIZE],
    ['pipes', L.PIPE_OFF, L.MAX_PIPES * L.PIPE_SIZE],
    ['scratch', L.SCRATCH_OFF, L.MAX_CPUS * L.SCRATCH_SIZE],
    ['kiocb pages', L.KPAGE_OFF, L.ID_PAGES * 4],
    ['cancel-word pages', L.CPAGE_OFF, L.CW_PAGES * 4],
    ['id map', L.IDMAP_OFF, L.ID_PAGES / 8],
  ];
  for (let i = 0; i < regions.length; i++) {
    const [name, off, size] = regions[i];
    expect([name, off % 8]).toEqual([name, 0]);
    const next = i + 1 < regions.length ? regions[i + 1][1] : L.HEAP_OFF;
    expect([name, off + size <= next]).toEqual([name, true]);
  }
  // Records fit their scratch areas.
  expect(L.SUB_MAX_BATCH * L.SUB_REC_SIZE).toBeLessThanOrEqual(L.SCRATCH_SEGS);
  expect(L.SCRATCH_SEGS + L.SUB_MAX_SEGS * L.SEG_SIZE).toBeLessThanOrEqual(L.SCRATCH_SIZE);
  expect(L.REAP_MAX * L.REAP_REC_SIZE).toBeLessThanOrEqual(L.SCRATCH_SIZE);
  expect(L.KI_SEG_INLINE + L.KI_INLINE_SEGS * L.SEG_SIZE).toBeLessThanOrEqual(L.KI_BIO_INLINE);
  expect(L.KI_BIO_INLINE + L.BIO_SIZE).toBeLessThanOrEqual(L.KIOCB_SIZE);
  expect(L.H_FREELISTS + L.NR_CLASSES * 8).toBeLessThanOrEqual(L.H_ID_LOCK);
});

test('the built kernel carries this layout\'s signature', () => {
  const m = new WebAssembly.Module(fs.readFileSync(path.join(root, 'dist/kaio.wasm')));
  const mem = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const x = new WebAssembly.Instance(m, { env: { memory: mem } }).exports as { layout_sig(): number };
  expect(x.layout_sig()).toBe(L.LAYOUT_SIG);
});
