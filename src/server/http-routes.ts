import { invalidArgument } from '../runtime/status';

/** A parsed KServe v2 REST route. Pure: no I/O, so every route shape is unit-testable. */
export type Route =
  | { kind: 'health-live' }
  | { kind: 'health-ready' }
  | { kind: 'server-metadata' }
  | { kind: 'metrics' }
  | { kind: 'model-metadata'; model: string; version: string }
  | { kind: 'model-ready'; model: string; version: string }
  | { kind: 'model-config'; model: string; version: string }
  | { kind: 'model-infer'; model: string; version: string }
  | { kind: 'model-stats'; model: string; version: string }
  | { kind: 'repository-index' }
  | { kind: 'repository-load'; model: string }
  | { kind: 'repository-unload'; model: string };

export interface RouteMatch { route: Route; method: 'GET' | 'POST' }

function segment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw invalidArgument(`malformed percent-encoding in URL path segment '${s.slice(0, 64)}'`);
  }
}

/** Maps a request path to a route and the HTTP method it takes; undefined when no route matches. */
export function matchRoute(pathname: string): RouteMatch | undefined {
  const parts = pathname.split('/').filter((p) => p !== '');
  const [a, b, c, d, e] = parts;
  if (parts.length === 1 && a === 'metrics') return { route: { kind: 'metrics' }, method: 'GET' };
  if (a !== 'v2') return undefined;
  if (parts.length === 1) return { route: { kind: 'server-metadata' }, method: 'GET' };
  if (b === 'health' && parts.length === 3) {
    if (c === 'live') return { route: { kind: 'health-live' }, method: 'GET' };
    if (c === 'ready') return { route: { kind: 'health-ready' }, method: 'GET' };
    return undefined;
  }
  if (b === 'repository') {
    if (c === 'index' && parts.length === 3) return { route: { kind: 'repository-index' }, method: 'POST' };
    if (c === 'models' && d !== undefined && parts.length === 5) {
      if (e === 'load') return { route: { kind: 'repository-load', model: segment(d) }, method: 'POST' };
      if (e === 'unload') return { route: { kind: 'repository-unload', model: segment(d) }, method: 'POST' };
    }
    return undefined;
  }
  if (b !== 'models') return undefined;
  if (parts.length === 3 && c === 'stats') return { route: { kind: 'model-stats', model: '', version: '' }, method: 'GET' };
  if (c === undefined) return undefined;
  const model = segment(c);
  // /v2/models/{m}[/versions/{v}][/action]
  let version = '';
  let rest = parts.slice(3);
  if (d === 'versions') {
    if (e === undefined) return undefined;
    version = segment(e);
    rest = parts.slice(5);
  }
  if (rest.length === 0) return { route: { kind: 'model-metadata', model, version }, method: 'GET' };
  if (rest.length !== 1) return undefined;
  switch (rest[0]) {
    case 'ready': return { route: { kind: 'model-ready', model, version }, method: 'GET' };
    case 'config': return { route: { kind: 'model-config', model, version }, method: 'GET' };
    case 'infer': return { route: { kind: 'model-infer', model, version }, method: 'POST' };
    case 'stats': return { route: { kind: 'model-stats', model, version }, method: 'GET' };
    default: return undefined;
  }
}
