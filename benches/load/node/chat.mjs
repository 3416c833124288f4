// The chat of issue 12 on Node `ws`: one process, one port (run several for shards).
// node chat.mjs [HOST:PORT] [--deflate]   (default 127.0.0.1:8082); WebSocket endpoint /chat.
// --deflate: accept permessage-deflate as the sockless chat does (no context takeover both
// ways, a 1 KiB client window, messages of 32 bytes or more compressed).
import { WebSocketServer } from 'ws';

const [host, port] = (process.argv[2] || '127.0.0.1:8082').split(':');
const perMessageDeflate = process.argv[3] === '--deflate' && {
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
  clientMaxWindowBits: 10,
  threshold: 32,
};
const HISTORY = 50;
const MAX_FIELD = 1024;
const rooms = new Map(); // room name -> { members: Set<WebSocket>, history: string[] }

const wss = new WebSocketServer({
  host, port: Number(port), path: '/chat', backlog: 4096, perMessageDeflate,
});
wss.on('listening', () => console.error(`node chat: ws://${host}:${port}/chat`));

function toRoom(room, text) {
  for (const member of room.members) member.send(text);
}

wss.on('connection', (ws) => {
  let name = null;
  let room = null;
  const fail = (reason) => ws.send(JSON.stringify({ type: 'error', reason }));
  ws.on('message', (data, isBinary) => {
    if (isBinary) return ws.close(1003, 'text only');
    let msg;
    try { msg = JSON.parse(data.toString()); } catch { return fail('bad JSON'); }
    if (msg === null || typeof msg !== 'object') return fail('bad message');
    if (msg.type === 'join') {
      if (room) return fail('already joined');
      if (typeof msg.name !== 'string' || typeof msg.room !== 'string') return fail('bad join');
      if (msg.name.length > MAX_FIELD || msg.room.length > MAX_FIELD) return fail('too long');
      name = msg.name;
      room = rooms.get(msg.room);
      if (!room) { room = { name: msg.room, members: new Set(), history: [] }; rooms.set(msg.room, room); }
      room.members.add(ws);
      toRoom(room, JSON.stringify({ type: 'joined', name }));
      for (const old of room.history) ws.send(old);
    } else if (msg.type === 'say') {
      if (!room) return fail('join first');
      if (typeof msg.text !== 'string' || msg.text.length > MAX_FIELD) return fail('bad text');
      const text = JSON.stringify({ type: 'message', name, text: msg.text, time: Date.now() });
      room.history.push(text);
      if (room.history.length > HISTORY) room.history.shift();
      toRoom(room, text);
    } else {
      fail('unknown type');
    }
  });
  ws.on('close', () => {
    if (!room) return;
    room.members.delete(ws);
    if (room.members.size === 0) rooms.delete(room.name);
    else toRoom(room, JSON.stringify({ type: 'left', name }));
  });
  ws.on('error', () => {});
});
