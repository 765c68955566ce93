// Half-close from the server's side: reads until the client's FIN, then
// answers on its still-open side and ends.
//
//   node tests/js/half_close_server.js [PORT] [HOST]
'use strict';
const net = require('net');

const PORT = Number(process.argv[2] || 0);
const HOST = process.argv[3] || '127.0.0.1';

const server = net.createServer({ allowHalfOpen: true }, (sock) => {
  let got = '';
  sock.on('data', (d) => { got += d; });
  sock.on('end', () => {
    console.log('server got "' + got + '" then FIN');
    sock.end('after your FIN I got ' + Buffer.byteLength(got) + ' bytes: ' + got);
  });
  sock.on('close', (hadError) => {
    console.log('server socket closed, error: ' + hadError);
    server.close();
  });
});
server.listen(PORT, HOST, () => {
  const a = server.address();
  console.log('half-close server listening on ' + a.address + ':' + a.port);
});
