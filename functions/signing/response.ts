/**
 * The signer's answer (DESIGN "Signing", a contract): what every operation returns, and its common start.
 */
import type { Route } from './routing';

export interface SignedUrl {
  /** The key as the caller gave it (relative to the org). */
  key: string;
  url: string;
  method: 'GET' | 'PUT';
  /** Headers the caller must send with the request (none today: only `host` is signed). */
  headers: Record<string, string>;
  /** When the URL really stops working (ISO 8601, whole seconds). */
  expiresAt: string;
  /** UploadPart URLs only. */
  partNumber?: number;
}

export interface SignResponse {
  storage: 'default' | 'custom';
  /**
   * Where the URLs point (docs/locations.md): the current route's location, or the one asked for. Callers keep
   * the one an upload answered with and send it back with the download.
   */
  location: string;
  /** The backend's name (custom storage only). */
  roleName?: string;
  via: 's3' | 'cloudfront';
  urls: SignedUrl[];
  /** The lifetime every URL got, in seconds (after clamping). */
  ttlSeconds?: number;
  /** True when the requested TTL was longer than the signing session had left and was cut to it. */
  clamped?: boolean;
  /** multipart-* operations. */
  key?: string;
  uploadId?: string;
  /** multipart-complete: the object's ETag. */
  etag?: string;
  /** multipart-abort. */
  aborted?: boolean;
  /** multipart-start in pages: the first part number not signed yet; absent when this page is the last. */
  nextPart?: number;
}

/** A response for `route` with no URLs yet. */
export function responseFor(route: Route, via: 's3' | 'cloudfront'): SignResponse {
  return route.storage === 'custom'
    ? { storage: 'custom', location: route.location, roleName: route.roleName, via, urls: [] }
    : { storage: 'default', location: route.location, via, urls: [] };
}
