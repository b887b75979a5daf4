'use strict'
// The three onboarding steps against the real API, then the dashboard. Plain browser JavaScript,
// served from this origin (the page's Content-Security-Policy allows no inline script).
;(function () {
  const { startRegistration, startAuthentication, platformAuthenticatorIsAvailable, browserSupportsWebAuthn } = window.SimpleWebAuthnBrowser
  const $ = (id) => document.getElementById(id)
  const state = { flowId: null, accessToken: null }

  function show(step) {
    for (const id of ['step-email', 'step-sms', 'step-biometric', 'dashboard']) $(id).hidden = true
    const section = { email: 'step-email', sms: 'step-sms', biometric: 'step-biometric', done: 'dashboard' }[step]
    $(section).hidden = false
    $('returning').hidden = step === 'done'
    let passed = true
    for (const li of $('steps').children) {
      li.classList.toggle('active', li.dataset.step === step)
      if (li.dataset.step === step) passed = false
      li.classList.toggle('done', passed)
    }
  }
  function notice(text) { $('notice').textContent = text; $('error').textContent = '' }
  function fail(text) { $('error').textContent = text; $('notice').textContent = '' }

  async function api(method, path, body, { auth = false } = {}) {
    const headers = {}
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (auth && state.accessToken) headers.authorization = `Bearer ${state.accessToken}`
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' })
    const data = response.status === 204 ? null : await response.json()
    if (!response.ok) {
      const error = new Error(data && data.message ? data.message : `HTTP ${response.status}`)
      error.code = data && data.code
      error.details = data && data.details
      throw error
    }
    return data
  }

  function busy(button, fn) {
    return async (event) => {
      if (event) event.preventDefault()
      button.disabled = true
      try { await fn() } catch (error) {
        const left = error.details && error.details.attemptsLeft !== undefined ? ` (${error.details.attemptsLeft} tries left)` : ''
        fail(`${error.message}${left}`)
      } finally { button.disabled = false }
    }
  }

  $('email-form').addEventListener('submit', busy($('send-email'), async () => {
    const sent = await api('POST', '/api/auth/send-otp', { channel: 'email', email: $('email').value, ...(state.flowId ? { flowId: state.flowId } : {}) })
    state.flowId = sent.flowId
    notice(`We sent a code to ${sent.destination}. (On the embedded demo it is in the server log.)`)
    $('email-code-form').hidden = false
    $('email-code').focus()
  }))
  $('email-code-form').addEventListener('submit', busy($('verify-email'), async () => {
    const result = await api('POST', '/api/auth/verify-otp', { flowId: state.flowId, channel: 'email', code: $('email-code').value })
    notice('Email verified.')
    show(result.next)
  }))
  $('sms-form').addEventListener('submit', busy($('send-sms'), async () => {
    const sent = await api('POST', '/api/auth/send-otp', { channel: 'sms', flowId: state.flowId, phone: $('phone').value })
    notice(`We texted a code to ${sent.destination}.`)
    $('sms-code-form').hidden = false
    $('sms-code').focus()
  }))
  $('sms-code-form').addEventListener('submit', busy($('verify-sms'), async () => {
    const result = await api('POST', '/api/auth/verify-otp', { flowId: state.flowId, channel: 'sms', code: $('sms-code').value })
    notice('Phone verified.')
    show(result.next)
    await checkCompatibility()
  }))

  async function checkCompatibility() {
    const platformAuthenticator = browserSupportsWebAuthn() && await platformAuthenticatorIsAvailable()
    try {
      const result = await api('POST', '/api/devices/compatibility', { userAgent: navigator.userAgent, platformAuthenticator })
      $('compatibility').textContent = result.compatible
        ? `Ready: ${result.device.browser || 'your browser'} on ${result.device.os || 'this device'} can use a fingerprint, face or device PIN.`
        : `This device may not be able to finish: ${result.reasons.join(', ')}.`
    } catch { $('compatibility').textContent = '' }
    return platformAuthenticator
  }

  function formFactor() {
    const touch = navigator.maxTouchPoints || 0
    if (/Mobi/.test(navigator.userAgent)) return 'mobile'
    if (touch > 1 && /Macintosh|iPad|Android/.test(navigator.userAgent)) return 'tablet'
    return undefined
  }

  async function enter(result) {
    state.accessToken = result.accessToken
    show('done')
    notice('Welcome.')
    await renderDashboard()
  }

  $('register-passkey').addEventListener('click', busy($('register-passkey'), async () => {
    const optionsJSON = await api('POST', '/api/auth/biometric/options', { flowId: state.flowId })
    const credential = await startRegistration({ optionsJSON })
    const platformAuthenticator = await platformAuthenticatorIsAvailable()
    const name = $('device-name').value.trim()
    const ff = formFactor()
    const result = await api('POST', '/api/auth/capture-biometric', {
      flowId: state.flowId,
      credential,
      device: { platformAuthenticator, ...(name ? { name } : {}), ...(ff ? { formFactor: ff } : {}) },
    })
    state.flowId = null
    await enter(result)
  }))

  $('passkey-login').addEventListener('click', busy($('passkey-login'), async () => {
    const optionsJSON = await api('POST', '/api/auth/passkey/options', {})
    const credential = await startAuthentication({ optionsJSON })
    await enter(await api('POST', '/api/auth/passkey/verify', { credential }))
  }))

  $('logout').addEventListener('click', busy($('logout'), async () => {
    await api('POST', '/api/auth/logout', undefined, { auth: true })
    state.accessToken = null
    notice('Logged out. Log in again with your passkey.')
    show('email')
  }))

  async function renderDashboard() {
    const status = await api('GET', '/api/auth/status', undefined, { auth: true })
    $('whoami').textContent = status.authenticated
      ? `${status.user.displayName || 'Someone'} — ${status.user.email}, ${status.user.phone}; roles: ${status.user.roles.join(', ')}`
      : 'Not signed in.'
    if (status.device) {
      const d = status.device
      $('device-info').textContent = `${d.name || '(unnamed)'}: ${d.type}, ${d.os || '?'} ${d.osVersion || ''}, ${d.browser || '?'} ${d.browserVersion || ''}, IP ${d.ip || '?'}`
    }
    const list = (id, items, text) => { $(id).replaceChildren(...items.map((item) => { const li = document.createElement('li'); li.textContent = text(item); return li })) }
    try {
      list('devices', await api('GET', '/api/devices/list', undefined, { auth: true }),
        (d) => `${d.name || d.type}${d.current ? ' (this one)' : ''} — ${d.os || '?'} / ${d.browser || '?'}, passkey: ${d.hasPasskey ? 'yes' : 'no'}`)
    } catch { list('devices', [], () => '') }
    list('sessions', await api('GET', '/api/sessions', undefined, { auth: true }),
      (s) => `${s.current ? 'this session' : 'session'} from ${s.ip || '?'}, since ${new Date(s.createdAt).toLocaleString()}`)
  }

  show('email')
})()
