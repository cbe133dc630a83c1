// The promise level: reads and writes as promises, AbortSignal wired to
// io_cancel, events() as an async iterator that ends when asked.
import assert from 'node:assert/strict';
import { Kernel } from 'kaio';

const k = await Kernel.boot();
const disk = k.ramdisk('rd0', { sizeBytes: 1 << 20 });
const fd = k.open(disk, 'rw');
const io = k.context();                              // io_setup(128), reaped for you

assert.equal(await io.write(fd, Buffer.from('hello, kaio'), 0), 11);

// Abort a read that is still queued (the device is paused): it never runs.
k.device(disk).pause();
const ac = new AbortController();
const read = io.read(fd, Buffer.alloc(4096), 0, { signal: ac.signal });
await new Promise((r) => setImmediate(r));           // let it be submitted (an abort before that never reaches the kernel)
ac.abort(new Error('not needed any more'));          // io_cancel under the hood
try {
  await read;                                        // resolves with the bytes read if the read had already reached the device
  assert.fail('the read was queued: the cancel takes effect');
} catch (err) {
  assert.equal(err.name, 'AbortError');              // the cancel took effect: cause is the signal's reason
  assert.equal(err.cause.message, 'not needed any more');
}
k.device(disk).resume();

// Watch completions as they are reaped: this loop ends after 2 events
// (events({ signal }) ends when a signal aborts; every iteration ends on close).
const seen = [];
const watching = (async () => {
  for await (const ev of io.events({ count: 2 })) seen.push(ev.res);
})();
const buf = Buffer.alloc(11);
const [n, m] = await Promise.all([io.read(fd, buf, 0), io.read(fd, Buffer.alloc(5), 7)]);
await watching;
assert.deepEqual([n, m, buf.toString()], [11, 5, 'hello, kaio']);
assert.deepEqual(seen.sort((a, b) => a - b), [5, 11]);

await io.close();                                    // cancels what is left, waits, io_destroy
await k.shutdown();
console.log(`promises: read "${buf}", the aborted read rejected with AbortError, events() ended after ${seen.length}`);
