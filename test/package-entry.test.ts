// Description: the package loads the way users load it.
// Invariant: `import('kaio')` and `require('kaio')` (Node >= 20.19, no top-level await) give the
// same API, and a kernel booted through either works.
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

test('require(\'kaio\') and import(\'kaio\') both work from a plain Node process', () => {
  const script = `
    const k1 = require('kaio');
    import('kaio').then(async (k2) => {
      if (k1.Kernel !== k2.Kernel) throw new Error('different modules');
      const k = await k1.Kernel.boot({ memoryMiB: 64 });
      const ctx = k.io_setup(2);
      const ok = ctx > 0 && k1.IOCB_CMD.PREAD === 0 && k1.errno.ECANCELED === 125;
      await k.shutdown();
      process.stdout.write(ok ? 'ok' : 'bad');
    });`;
  const out = execFileSync(process.execPath, ['-e', script], { cwd: root }).toString();
  expect(out).toBe('ok');
});
