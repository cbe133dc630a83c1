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

// Header fields are added by hand, by several people: two of them once landed on
// the same offset. Every H_ field has its own bytes, and all of them end below rodata.
test('header fields (H_*) do not overlap and end below RODATA_OFF', () => {
  const src = fs.readFileSync(path.join(root, 'assembly/include/layout.ts'), 'utf8');
  const sizes: Record<string, number> = {
    H_FREELISTS: L.NR_CLASSES * 8, H_UFREELISTS: L.NR_CLASSES * 8, // {aba | ptr} heads per class
    H_ST_DISCARDED: 8, H_ST_LATE_CB: 8, H_CXL_DEVS: 8, // u64 words
  };
  const fields = [...src.matchAll(/^export const (H_[A-Z0-9_]+): u32 = ([0-9]+);/gm)]
    .map((m) => ({ name: m[1], off: Number(m[2]), size: sizes[m[1]] ?? 4 }))
    .sort((a, b) => a.off - b.off);
  expect(fields.length).toBeGreaterThan(25);
  const overlaps: string[] = [];
  for (let i = 1; i < fields.length; i++) {
    const p = fields[i - 1];
    if (p.off + p.size > fields[i].off) overlaps.push(`${p.name} [${p.off}, ${p.off + p.size}) overlaps ${fields[i].name} at ${fields[i].off}`);
  }
  expect(overlaps).toEqual([]);
  const last = fields[fields.length - 1];
  expect(last.off + last.size).toBeLessThanOrEqual(L.RODATA_OFF);
  for (const f of fields) expect([f.name, f.off % Math.min(f.size, 8)]).toEqual([f.name, 0]); // aligned
});

// The per-cpu record (CPU_*) grew the same way: two branches once both put a field at 32.
test('per-cpu fields (CPU_* offsets) do not overlap and fit in CPU_SIZE', () => {
  const sizes: Record<string, number> = { CPU_OWNER: 8, CPU_PLUG: 8 }; // u64 words; the rest are u32
  const offsets = ['CPU_OWNER', 'CPU_PLUG_COUNT', 'CPU_DEFER', 'CPU_STAGED', 'CPU_EPOCH', 'CPU_ORPHANS', 'CPU_SUBMITTED', 'CPU_HELD_REQS', 'CPU_SPARE_TAG', 'CPU_PLUG'];
  const src = fs.readFileSync(path.join(root, 'assembly/include/layout.ts'), 'utf8');
  // Every CPU_ constant that is an offset is in the list (the others are states, kinds and the size).
  const notOffsets = new Set(['CPU_OFF', 'CPU_SIZE', 'CPU_FREE', 'CPU_ONLINE', 'CPU_RECLAIMING', 'CPU_KIND_SHIFT']);
  const declared = [...src.matchAll(/^export const (CPU_[A-Z0-9_]+): u32 = /gm)].map((m) => m[1]).filter((n) => !notOffsets.has(n) && !n.startsWith('CPU_KIND_'));
  expect(declared.sort()).toEqual([...offsets].sort());
  const fields = offsets.map((name) => ({ name, off: (L as unknown as Record<string, number>)[name], size: sizes[name] ?? 4 })).sort((a, b) => a.off - b.off);
  const overlaps: string[] = [];
  for (let i = 1; i < fields.length; i++) {
    const p = fields[i - 1];
    if (p.off + p.size > fields[i].off) overlaps.push(`${p.name} [${p.off}, ${p.off + p.size}) overlaps ${fields[i].name} at ${fields[i].off}`);
  }
  expect(overlaps).toEqual([]);
  for (const f of fields) expect([f.name, f.off % f.size, f.off + f.size <= L.CPU_SIZE]).toEqual([f.name, 0, true]);
});

test('boot flags (FLAG_*) are distinct single bits', () => {
  const src = fs.readFileSync(path.join(root, 'assembly/include/layout.ts'), 'utf8');
  const flags = [...src.matchAll(/^export const (FLAG_[A-Z0-9_]+): u32 = ([0-9]+);/gm)].map((m) => [m[1], Number(m[2])] as const);
  expect(flags.length).toBeGreaterThanOrEqual(8);
  for (const [name, v] of flags) expect([name, v > 0 && (v & (v - 1)) === 0]).toEqual([name, true]);
  expect(new Set(flags.map(([, v]) => v)).size).toBe(flags.length);
});
