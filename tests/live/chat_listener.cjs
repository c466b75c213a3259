// The live path as a web client follows it, with Firebase's own Web SDK (infra/node: `firebase`,
// pinned): sign in with the platform's custom token on the Auth emulator, follow one's chat
// messages with onSnapshot under infra/firestore.rules, post over HTTP, receive the tutor's
// reply through the listener. Then what must be refused: another user's chat, every client
// write, and, after a logout, the listener opened before it and any new one.
//
// Launched by tests/test_live_sdk.py (so `make test` counts it) with the test stack's gateway on
// an ephemeral port. Exits 0 when every check holds; otherwise prints the failed check and exits 1.
// Inputs (environment): STUDYHALL_GATEWAY, STUDYHALL_PROJECT, FIRESTORE_EMULATOR_HOST,
// FIREBASE_AUTH_EMULATOR_HOST, STUDYHALL_ACCESS_TOKEN (the user's session that signs out),
// STUDYHALL_SECOND_ACCESS_TOKEN (another session of the same user, still valid after that
// logout), STUDYHALL_OTHER_SESSION (a chat session of another user); STUDYHALL_REPLY_SAMPLES
// (default 1) replies to time.
'use strict';

const assert = require('node:assert/strict');
const {
  REFUSAL_WITHIN_MS, connect, env, firestore, follow, latest, refused, refusedListener, run, signInWithCustomToken,
} = require('./client.cjs');

const { collection, doc, query, orderBy, setDoc, addDoc, updateDoc, deleteDoc, getDoc } = firestore;
const GATEWAY = env('STUDYHALL_GATEWAY');
const REPLY_WITHIN_MS = 2000;
// Only waits for the reply to exist (its timing is not what this part checks): generous under load.
const WRITTEN_WITHIN_MS = 20000;

