/**
 * Whether this run is CI: CI set to anything but '', '0' or 'false'. .ci/run
 * exports CI=true itself, so its runs are CI whatever the environment says.
 * Read by .mocharc.cjs (forbidOnly, forbidPending) and by
 * tests/helpers/prerequisite.ts (a missing prerequisite fails instead of skipping).
 */
function inCI() {
  const v = (process.env.CI ?? '').trim().toLowerCase();
  return v !== '' && v !== '0' && v !== 'false';
}

module.exports = { inCI };
