import { randomBytes } from 'node:crypto'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { ed25519, ristretto255 } from '@noble/curves/ed25519.js'

/**
 * Exponential ElGamal over the ristretto255 prime-order group.
 * A value m is encrypted as (c1, c2) = (r·G, m·G + r·X); component-wise addition of two
 * ciphertexts encrypts the sum of their values. Decryption recovers m·G and then m by a
 * bounded discrete logarithm (baby-step giant-step), so only values below ELGAMAL_VALUE_LIMIT
 * come back.
 */
const Point = ristretto255.Point
export type GroupElement = InstanceType<typeof Point>
const G = Point.BASE
const ORDER = Point.Fn.ORDER

export interface ElGamalCiphertext {
  c1: GroupElement
  c2: GroupElement
}

export class InvalidEncoding extends Error {
  override name = 'InvalidEncoding'
}

/** Baby steps 2^15, giant steps 2^15: values in [0, 2^30) are recovered. */
const BABY_STEP_BITS = 15
const GIANT_STEP_BITS = 15
const BABY_STEPS = 1 << BABY_STEP_BITS
const GIANT_STEPS = 1 << GIANT_STEP_BITS
/** Exclusive upper bound of a decryptable value (2^30 = 1 073 741 824). */
export const ELGAMAL_VALUE_LIMIT = BABY_STEPS * GIANT_STEPS
/** Points normalised per batch (one field inversion per batch), and how often the search yields. */
const BATCH = 512

/** A uniformly random non-zero scalar (64 bytes reduced modulo the group order: bias below 2^-250). */
export function randomScalar(): bigint {
  for (;;) {
    const scalar = bytesToBigIntLE(randomBytes(64)) % ORDER
    if (scalar !== 0n) return scalar
  }
}

export function generateElGamalKey(): { secret: bigint; publicKey: GroupElement } {
  const secret = randomScalar()
  return { secret, publicKey: G.multiply(secret) }
}

export function publicKeyFor(secret: bigint): GroupElement {
  return G.multiply(secret)
}

export function scalarToBytes(scalar: bigint): Buffer {
  const out = Buffer.alloc(32)
  let rest = scalar
  for (let i = 0; i < 32; i++) {
    out[i] = Number(rest & 0xffn)
    rest >>= 8n
  }
  return out
}

export function scalarFromBytes(bytes: Uint8Array): bigint {
  if (bytes.length !== 32) throw new InvalidEncoding('a scalar is 32 bytes')
  const scalar = bytesToBigIntLE(bytes)
  if (scalar === 0n || scalar >= ORDER) throw new InvalidEncoding('scalar out of range')
  return scalar
}

function bytesToBigIntLE(bytes: Uint8Array): bigint {
  let value = 0n
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!)
  return value
}

/** Canonical RFC 9496 encoding, lower-case hex of 32 bytes. */
export function encodeElement(point: GroupElement): string {
  return point.toHex()
}

/** Decodes 64 hex digits; anything that is not the canonical encoding of a group element throws `InvalidEncoding`. */
export function decodeElement(hex: string): GroupElement {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new InvalidEncoding('an element is 64 hex digits')
  try {
    return Point.fromHex(hex.toLowerCase())
  } catch {
    throw new InvalidEncoding('not a canonical ristretto255 encoding')
  }
}

/** m·G in constant time, including m = 0 (noble refuses a zero scalar): (m+1)·G − G. */
function valueToElement(value: bigint): GroupElement {
  return G.multiply(value + 1n).subtract(G)
}

export function assertEncryptable(value: bigint): void {
  if (value < 0n || value >= BigInt(ELGAMAL_VALUE_LIMIT)) {
    throw new RangeError(`an ElGamal value must be an integer in [0, ${ELGAMAL_VALUE_LIMIT})`)
  }
}

export function encryptValue(publicKey: GroupElement, value: bigint, r: bigint = randomScalar()): ElGamalCiphertext {
  assertEncryptable(value)
  return { c1: G.multiply(r), c2: valueToElement(value).add(publicKey.multiply(r)) }
}