async function api(method, route, token, body) {
  const response = await fetch(`${GATEWAY}${route}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

async function main() {
  const accessToken = env('STUDYHALL_ACCESS_TOKEN');
  const { auth, db } = connect();
  const figures = {};

  // Sign in with the platform's custom token.
  const minted = await api('POST', '/api/v1/auth/firebase-token', accessToken);
  assert.equal(minted.status, 200, JSON.stringify(minted.body));
  const credential = await signInWithCustomToken(auth, minted.body.token);
  const uid = credential.user.uid;

  // Follow one's own chat, post over HTTP, the reply arrives through the listener.
  const chat = await api('POST', '/api/v1/chat/sessions', accessToken, { topic: 'DNS' });
  assert.equal(chat.status, 201, JSON.stringify(chat.body));
  const messages = collection(db, 'chat_sessions', chat.body.id, 'messages');
  const mine = follow(query(messages, orderBy('created_at')));
  await mine.until((s) => s.snapshots.length > 0 || s.error, REFUSAL_WITHIN_MS, 'first snapshot of my chat');
  assert.equal(mine.error, null, `my chat refused: ${mine.error && mine.error.message}`);
  assert.deepEqual(latest(mine), []);

  const started = Date.now();
  const posted = await api('POST', `/api/v1/chat/sessions/${chat.body.id}/messages`, accessToken,
    { content: 'What does a DNS resolver do?' });
  assert.equal(posted.status, 202, JSON.stringify(posted.body));
  const isReply = (m) => m.role === 'assistant' && m.reply_to === posted.body.id;
  await mine.until((s) => latest(s).some(isReply) || s.error, REPLY_WITHIN_MS, "the tutor's reply");
  figures.reply_ms = Date.now() - started;
  assert.equal(mine.error, null, `my chat cut off: ${mine.error && mine.error.message}`);
  const shown = latest(mine);
  assert.deepEqual(shown.map((m) => m.role), ['user', 'assistant']);
  assert.equal(shown[0].content, 'What does a DNS resolver do?');
  assert.ok(shown[1].content.length > 0, 'the reply has text');
  assert.equal(shown[1].user_id, uid);
  figures.reply_ms = [figures.reply_ms];
  // bench/live.py asks for more samples: each further message timed the same way.
  for (let i = 1; i < Number(process.env.STUDYHALL_REPLY_SAMPLES || 1); i += 1) {
    const sent = Date.now();
    const next = await api('POST', `/api/v1/chat/sessions/${chat.body.id}/messages`, accessToken,
      { content: `And what about DNS caching, part ${i}?` });
    assert.equal(next.status, 202, JSON.stringify(next.body));
    const answers = (m) => m.role === 'assistant' && m.reply_to === next.body.id;
    await mine.until((s) => latest(s).some(answers) || s.error, REPLY_WITHIN_MS, `reply ${i}`);
    figures.reply_ms.push(Date.now() - sent);
  }

  // Another user's chat: the listener and a read are refused.
  const theirs = collection(db, 'chat_sessions', env('STUDYHALL_OTHER_SESSION'), 'messages');
  await refusedListener(query(theirs, orderBy('created_at')), "another user's messages");
  await refused("reading another user's session", () => getDoc(doc(db, 'chat_sessions', env('STUDYHALL_OTHER_SESSION'))));

  // No client write, not even to one's own chat.
  const reply = doc(messages, shown[1].id);
  const forged = { user_id: uid, role: 'assistant', content: 'forged', created_at: new Date() };
  await refused('adding a message', () => addDoc(messages, forged));
  await refused('writing a message', () => setDoc(doc(messages, 'forged'), forged));
  await refused('editing the reply', () => updateDoc(reply, { content: 'forged' }));
  await refused('deleting the reply', () => deleteDoc(reply));
  await refused('editing the session', () => updateDoc(doc(db, 'chat_sessions', chat.body.id), { status: 'open' }));
  await refused('writing a chat of my own', () => setDoc(doc(db, 'chat_sessions', 'mine'), { user_id: uid }));
  await refused('writing my user document', () => setDoc(doc(db, 'users', uid), { role: 'admin' }));
  await refused('reading my user document', () => getDoc(doc(db, 'users', uid)));

  // Logout: the listener opened before it is cut off and sees nothing more; a new one is refused.
  const logout = await api('POST', '/api/v1/auth/logout', accessToken);
  assert.equal(logout.status, 204, JSON.stringify(logout.body));
  const before = mine.snapshots.length;
  const second = env('STUDYHALL_SECOND_ACCESS_TOKEN');
  const after = await api('POST', `/api/v1/chat/sessions/${chat.body.id}/messages`, second,
    { content: 'And what is a zone transfer?' });
  assert.equal(after.status, 202, JSON.stringify(after.body));
  await mine.until((s) => s.error, REFUSAL_WITHIN_MS, 'the listener cut off after logout');
  assert.equal(mine.error.code, 'permission-denied');
  // The reply to the message posted after the logout is written, but never reaches the listener.
  const stored = async () => { // every page: the list is paged, oldest first
    const items = [];
    let cursor = '';
    do {
      const page = await api('GET', `/api/v1/chat/sessions/${chat.body.id}/messages?limit=100${cursor}`, second);
      items.push(...page.body.items);
      cursor = page.body.next_cursor ? `&cursor=${encodeURIComponent(page.body.next_cursor)}` : '';
    } while (cursor);
    return items;
  };
  const deadline = Date.now() + WRITTEN_WITHIN_MS;
  while (!(await stored()).some((m) => m.role === 'assistant' && m.id === `${after.body.id}-reply`)) {
    assert.ok(Date.now() < deadline, 'the reply after the logout was not written');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(mine.snapshots.length, before, 'the listener received after the logout');
  assert.ok(!mine.snapshots.flat().some((m) => m.id.startsWith(after.body.id)), 'a message after the logout was delivered');

  await refusedListener(query(messages, orderBy('created_at')), 'a new listener after logout');
  await refused('reading my chat after logout', () => getDoc(doc(db, 'chat_sessions', chat.body.id)));

  return { uid, ...figures };
}

run(main);
