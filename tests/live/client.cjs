// What the live-path scripts share: the Firebase Web SDK (infra/node, pinned) pointed at the
// emulators, a listener that records what the server delivered, and the refusal check.
'use strict';

const path = require('node:path');
const assert = require('node:assert/strict');
const { createRequire } = require('node:module');

const tools = createRequire(path.join(__dirname, '..', '..', 'infra', 'node', 'package.json'));
const { initializeApp } = tools('firebase/app');
const { getAuth, connectAuthEmulator, signInWithCustomToken } = tools('firebase/auth');
const firestore = tools('firebase/firestore');

firestore.setLogLevel('silent'); // the refusals the scripts provoke are expected: the SDK would log each one

const REFUSAL_WITHIN_MS = 5000;

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

// A Firebase app on the Auth and Firestore emulators of FIREBASE_AUTH_EMULATOR_HOST and
// FIRESTORE_EMULATOR_HOST, for the project STUDYHALL_PROJECT.
function connect() {
  const [firestoreHost, firestorePort] = env('FIRESTORE_EMULATOR_HOST').split(':');
  const app = initializeApp({ projectId: env('STUDYHALL_PROJECT'), apiKey: 'studyhall-emulator' });
  const auth = getAuth(app);
  connectAuthEmulator(auth, `http://${env('FIREBASE_AUTH_EMULATOR_HOST')}`, { disableWarnings: true });
  const db = firestore.getFirestore(app);
  firestore.connectFirestoreEmulator(db, firestoreHost, Number(firestorePort));
  return { auth, db };
}

// A listener that keeps every snapshot the server sent and its error, and can wait for either.
// Snapshots from the SDK's own memory cache (a new listener on a query this client followed
// before shows what it already holds, then hears from the server) are counted apart: they are
// not deliveries.
function follow(target) {
  const seen = { snapshots: [], cached: 0, error: null, waiters: [] };
  const wake = () => { for (const waiter of seen.waiters) waiter(); };
  seen.stop = firestore.onSnapshot(
    target,
    (snapshot) => {
      if (snapshot.metadata.fromCache) seen.cached += 1;
      else seen.snapshots.push(snapshot.docs.map((d) => ({ id: d.id, ...d.data() })));
      wake();
    },
    (error) => { seen.error = error; wake(); },
  );
  seen.until = (condition, ms, what) => new Promise((resolve, reject) => {
    const check = () => {
      if (condition(seen)) { clearTimeout(timer); resolve(seen); return true; }
      return false;
    };
    const timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    if (!check()) seen.waiters.push(check);
  });
  return seen;
}

const latest = (seen) => seen.snapshots.at(-1) || [];

async function refused(what, attempt) {
  try {
    await attempt();
  } catch (error) {
    assert.equal(error.code, 'permission-denied', `${what}: ${error.code} ${error.message}`);
    return;
  }
  assert.fail(`${what}: allowed`);
}

// A new listener that must be refused: nothing from the server, then permission-denied.
async function refusedListener(target, what) {
  const listener = follow(target);
  await listener.until((s) => s.error || s.snapshots.length > 0, REFUSAL_WITHIN_MS, what);
  assert.deepEqual(listener.snapshots, [], `${what}: delivered`);
  assert.equal(listener.error && listener.error.code, 'permission-denied');
}

// Run `main`, print its figures (or the failed check) as the last line, exit 0 or 1.
function run(main) {
  main().then(
    (figures) => {
      process.stdout.write(`${JSON.stringify({ ok: true, ...figures })}\n`);
      process.exit(0);
    },
    (error) => {
      process.stdout.write(`${JSON.stringify({ ok: false, failed: error.message })}\n`);
      process.exit(1);
    },
  );
}

module.exports = {
  REFUSAL_WITHIN_MS, connect, env, firestore, follow, latest, refused, refusedListener, run, signInWithCustomToken,
};
