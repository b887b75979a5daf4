import { and, desc, eq, inArray, isNull, ne, notExists, sql } from 'drizzle-orm'
import { alias } from 'drizzle-orm/pg-core'
import { rowsOf, type Executor } from '../../db/client.js'
import { devices, userCountries, webauthnCredentials, type Device } from '../../db/schema/index.js'

export async function findDeviceByCookie(db: Executor, userId: string, cookieHash: string): Promise<Device | undefined> {
  const [device] = await db.select().from(devices)
    .where(and(eq(devices.userId, userId), eq(devices.cookieHash, cookieHash)))
    .limit(1)
  return device
}

/** The user's device with this id, unless it was removed. */
export async function findLiveDevice(db: Executor, userId: string, id: string): Promise<Device | undefined> {
  const [device] = await db.select().from(devices)
    .where(and(eq(devices.id, id), eq(devices.userId, userId), isNull(devices.revokedAt)))
    .limit(1)
  return device
}

/** The user's devices that were not removed, most recently seen first. */
export async function liveDevicesOf(db: Executor, userId: string): Promise<Device[]> {
  return db.select().from(devices)
    .where(and(eq(devices.userId, userId), isNull(devices.revokedAt)))
    .orderBy(desc(devices.lastSeenAt), desc(devices.firstSeenAt))
}

/** What a sign-in learns about a device; the declared fields only when the client sent them. */
export interface DeviceSighting {
  userId: string
  cookieHash: string
  type: string
  os: string | null
  osVersion: string | null
  browser: string | null
  browserVersion: string | null
  userAgent: string | null
  lastIp: string
  country: string | null
  region: string | null
  city: string | null
  /** Present when the client described itself (onboarding's `device` body, devices/register). */
  declared?: { name: string | null; fingerprintHash: string | null; fields: Record<string, unknown> }
  /** Used when the device is new and declared no name. */
  defaultName: string | null
}

/** What the server derived from the request: written on a new device, refreshed on a known one. */
function derived(sighting: DeviceSighting) {
  return {
    type: sighting.type,
    os: sighting.os,
    osVersion: sighting.osVersion,
    browser: sighting.browser,
    browserVersion: sighting.browserVersion,
    userAgent: sighting.userAgent,
    lastIp: sighting.lastIp,
    country: sighting.country,
    region: sighting.region,
    city: sighting.city,
  }
}

/** The columns a sighting refreshes on a known device. */
function refreshed(sighting: DeviceSighting) {
  const declared = sighting.declared
  return {
    ...derived(sighting),
    lastSeenAt: sql`now()`,
    ...(declared ? {
      // Later declarations add to earlier ones, key by key.
      declared: sql`coalesce(${devices.declared}, '{}'::jsonb) || ${JSON.stringify(declared.fields)}::jsonb`,
      ...(declared.name !== null ? { name: declared.name } : {}),
      ...(declared.fingerprintHash !== null ? { fingerprintHash: declared.fingerprintHash } : {}),
    } : {}),
  }
}

/**
 * One row per (user, device cookie): a new device is inserted, a known one refreshed. A device the
 * user had removed comes back when they prove themselves on it again.
 */
export async function upsertDevice(db: Executor, sighting: DeviceSighting): Promise<Device> {
  const declared = sighting.declared
  const [device] = await db.insert(devices).values({
    userId: sighting.userId,
    cookieHash: sighting.cookieHash,
    ...derived(sighting),
    name: declared?.name ?? sighting.defaultName,
    fingerprintHash: declared?.fingerprintHash ?? null,
    declared: declared?.fields ?? null,
  }).onConflictDoUpdate({
    target: [devices.userId, devices.cookieHash],
    set: { ...refreshed(sighting), revokedAt: null },
  }).returning()
  return device!
}

/**
 * A browser that lost its `vt_device` cookie but declares the fingerprint of one of the user's devices
 * (not removed) is that device: the device moves to the new cookie, keeping its id, passkeys and sessions.
 * Only when the user has no device at all (removed ones included) for the new cookie; the most recently
 * seen device wins if several share the fingerprint. Undefined when nothing was re-bound.
 */
