/**
 * Entry point of kaio's own threads (device threads and the kworker). Each
 * instantiates the kernel over the shared memory, claims a cpu and runs its
 * loop until shutdown.
 */
import { workerData } from 'node:worker_threads';
import * as L from '../assembly/include/layout';
import { Core, type KernelHandle } from './core';
import { runRamdisk } from './devices/ramdisk';
import { runKworker } from './devices/kworker';
import { runRaid5 } from './devices/raid5';

const { handle, role, dev } = workerData as { handle: KernelHandle; role: 'ramdisk' | 'raid5' | 'kworker'; dev: number };
const core = new Core(handle);
core.online(role === 'kworker' ? L.CPU_KIND_KWORKER : L.CPU_KIND_DEVICE, 0);
try {
  if (role === 'ramdisk') runRamdisk(core, dev);
  else if (role === 'raid5') runRaid5(core, dev);
  else runKworker(core);
} finally {
  core.offline();
}
