// Half-close from the client's side: sends a message and its FIN at once,
// then keeps reading until the server's answer and FIN arrive.
//
//   node tests/js/half_close_client.js PORT MESSAGE [HOST]
'use strict';
const net = require('net');

const PORT = Number(process.argv[2]);
const MESSAGE = process.argv[3];
const HOST = process.argv[4] || '127.0.0.1';

let reply = '';
const events = [];
const client = net.connect({ port: PORT, host: HOST, allowHalfOpen: true }, () => {
  client.end(MESSAGE);
});
client.on('finish', () => events.push('finish'));
client.on('data', (d) => { reply += d; });
client.on('end', () => events.push('end'));
client.on('error', (err) => {
  console.log('error: ' + err.message);
  process.exitCode = 1;
});
client.on('close', (hadError) => {
  events.push('close ' + hadError);
  console.log('reply: ' + reply);
  console.log('events: ' + events.join(', '));
});
