import t from 'tap'
import fc from 'fast-check'
import {
  escapeHtml, otpMail, otpSms, passkeyAddedMail, passkeyAddedSms, unknownAccountMail,
} from '../../../src/modules/auth/messages.js'

const firstSixDigits = (text: string) => text.match(/\d{6}/)?.[0]
const code = fc.integer({ min: 0, max: 999_999 }).map((n) => String(n).padStart(6, '0'))

t.test('the OTP mail carries the code first in subject, text and html, with expiry and a way out', async (t) => {
  const mail = otpMail({ code: '042917', ttlSeconds: 600 })
  t.equal(mail.subject, '042917 is your Vottery code')
  t.ok(mail.text.startsWith('042917 '))
  t.match(mail.text, /expires in 10 minutes/)
  t.match(mail.text, /Didn't ask for this\? Ignore this email/)
  t.match(mail.html, /Didn&#39;t ask for this\? Ignore this email/, 'the apostrophe is escaped in html')
  t.match(mail.html, /^<!doctype html>/)
  t.doesNotThrow(() => fc.assert(fc.property(code, fc.integer({ min: 1, max: 86_400 }), (c, ttl) => {
    const m = otpMail({ code: c, ttlSeconds: ttl })
    return firstSixDigits(m.subject) === c && firstSixDigits(m.text) === c && firstSixDigits(m.html) === c
  })), 'whatever the code and lifetime, it is the first 6-digit number everywhere')
})

t.test('expiry is in whole minutes, rounded up, singular when one', async (t) => {
  t.match(otpMail({ code: '111111', ttlSeconds: 60 }).text, /expires in 1 minute\b/)
  t.match(otpMail({ code: '111111', ttlSeconds: 61 }).text, /expires in 2 minutes/)
  t.match(otpMail({ code: '111111', ttlSeconds: 10 }).text, /expires in 1 minute\b/)
  t.match(otpSms({ code: '111111', ttlSeconds: 300 }), /expires in 5 minutes/)
})

t.test('the OTP SMS starts with the code; WebOTP line when a host is given', async (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(code, (c) => otpSms({ code: c, ttlSeconds: 600 }).startsWith(`${c} `))), 'any code opens the SMS')
  const sms = otpSms({ code: '654321', ttlSeconds: 600, webOtpHost: 'vottery.example' })
  t.ok(sms.startsWith('654321 is your Vottery code.'))
  t.equal(sms.split('\n').at(-1), '@vottery.example #654321', 'WebOTP wants the origin-bound line last')
  t.notMatch(otpSms({ code: '654321', ttlSeconds: 600 }), /@/)
  t.ok(otpSms({ code: '654321', ttlSeconds: 600 }).length <= 160, 'fits one SMS segment')
})

t.test('the passkey notice names the device, escaped in html and cleaned everywhere', async (t) => {
  const at = new Date('2026-03-04T05:06:07Z')
  const mail = passkeyAddedMail({ device: 'Chrome on macOS', at })
  t.equal(mail.subject, 'A passkey was added to your Vottery account')
  t.match(mail.text, /on Chrome on macOS \(2026-03-04 05:06 UTC\)/)
  t.match(mail.html, /<strong>Chrome on macOS<\/strong>/)

  const hostile = passkeyAddedMail({ device: '<img src=x onerror=alert(1)>\r\nBcc: evil@example.test & "co"', at })
  t.notMatch(hostile.html, /<img/, 'markup in a device name is not markup')
  t.match(hostile.html, /&lt;img src=x onerror=alert\(1\)&gt; Bcc: evil@example\.test &amp; &quot;co&quot;/)
  t.notMatch(hostile.text, /[\r\n]Bcc/, 'line breaks are flattened')

  const long = passkeyAddedSms({ device: '📱'.repeat(100) })
  t.ok(long.includes(`${'📱'.repeat(63)}…`), 'long names are cut at 64 characters without splitting an emoji')
  t.match(passkeyAddedSms({ device: '   ' }), /on an unnamed device/)
  t.match(passkeyAddedSms({ device: 'Pixel 8' }), /^Vottery: a passkey was added on Pixel 8\./)
})

t.test('the unknown-address notice points to Sngine sign-up and carries no code', async (t) => {
  const mail = unknownAccountMail({ signupUrl: 'https://social.example/signup?ref=vottery&x="1"' })
  t.match(mail.text, /https:\/\/social\.example\/signup\?ref=vottery&x="1"/)
  t.match(mail.html, /href="https:\/\/social\.example\/signup\?ref=vottery&amp;x=&quot;1&quot;"/)
  for (const part of [mail.subject, mail.text, mail.html]) t.equal(firstSixDigits(part), undefined, 'no 6-digit number to mistake for a code')
})

t.test('escapeHtml covers the five characters that matter', async (t) => {
  t.equal(escapeHtml(`<a href="x" title='y'>&</a>`), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;')
})
