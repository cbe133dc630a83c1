/**
 * The kaio kernel's exports: everything the host (src/) calls. Every function
 * returns -errno or a plain value and never traps on input from JS: indices
 * are bounds- and generation-checked before they touch memory.
 *
 * Build rule (scripts/check-wasm.mjs): the module has no data, global, start or
 * datacount section and imports only env.memory, so instantiating it again on
 * another thread cannot clobber shared state.
 */
export { kernel_init, layout_sig, io_submit, io_cancel, io_reap, sys_rw, fd_type, kworker_collect, kworker_complete, cookies_orphaned, io_reap_dying, io_cancel_all, host_fd } from './fs/aio';
export { io_submit_bin, io_reap_bin, io_cancel_key32 } from './fs/binary';
export { io_ring_advance } from './fs/ring_user';
export { hostfile_open, pool_fetch, pool_slot, pool_done, pool_take_closes } from './fs/hostfile';
export { eventfd_create } from './fs/eventfd';
export { io_setup, ctx_gen, ctx_kill, ctx_users, ctx_inflight, ctx_cancel_all, ctx_free, ctx_enumerate } from './fs/ctx';
export { cpu_online, cpu_offline, cpu_drain, cpus_online, cpu_reclaim } from './kernel/cpu';
export { kmalloc, kfree, kmalloc_user, kfree_user, user_range_ok } from './lib/heap';
export { file_open, fd_close } from './fs/file';
export { pipe_create } from './fs/pipe';
export { device_create, device_find } from './block/genhd';
export { blk_fetch, blk_reap_cancelled, blk_reap_all, blk_cancel_bios, dev_abort, dev_complete, bio_marked } from './block/blk';
export { linear_create } from './drivers/md/linear';
export { striped_create } from './drivers/md/raid0';
export { raid5_create, md_child_submit } from './drivers/md/raid5';
export { ctx_stat, kiocb_peek, tag_test_alloc, tag_test_free } from './fs/stat';
