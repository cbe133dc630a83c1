/**
 * Entry point of kaio's own threads (device threads, the kworker and the
 * host-file pool). Each instantiates the kernel over the shared memory,
 * claims a cpu and runs its loop until shutdown.
 */
import { workerData, threadId } from 'node:worker_threads';
import * as L from '../assembly/include/layout';
import { Core, type KernelHandle } from './core';
import { runRamdisk } from './devices/ramdisk';
import { runKworker } from './devices/kworker';
import { runRaid5 } from './devices/raid5';
import { runPool } from './devices/pool';

const { handle, role, dev, replacement } = workerData as {
  handle: KernelHandle; role: 'ramdisk' | 'raid5' | 'kworker' | 'pool'; dev: number; replacement?: boolean;
};
const core = new Core(handle);
// Pool threads are claimed with their thread id: one that dies is reclaimed (cpu_reclaim) and replaced.
core.online(role === 'kworker' ? L.CPU_KIND_KWORKER : role === 'pool' ? L.CPU_KIND_POOL : L.CPU_KIND_DEVICE, role === 'pool' ? threadId : 0);
try {
  if (role === 'ramdisk') runRamdisk(core, dev);
  else if (role === 'raid5') runRaid5(core, dev);
  else if (role === 'pool') runPool(core, dev, replacement === true);
  else runKworker(core);
} finally {
  core.offline();
}
