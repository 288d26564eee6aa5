// The proxy lives beside the other fake network pieces (src/simulator), where the bench can use it too.
export { TcpProxy } from '../../src/simulator/tcp-proxy.js';