export async function rebindByFingerprint(db: Executor, sighting: DeviceSighting & { declared: { fingerprintHash: string } }): Promise<Device | undefined> {
  const bound = alias(devices, 'bound')
  const candidate = db.select({ id: devices.id }).from(devices)
    .where(and(
      eq(devices.userId, sighting.userId),
      eq(devices.fingerprintHash, sighting.declared.fingerprintHash),
      isNull(devices.revokedAt),
      ne(devices.cookieHash, sighting.cookieHash),
      notExists(db.select({ one: sql`1` }).from(bound)
        .where(and(eq(bound.userId, sighting.userId), eq(bound.cookieHash, sighting.cookieHash)))),
    ))
    .orderBy(desc(devices.lastSeenAt))
    .limit(1)
  const [device] = await db.update(devices)
    .set({ ...refreshed(sighting), cookieHash: sighting.cookieHash })
    .where(and(eq(devices.id, sql`(${candidate})`), isNull(devices.revokedAt)))
    .returning()
  return device
}

/** Where a device was last seen; a refresh only knows the address. */
export interface DeviceLocationUpdate {
  userId: string
  deviceId: string
  ip: string
  country: string | null
  region: string | null
  city: string | null
}

/** Whether a country was new to the user, and whether the user had been seen in any other one before. */
export interface CountryNote {
  isNew: boolean
  seenElsewhere: boolean
}

/**
 * Adds a country to those the user has been seen in. One statement: the insert and the look at the other
 * countries share a snapshot, so "seen elsewhere" never counts the country being added.
 */
export async function noteCountry(db: Executor, userId: string, country: string): Promise<CountryNote> {
  const result = await db.execute(sql`
    with noted as (
      insert into ${userCountries} (user_id, country) values (${userId}::uuid, ${country}::text)
      on conflict do nothing
      returning country
    )
    select exists (select 1 from noted) as "isNew",
      exists (select 1 from ${userCountries} where user_id = ${userId}::uuid and country <> ${country}::text) as "seenElsewhere"`)
  return rowsOf<CountryNote>(result)[0]!
}

/**
 * The device of a refreshed session: last address, time and location, and the country noted, in one
 * statement (the refresh path is hot). A removed device is left alone (its sessions have ended anyway).
 */
export async function touchDevice(db: Executor, update: DeviceLocationUpdate): Promise<CountryNote> {
  const result = await db.execute(sql`
    with touched as (
      update ${devices} set last_ip = ${update.ip}::text, last_seen_at = now(),
        country = ${update.country}::text, region = ${update.region}::text, city = ${update.city}::text
      where id = ${update.deviceId}::uuid and user_id = ${update.userId}::uuid and revoked_at is null
      returning id
    ), noted as (
      insert into ${userCountries} (user_id, country)
      select ${update.userId}::uuid, ${update.country}::text from touched where ${update.country}::text is not null
      on conflict do nothing
      returning country
    )
    select exists (select 1 from noted) as "isNew",
      exists (select 1 from ${userCountries} where user_id = ${update.userId}::uuid and country <> ${update.country}::text) as "seenElsewhere"`)
  return rowsOf<CountryNote>(result)[0]!
}

/** A name and trust the user gives one of their devices (not removed). Undefined when there is no such device. */
export async function updateDeviceSettings(db: Executor, userId: string, id: string, changes: { name?: string; trusted?: boolean }): Promise<Device | undefined> {
  const [device] = await db.update(devices).set(changes)
    .where(and(eq(devices.id, id), eq(devices.userId, userId), isNull(devices.revokedAt)))
    .returning()
  return device
}

/**
 * Marks one of the user's devices removed. It loses its trust: a device the user signs in on again later is
 * a device to be trusted again. Undefined when there is no such device (or it was removed already).
 */
export async function markDeviceRemoved(db: Executor, userId: string, id: string): Promise<Device | undefined> {
  const [device] = await db.update(devices).set({ revokedAt: sql`now()`, trusted: false })
    .where(and(eq(devices.id, id), eq(devices.userId, userId), isNull(devices.revokedAt)))
    .returning()
  return device
}

/** Which of these devices hold a usable passkey. */
export async function devicesWithPasskey(db: Executor, deviceIds: string[]): Promise<Set<string>> {
  if (deviceIds.length === 0) return new Set()
  const rows = await db.selectDistinct({ deviceId: webauthnCredentials.deviceId }).from(webauthnCredentials)
    .where(and(inArray(webauthnCredentials.deviceId, deviceIds), isNull(webauthnCredentials.disabledAt)))
  return new Set(rows.map((row) => row.deviceId!))
}
