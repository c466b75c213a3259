// One sign-out seen from a Firebase Web SDK listener (tests/test_firebase_signout.py runs it for
// each of logout, logout everywhere, password change, password reset and suspension): sign in
// with the custom token, follow one's chat, print "listening"; the test then signs the user out
// through the API, writes a message to the chat as the tutor would, and sends that message's id
// on a line to stdin. The listener must be cut off (permission-denied) without receiving it,
// and a new listener and a read must be refused.
// Inputs (environment): STUDYHALL_PROJECT, FIRESTORE_EMULATOR_HOST, FIREBASE_AUTH_EMULATOR_HOST,
// STUDYHALL_CUSTOM_TOKEN, STUDYHALL_SESSION (the user's chat session).
'use strict';

const assert = require('node:assert/strict');
const readline = require('node:readline');
const {
  REFUSAL_WITHIN_MS, connect, env, firestore, follow, refused, refusedListener, run, signInWithCustomToken,
} = require('./client.cjs');

const { collection, doc, getDoc, orderBy, query } = firestore;

async function main() {
  const { auth, db } = connect();
  await signInWithCustomToken(auth, env('STUDYHALL_CUSTOM_TOKEN'));
  const messages = collection(db, 'chat_sessions', env('STUDYHALL_SESSION'), 'messages');
  const mine = follow(query(messages, orderBy('created_at')));
  await mine.until((s) => s.snapshots.length > 0 || s.error, REFUSAL_WITHIN_MS, 'the first snapshot');
  assert.equal(mine.error, null, `my chat refused before the sign-out: ${mine.error && mine.error.message}`);
  const before = mine.snapshots.length;
  process.stdout.write('listening\n');

  const lines = readline.createInterface({ input: process.stdin });
  const [written] = await new Promise((resolve) => lines.once('line', (line) => resolve(line.trim().split(' '))));
  lines.close();
  await mine.until((s) => s.error, REFUSAL_WITHIN_MS, 'the listener cut off after the sign-out');
  assert.equal(mine.error.code, 'permission-denied');
  assert.equal(mine.snapshots.length, before, 'the listener received after the sign-out');
  assert.ok(!mine.snapshots.flat().some((m) => m.id === written), 'the message after the sign-out was delivered');
  await refusedListener(query(messages, orderBy('created_at')), 'a new listener after the sign-out');
  await refused('reading my chat after the sign-out', () => getDoc(doc(db, 'chat_sessions', env('STUDYHALL_SESSION'))));
  return { snapshots_before: before };
}

run(main);