/** Homomorphic sum: the result encrypts the sum of the values (modulo the group order). */
export function addCiphertexts(ciphertexts: readonly ElGamalCiphertext[]): ElGamalCiphertext {
  let c1 = Point.ZERO
  let c2 = Point.ZERO
  for (const c of ciphertexts) {
    c1 = c1.add(c.c1)
    c2 = c2.add(c.c2)
  }
  return { c1, c2 }
}

/** m·G = c2 − x·c1. */
export function decryptToElement(secret: bigint, ciphertext: ElGamalCiphertext): GroupElement {
  return ciphertext.c2.subtract(ciphertext.c1.multiply(secret))
}

/** The value, or null when it is outside [0, ELGAMAL_VALUE_LIMIT) (or the ciphertext was not made with this key). */
export async function decryptValue(secret: bigint, ciphertext: ElGamalCiphertext): Promise<number | null> {
  return discreteLog(decryptToElement(secret, ciphertext))
}

// --- bounded discrete logarithm ---------------------------------------------------------------
//
// Ristretto encodings cost a square root each (hundreds of µs in JavaScript), too slow for tens of
// thousands of table lookups. Instead the search runs on Edwards representatives multiplied by 4:
// two representatives of one ristretto element differ by a 4-torsion point, which ×4 removes, and
// ×4 is a bijection on the prime-order subgroup. In that subgroup the affine x-coordinate alone
// identifies a point ((x, y) and (x, −y) differ by a 2-torsion point), and affine coordinates of a
// whole batch cost a single field inversion (Montgomery's trick).

const Edwards = ed25519.Point
type EdwardsPoint = InstanceType<typeof Edwards>
const Fp = Edwards.Fp
const G4 = Edwards.BASE.double().double()

interface BabyStepTable {
  /** x(j·4G) → j for j in [0, BABY_STEPS). */
  steps: Map<bigint, number>
  /** −BABY_STEPS·4G */
  giantStride: EdwardsPoint
}

let tablePromise: Promise<BabyStepTable> | null = null

function affineX(points: EdwardsPoint[]): bigint[] {
  const inverses = Fp.invertBatch(points.map((p) => p.Z))
  return points.map((p, i) => Fp.mul(p.X, inverses[i]!))
}

async function buildTable(): Promise<BabyStepTable> {
  const steps = new Map<bigint, number>()
  let current = Edwards.ZERO
  for (let start = 0; start < BABY_STEPS; start += BATCH) {
    const batch: EdwardsPoint[] = []
    for (let j = 0; j < BATCH; j++) {
      batch.push(current)
      current = current.add(G4)
    }
    affineX(batch).forEach((x, j) => steps.set(x, start + j))
    await yieldToEventLoop()
  }
  return { steps, giantStride: current.negate() }
}

/** Shared by every key and app in the process: it depends on the group only. Built on first use. */
export function babyStepTable(): Promise<BabyStepTable> {
  tablePromise ??= buildTable().catch((error: unknown) => {
    tablePromise = null
    throw error
  })
  return tablePromise
}

/** m with m·G = element and 0 ≤ m < ELGAMAL_VALUE_LIMIT, or null. Yields to the event loop between batches. */
export async function discreteLog(element: GroupElement): Promise<number | null> {
  const { steps, giantStride } = await babyStepTable()
  const affine = element.toAffine()
  let current = Edwards.fromAffine(affine).double().double()
  for (let start = 0; start < GIANT_STEPS; start += BATCH) {
    const batch: EdwardsPoint[] = []
    for (let i = 0; i < BATCH; i++) {
      batch.push(current)
      current = current.add(giantStride)
    }
    const xs = affineX(batch)
    for (let i = 0; i < BATCH; i++) {
      const j = steps.get(xs[i]!)
      if (j !== undefined) return (start + i) * BABY_STEPS + j
    }
    await yieldToEventLoop()
  }
  return null
}
