/**
 * Two tabs, one writer (issue 34): the session in this browser is saved by one tab at a time. The first tab takes a
 * Web Lock and keeps it for its life; another tab opened on the same session shows it read-only (it edits, but does
 * not save) until the person takes over there, which steals the lock: the first tab is told and stops saving.
 * Without Web Locks (an old browser), every tab saves, as before.
 */
const LOCK = 'style-transformer-studio:writer';

let writing = true;

/** Whether this tab saves the session. */
export const canWrite = () => writing;

/**
 * Asks to be the writer: at once if no other tab is (`steal`: even if one is). Resolves with the outcome; `lost`
 * is called if another tab takes over later.
 */
export function claimWriter(steal: boolean, lost: () => void): Promise<boolean> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  if (!locks) return Promise.resolve(true);
  return new Promise((resolve) => {
    locks.request(LOCK, steal ? { steal: true } : { ifAvailable: true }, async (lock) => {
      if (!lock) {
        writing = false;
        resolve(false);
        return;
      }
      writing = true;
      resolve(true);
      await new Promise<never>(() => undefined); // held until the tab goes (or another steals it)
    }).catch(() => {
      // stolen: the lock's promise rejects in the tab that held it
      writing = false;
      lost();
    });
  });
}
