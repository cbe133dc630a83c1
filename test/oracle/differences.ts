/**
 * Where kaio differs from Linux on purpose, and why: the only lines the
 * differential test lets differ. Each entry names the sequences it applies to
 * and the exact pair of lines (Linux's, kaio's) it accepts, as full-line
 * patterns; any other difference, in any sequence, fails the test.
 * docs/DIFFERENCES-draft.md presents the same table for readers.
 */
export interface Difference {
  id: string;
  reason: string;
  /** Sequence names (file names without .seq). */
  sequences: string[];
  /** Linux's line and kaio's line at the same position. */
  linux: RegExp;
  kaio: RegExp;
}

export const DIFFERENCES: Difference[] = [
  {
    id: 'cancel-rw-in-flight',
    reason:
      'Design (seed patch, S5/S6): io_cancel of a read or write still in flight marks it and returns -EINPROGRESS. ' +
      'Linux 6.18 cannot cancel reads and writes (-EINVAL; on a regular file they completed inline at submit anyway).',
    sequences: ['cancel-held-read', 'cancel-held-write', 'cancel-twice-held', 'cancel-partial-batch'],
    linux: /^cancel \S+ \S+ = -EINVAL$/,
    kaio: /^cancel \S+ \S+ = -EINPROGRESS$/,
  },
  {
    id: 'cancelled-rw-event',
    reason:
      'Design (S5/S6): a read or write cancelled while in the software queue never reaches the device and its event has res -ECANCELED. ' +
      'On Linux the same request completed normally.',
    sequences: ['cancel-held-read', 'cancel-held-write', 'cancel-twice-held', 'cancel-partial-batch'],
    linux: /^ {2}ev \S+ data=\d+ res=\d+ res2=0$/,
    kaio: /^ {2}ev \S+ data=\d+ res=-ECANCELED res2=0$/,
  },
  {
    id: 'cancelled-rw-data',
    reason:
      'Follows from cancelled-rw-event: a cancelled read leaves its buffer untouched (and a cancelled write leaves the file as it was), ' +
      'where Linux transferred the data.',
    sequences: ['cancel-held-read', 'cancel-held-write'],
    linux: /^(bytes \S+ = [0-9a-f]{8}|readback \S+ \d+ \d+ = \d+ [0-9a-f]{8})$/,
    kaio: /^(bytes \S+ = [0-9a-f]{8}|readback \S+ \d+ \d+ = \d+ [0-9a-f]{8})$/,
  },
  {
    id: 'cancelled-poll-res',
    reason:
      'Design (S5): a cancelled request\'s event says so with res -ECANCELED. Linux completes a cancelled POLL with res 0 ' +
      '(aio_poll_complete_work: mangle_poll(0)), indistinguishable from "no events".',
    sequences: ['poll-cancel', 'poll-cancel-twice', 'poll-cancel-other-ctx'],
    linux: /^ {2}ev \S+ data=\d+ res=0 res2=0$/,
    kaio: /^ {2}ev \S+ data=\d+ res=-ECANCELED res2=0$/,
  },
  {
    id: 'cancel-twice',
    reason:
      'Design (S5): a second io_cancel of a request still pending is harmless and returns -EINPROGRESS again. ' +
      'Linux removes the request from active_reqs on the first cancel, so the second finds nothing: -EINVAL.',
    sequences: ['poll-cancel-twice', 'cancel-twice-held'],
    linux: /^cancel \S+ \S+ = -EINVAL$/,
    kaio: /^cancel \S+ \S+ = -EINPROGRESS$/,
  },
  {
    id: 'ramdisk-end',
    reason:
      'kaio\'s files are ramdisks: block devices of fixed size. A write at or past the end is -ENOSPC and one that crosses it is ' +
      'cut at the end, as Linux\'s blkdev_write_iter does; the oracle\'s files are regular files, which grow.',
    sequences: ['write-past-eof'],
    linux: /^( {2}ev \S+ data=\d+ res=\d+ res2=0|readback \S+ \d+ \d+ = \d+ [0-9a-f]{8})$/,
    kaio: /^( {2}ev \S+ data=\d+ res=(-ENOSPC|\d+) res2=0|readback \S+ \d+ \d+ = \d+ [0-9a-f]{8})$/,
  },
  {
    id: 'dontcache',
    reason:
      'RWF_DONTCACHE is accepted only where the file system has FOP_DONTCACHE: ext4 (a typical tmp dir) has it, a block device ' +
      '(what a ramdisk is) does not: kiocb_set_rw_flags says -EOPNOTSUPP, before the opcode, with aio_key already written ' +
      '(checked on a loop device).',
    sequences: ['rwflags-dontcache'],
    linux: /^submit \S+ \S+ = (1|-EOPNOTSUPP) keys=w$/,
    kaio: /^submit \S+ \S+ = -EOPNOTSUPP keys=w$/,
  },
  {
    id: 'noop',
    reason:
      'README: IOCB_CMD_NOOP completes at once with 0 (kaio uses it for benchmarks and stress); mainline Linux has no opcode 6 and ' +
      'rejects it with -EINVAL.',
    sequences: ['opcode-noop'],
    linux: /^submit \S+ \S+ = -EINVAL keys=w$/,
    kaio: /^submit \S+ \S+ = 1 keys=w$/,
  },
  {
    id: 'destroy-cancels',
    reason:
      'Design (S11): io_destroy cancels every outstanding request, then waits. A read still in the software queue is cancelled and ' +
      'leaves its buffer untouched; Linux cannot cancel it and waits for its data. A read that had completed has its bytes in the ' +
      'buffer on both (kaio copies a finished read into its plain buffer before it frees the ring).',
    sequences: ['libaio-18-destroy-waits'],
    linux: /^bytes \S+ = [0-9a-f]{8}$/,
    kaio: /^bytes \S+ = [0-9a-f]{8}$/,
  },
];

export interface Comparison {
  /** Lines that differ only as a listed difference allows: [line number, difference id]. */
  masked: Array<[number, string]>;
  /** Everything else that differs. */
  mismatches: string[];
}

/** An op's line and the event lines under it (indented). */
function records(lines: string[]): string[][] {
  const out: string[][] = [];
  for (const l of lines) {
    if (l.startsWith('  ') && out.length > 0) out[out.length - 1].push(l);
    else out.push([l]);
  }
  return out;
}

/**
 * Compare op by op (an op's line with its event lines), then line by line
 * within each op, so that one op with an extra or missing event does not shift
 * the rest. A differing pair is masked only by an entry for this sequence
 * whose two patterns match the two lines; a line present on one side only is
 * never masked.
 */
export function compare(sequence: string, linux: string[], kaio: string[]): Comparison {
  const masked: Array<[number, string]> = [];
  const mismatches: string[] = [];
  const L = records(linux);
  const K = records(kaio);
  let lineNo = 0;
  for (let r = 0; r < Math.max(L.length, K.length); r++) {
    const lr = L[r] ?? [];
    const kr = K[r] ?? [];
    for (let i = 0; i < Math.max(lr.length, kr.length); i++) {
      lineNo++;
      const l = lr[i];
      const k = kr[i];
      if (l === k) continue;
      const d = l !== undefined && k !== undefined
        ? DIFFERENCES.find((d) => d.sequences.includes(sequence) && d.linux.test(l) && d.kaio.test(k))
        : undefined;
      if (d) masked.push([lineNo, d.id]);
      else mismatches.push(`op ${r + 1}: linux ${JSON.stringify(l ?? '(none)')} kaio ${JSON.stringify(k ?? '(none)')}`);
    }
  }
  return { masked, mismatches };
}
