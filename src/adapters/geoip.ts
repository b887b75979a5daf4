import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { BlockList, isIP } from 'node:net'
import { Reader, type Response } from 'mmdb-lib'

/**
 * Offline IP geolocation from an MMDB file. The default is the country-level database of
 * @ip-location-db/geo-whois-asn-country-mmdb (data CC BY 4.0 by the NRO: the attribution goes in the
 * deployment's notices); `GEOIP_DB_PATH` points at another file, e.g. a GeoLite2-City or an
 * ip-location-db city database, which then also yields region and city.
 */

export interface GeoLocation {
  /** ISO 3166-1 alpha-2 code. */
  country: string
  region?: string
  city?: string
}

export interface Geoip {
  /** The file the database was read from. */
  readonly path: string
  /** Null for private, loopback, link-local, CGNAT, unique-local and documentation addresses, and for unknown ones. */
  lookup(ip: string): GeoLocation | null
}

export class GeoipUnavailable extends Error {
  override name = 'GeoipUnavailable'
}

const DEFAULT_DATABASE = '@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb'

/** The bundled database, resolved through the package so it is found from `src/` under tsx and from `dist/`. */
export function defaultGeoipPath(): string {
  return createRequire(import.meta.url).resolve(DEFAULT_DATABASE)
}

/** Addresses no database can place: they never leave a network, or are reserved for examples. */
const NOT_ROUTED = new BlockList()
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private (RFC 1918)
  ['100.64.0.0', 10], // carrier-grade NAT (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation TEST-NET-1 (RFC 5737)
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking (RFC 2544)
  ['198.51.100.0', 24], // documentation TEST-NET-2
  ['203.0.113.0', 24], // documentation TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and 255.255.255.255
] as const) NOT_ROUTED.addSubnet(network, prefix, 'ipv4')
for (const [network, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['100::', 64], // discard (RFC 6666)
  ['2001:db8::', 32], // documentation (RFC 3849)
  ['3fff::', 20], // documentation (RFC 9637)
  ['fc00::', 7], // unique local (RFC 4193)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local, deprecated
  ['ff00::', 8], // multicast
] as const) NOT_ROUTED.addSubnet(network, prefix, 'ipv6')

/** The eight 16-bit groups of a valid IPv6 address (a trailing dotted quad counts as two). */
function ipv6Groups(address: string): number[] {
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address)
  let text = address
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number]
    text = address.slice(0, quad.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head = '', tail] = text.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const missing = tail === undefined ? 0 : 8 - left.length - right.length
  return [...left, ...Array<string>(missing).fill('0'), ...right].map((group) => Number.parseInt(group, 16))
}

/**
 * Canonical form for lookup: IPv4-mapped IPv6 (`::ffff:1.2.3.4`, however written) becomes plain
 * IPv4, a zone (`fe80::1%eth0`) and brackets are dropped. Null for anything that is not an address.
 */
function normalizeAddress(ip: string): { address: string; family: 'ipv4' | 'ipv6' } | null {
  let address = ip.trim()
  if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1)
  const zone = address.indexOf('%')
  if (zone !== -1) address = address.slice(0, zone)
  const version = isIP(address)
  if (version === 4) return { address, family: 'ipv4' }
  if (version !== 6) return null
  const groups = ipv6Groups(address)
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const high = groups[6] ?? 0
    const low = groups[7] ?? 0
    return { address: [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.'), family: 'ipv4' }
  }
  return { address, family: 'ipv6' }
}

/** Whether `ip` is an address a geolocation database could place (public, routable). */
export function isPublicAddress(ip: string): boolean {
  const normalized = normalizeAddress(ip)
  return normalized !== null && !NOT_ROUTED.check(normalized.address, normalized.family)
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined)

function field(value: unknown, ...path: (string | number)[]): unknown {
  let current = value
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined
    current = (current as Record<string | number, unknown>)[key]
  }
  return current
}

/**
 * Reads both record shapes in use: MaxMind's GeoIP2/GeoLite2 (`country.iso_code`,
 * `subdivisions[0]`, `city.names.en`) and ip-location-db's flat one (`country_code`, `state1`, `city`).
 */
function locationFromRecord(record: unknown): GeoLocation | null {
  const country = text(field(record, 'country_code'))
    ?? text(field(record, 'country', 'iso_code'))
    ?? text(field(record, 'registered_country', 'iso_code'))
  if (!country || !/^[A-Za-z]{2}$/.test(country)) return null
  const location: GeoLocation = { country: country.toUpperCase() }
  const region = text(field(record, 'subdivisions', 0, 'iso_code'))
    ?? text(field(record, 'subdivisions', 0, 'names', 'en'))
    ?? text(field(record, 'state1'))
  const city = text(field(record, 'city', 'names', 'en')) ?? text(field(record, 'city'))
  if (region) location.region = region
  if (city) location.city = city
  return location
}

/**
 * Reads the whole database into memory once (a few MB for the bundled one); lookups are then
 * synchronous. A missing or unreadable file fails here, at start, rather than on a request.
 */
export async function openGeoip(path: string = defaultGeoipPath()): Promise<Geoip> {
  const unavailable = (reason: string, cause: unknown) =>
    new GeoipUnavailable(`cannot open the GeoIP database ${path} (GEOIP_DB_PATH): ${reason}`, { cause })
  let file: Buffer
  try {
    file = await readFile(path)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw unavailable(code === 'ENOENT' ? 'no such file' : code ?? (error as Error).message, error)
  }
  let reader: Reader<Response>
  try {
    reader = new Reader<Response>(file)
  } catch (error) {
    throw unavailable(`not an MMDB database (${(error as Error).message})`, error)
  }
  return {
    path,
    lookup(ip: string): GeoLocation | null {
      const normalized = normalizeAddress(ip)
      if (normalized === null || NOT_ROUTED.check(normalized.address, normalized.family)) return null
      try {
        return locationFromRecord(reader.get(normalized.address))
      } catch {
        // An IPv6 address against an IPv4-only database, for one.
        return null
      }
    },
  }
}
