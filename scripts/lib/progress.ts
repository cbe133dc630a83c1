/**
 * Progress bars for the CLI's long runs: on stderr, and only when stderr is a
 * terminal (cli-progress draws nothing otherwise), so stdout keeps just the
 * tables or the JSON and pipes stay clean.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  step(what: string): void;
  stop(): void;
}

/** A bar of `total` steps; step(what) moves it one and names what runs next. */
export function progress(total: number, first: string): Progress {
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: '  {bar} {value}/{total} {what} ({duration}s)', clearOnComplete: true, hideCursor: true, etaBuffer: 5 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { what: first });
  return {
    step: (what) => bar.increment(1, { what }),
    stop: () => bar.stop(),
  };
}
