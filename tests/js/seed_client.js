// The seed's TCP client, for the interop tests (tests/node_interop.rs).
// Same dialogue and output as `netloop client`: connect, send the message,
// print the reply, destroy the socket.
//
//   node tests/js/seed_client.js PORT [HOST] [MESSAGE]
'use strict';
const net = require('net');

const PORT = Number(process.argv[2]);
const HOST = process.argv[3] || '127.0.0.1';
const MESSAGE = process.argv[4] || 'I am Chuck Norris!';

const client = new net.Socket();
client.connect(PORT, HOST, () => {
  console.log('CONNECTED TO: ' + HOST + ':' + PORT);
  client.write(MESSAGE);
});

client.on('data', (data) => {
  console.log('DATA: ' + data);
  client.destroy();
});

client.on('error', (err) => {
  console.error(err.message);
  process.exitCode = 1;
});

client.on('close', () => {
  console.log('Connection closed');
});
