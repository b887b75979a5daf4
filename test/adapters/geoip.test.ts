import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { defaultGeoipPath, GeoipUnavailable, isPublicAddress, openGeoip } from '../../src/adapters/geoip.js'
import { loadConfig } from '../../src/config.js'
import { writeMmdb } from '../fixtures/mmdb.js'

/** Addresses that never leave a network or are reserved for examples: never looked up. */
const NOT_ROUTED = [
  '127.0.0.1', '127.255.0.9', '10.0.0.1', '172.16.5.4', '172.31.255.255', '192.168.1.10', '169.254.169.254',
  '100.64.0.1', '100.127.255.254', '0.0.0.0', '192.0.2.1', '198.51.100.7', '203.0.113.200', '198.18.0.1',
  '224.0.0.251', '255.255.255.255', '::', '::1', 'fe80::1', 'fe80::1%eth0', 'fd00::1', 'fc00::abcd',
  '2001:db8::1', '3fff::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:192.168.0.1', '::ffff:a00:1',
]

t.test('the bundled country database', async (t) => {
  const geoip = await openGeoip()
  t.equal(geoip.path, defaultGeoipPath())
  t.match(geoip.path, /@ip-location-db[/\\]geo-whois-asn-country-mmdb[/\\]geo-whois-asn-country\.mmdb$/)

  t.test('well-known public addresses', async (t) => {
    // Pinned from the bundled database (npm 2.3.2026061719): Google DNS, Quad9, Cloudflare/APNIC, RIPE NCC, WIDE.
    t.same(geoip.lookup('8.8.8.8'), { country: 'US' })
    t.same(geoip.lookup('9.9.9.9'), { country: 'US' })
    t.same(geoip.lookup('1.1.1.1'), { country: 'AU' })
    t.same(geoip.lookup('193.0.6.139'), { country: 'NL' })
    t.same(geoip.lookup('202.12.27.33'), { country: 'JP' })
  })

  t.test('IPv6', async (t) => {
    t.same(geoip.lookup('2001:4860:4860::8888'), { country: 'US' })
    t.same(geoip.lookup('2606:4700:4700::1111'), { country: 'US' })
    t.same(geoip.lookup('[2001:4860:4860::8888]'), { country: 'US' }, 'bracketed, as some proxies forward it')
  })

  t.test('IPv4-mapped IPv6 is looked up as IPv4', async (t) => {
    t.same(geoip.lookup('::ffff:8.8.8.8'), { country: 'US' })
    t.same(geoip.lookup('::FFFF:1.1.1.1'), { country: 'AU' })
    t.same(geoip.lookup('0:0:0:0:0:ffff:808:808'), { country: 'US' }, 'the hex form too')
  })

  t.test('private, loopback, link-local, CGNAT, unique-local and documentation ranges', async (t) => {
    for (const ip of NOT_ROUTED) {
      t.equal(geoip.lookup(ip), null, ip)
      t.equal(isPublicAddress(ip), false, `${ip} is not public`)
    }
    t.equal(isPublicAddress('8.8.8.8'), true)
    t.equal(isPublicAddress('::ffff:8.8.8.8'), true)
    t.equal(isPublicAddress('2001:4860:4860::8888'), true)
  })

  t.test('anything that is not an address', async (t) => {
    for (const input of ['', 'localhost', '8.8.8', '8.8.8.8.8', '256.1.1.1', '::ffff:999.1.1.1', 'not an ip', '8.8.8.8:443']) {
      t.equal(geoip.lookup(input), null, JSON.stringify(input))
      t.equal(isPublicAddress(input), false)
    }
  })
})

t.test('a missing database file fails at open, naming the file and the variable', async (t) => {
  const config = loadConfig({ GEOIP_DB_PATH: '/nonexistent/vottery/GeoLite2-City.mmdb' })
  const error = await openGeoip(config.geoipDbPath).then(() => null, (e: unknown) => e)
  t.type(error, GeoipUnavailable)
  t.match((error as Error).message, /\/nonexistent\/vottery\/GeoLite2-City\.mmdb/)
  t.match((error as Error).message, /GEOIP_DB_PATH/)
  t.match((error as Error).message, /no such file/)
})

t.test('a file that is not an MMDB database fails at open', async (t) => {
  const dir = t.testdir({ 'countries.csv': '1.0.0.0,1.0.0.255,AU\n' })
  await t.rejects(openGeoip(join(dir, 'countries.csv')), { name: 'GeoipUnavailable', message: /not an MMDB database/ })
})

t.test('a GeoLite2-City shaped database yields region and city', async (t) => {
  const dir = t.testdir()
  const path = join(dir, 'city.mmdb')
  const london = {
    city: { geoname_id: 2643743, names: { en: 'London', de: 'London' } },
    country: { geoname_id: 2635167, iso_code: 'GB', names: { en: 'United Kingdom' } },
    location: { accuracy_radius: 10, latitude: 51.5142, longitude: -0.0931, time_zone: 'Europe/London' },
    subdivisions: [{ geoname_id: 6269131, iso_code: 'ENG', names: { en: 'England' } }],
  }
  writeFileSync(path, writeMmdb([
    { network: '81.2.69.0', prefix: 24, data: london },
    { network: '2001:480::', prefix: 32, data: {
      city: { names: { en: 'San Diego' } },
      country: { iso_code: 'US', names: { en: 'United States' } },
      subdivisions: [{ names: { en: 'California' } }],
    } },
    // A country-level record where only the registered country is known (anycast, EU-wide blocks).
    { network: '89.160.20.0', prefix: 24, data: { registered_country: { iso_code: 'se', names: { en: 'Sweden' } } } },
    { network: '175.16.199.0', prefix: 24, data: { continent: { code: 'AS' } } },
    // Private space with data in it still never reaches the database.
    { network: '10.0.0.0', prefix: 8, data: { country: { iso_code: 'ZZ' } } },
  ]))
  const geoip = await openGeoip(path)
  t.same(geoip.lookup('81.2.69.142'), { country: 'GB', region: 'ENG', city: 'London' })
  t.same(geoip.lookup('::ffff:81.2.69.160'), { country: 'GB', region: 'ENG', city: 'London' })
  t.same(geoip.lookup('2001:480:10::1'), { country: 'US', region: 'California', city: 'San Diego' }, 'subdivision name when it has no code')
  t.same(geoip.lookup('89.160.20.112'), { country: 'SE' })
  t.equal(geoip.lookup('175.16.199.1'), null, 'a record without a country is no location')
  t.equal(geoip.lookup('81.2.70.1'), null, 'an address outside every network')
  t.equal(geoip.lookup('10.1.2.3'), null)
})

t.test('an ip-location-db city shaped database', async (t) => {
  const dir = t.testdir()
  const path = join(dir, 'dbip-city.mmdb')
  writeFileSync(path, writeMmdb([
    { network: '1.0.0.0', prefix: 24, data: { city: 'South Brisbane', country_code: 'AU', latitude: -27.4767, longitude: 153.017, state1: 'Queensland' } },
    { network: '2a00:1450::', prefix: 32, data: { country_code: 'IE', city: '', state1: '' } },
  ], 'ip-location-db'))
  const geoip = await openGeoip(path)
  t.same(geoip.lookup('1.0.0.1'), { country: 'AU', region: 'Queensland', city: 'South Brisbane' })
  t.same(geoip.lookup('2a00:1450:4001:80b::200e'), { country: 'IE' }, 'empty names are left out')
})
