/**
 * Waking the kworker (the thread that completes what drivers hand it: pipes,
 * the pool's cancelled queue, eventfd requests). Callbacks that may not
 * complete a request themselves (S9) leave it on their driver's list and ring
 * this doorbell.
 */
import { H_KW_DOORBELL, H_KW_WAITING } from '../include/layout';

/** Ring the kworker's doorbell; wake it if it sleeps. */
export function kworker_kick(): void {
  atomic.add<u32>(H_KW_DOORBELL, 1);
  // Pairs with the kworker's store of waiting = 1 before it sleeps on the doorbell.
  if (atomic.load<u32>(H_KW_WAITING) != 0) atomic.notify(H_KW_DOORBELL, 1);
}
