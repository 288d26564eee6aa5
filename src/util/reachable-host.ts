/**
 * A listen address as a URL's host for a client on this machine: a wildcard (every interface: `0.0.0.0`,
 * `::` or empty) is reached on loopback, which it includes; an IPv6 address goes in brackets.
 */
export function reachableHost(listenHost: string): string {
  if (listenHost === '0.0.0.0' || listenHost === '::' || listenHost === '') return '127.0.0.1';
  return listenHost.includes(':') ? `[${listenHost}]` : listenHost;
}
