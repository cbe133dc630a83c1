// Description: property-based fuzz of the five syscalls against a reference model (issue 8).
// Invariant: for every generated command sequence (io_setup, io_submit batches of reads/writes on
// ramdisks, nulldev, pipes, POLL, vectored I/O and invalid entries, io_cancel of live, stale,
// forged and other contexts' keys, io_getevents, reaping from the ring, io_destroy, device runs,
// pipe writes), kaio and test/fuzz/model.ts agree on every return value, every event and every byte.
// FUZZ_RUNS scales the number of sequences (npm run fuzz: 1,000,000); FUZZ_SEED replays one.
import fc from 'fast-check';
import { tBoot, tDisk, tPossibleCpus } from './helpers';
import { AIO_MAX_NR, DISK_SIZE, coverage, runSequence, seqArb, type Rig } from './fuzz/runner';

const TOTAL = Number(process.env.FUZZ_RUNS ?? 10_000);
const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const path = process.env.FUZZ_PATH;

async function rig(lookup: 'tags' | 'list'): Promise<Rig> {
  const k = await tBoot({ lookup, aioMaxNr: AIO_MAX_NR });
  const disks = [0, 1].map(() => {
    const { path, fd } = tDisk(k, { sizeBytes: DISK_SIZE, serviceTimeUs: 0 });
    k.device(path).pause();
    return { path, rw: fd, ro: k.open(path, 'r') };
  });
  const nullFd = k.open(k.nulldev(`fz${process.pid}_${lookup}`), 'rw');
  return { k, possible: tPossibleCpus(), disks, nullFd };
}

describe.each([
  ['tags', 0.6],
  ['list', 0.35],
] as const)('syscalls against the model (%s)', (lookup, share) => {
  test(`${Math.round(TOTAL * share)} random sequences`, async () => {
    const r = await rig(lookup);
    fc.assert(fc.property(seqArb(20), (cmds) => runSequence(r, cmds)), {
      numRuns: Math.round(TOTAL * share), seed, path, endOnFailure: false,
    });
    if (process.env.FUZZ_STATS) console.log([...coverage].sort().map(([l, n]) => `${n}\t${l}`).join('\n'));
  }, 3_600_000);
});
