/** Waiting for Ctrl-C (SIGINT) or SIGTERM, for the local stack's foreground entry points. */

/** Resolves on the first SIGINT or SIGTERM, then stops listening, so a second Ctrl-C is Node's default again. */
export function untilStopped(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
