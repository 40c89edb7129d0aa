// The staff area's one script: the passkey (WebAuthn) ceremonies, which browsers offer to
// JavaScript only. Everything else in the staff area works without it. Served from this site
// (the CSP allows no inline or foreign script); it reads nothing but the form it belongs to.
"use strict";
(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return; // the <noscript>-style hint stays; the button stays hidden
  }

  function toBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(b64 + "===".slice((b64.length + 3) % 4));
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeCredentials(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: toBytes(c.id) }); });
  }

  function creationOptions(o) {
    o.challenge = toBytes(o.challenge);
    o.user.id = toBytes(o.user.id);
    o.excludeCredentials = decodeCredentials(o.excludeCredentials);
    return o;
  }

  function requestOptions(o) {
    o.challenge = toBytes(o.challenge);
    o.allowCredentials = decodeCredentials(o.allowCredentials);
    return o;
  }

  function asJSON(cred) {
    var r = cred.response, response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      if (r.userHandle) response.userHandle = toText(r.userHandle);
    }
    return JSON.stringify({
      id: cred.id, rawId: toText(cred.rawId), type: cred.type, response: response,
      clientExtensionResults: cred.getClientExtensionResults(),
      authenticatorAttachment: cred.authenticatorAttachment || undefined
    });
  }

  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    var button = form.querySelector(".js-only");
    if (button) button.hidden = false;
    var status = form.querySelector(".status");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (status) status.textContent = "";
      var body = new URLSearchParams({ csrf: form.elements.csrf.value });
      fetch(form.dataset.options, { method: "POST", body: body, credentials: "same-origin",
                                    headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error("options " + r.status); return r.json(); })
        .then(function (options) {
          return form.dataset.passkey === "create"
            ? navigator.credentials.create({ publicKey: creationOptions(options) })
            : navigator.credentials.get({ publicKey: requestOptions(options) });
        })
        .then(function (cred) {
          form.elements.credential.value = asJSON(cred);
          form.submit(); // submit() fires no submit event: this handler does not run again
        })
        .catch(function () { if (status) status.textContent = form.dataset.failed; });
    });
  });
})();
