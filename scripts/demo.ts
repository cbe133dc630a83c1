/**
 * npm start: the demo (scripts/lib/demo.ts), as `npx kaio demo` runs it.
 */
import { runDemo, printDemo, DEMO_STEPS, DEMO_FIRST_STEP } from './lib/demo';
import { progress } from './lib/progress';

const bar = progress(DEMO_STEPS, DEMO_FIRST_STEP);
runDemo(bar.step).then(
  (r) => {
    bar.stop();
    printDemo(r);
  },
  (e) => {
    bar.stop();
    console.error(e);
    process.exit(1);
  },
);
