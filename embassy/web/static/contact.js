// The contact page's one script: it solves each form's ALTCHA proof-of-work challenge (v2,
// PBKDF2-SHA-256 through the browser's own WebCrypto) while the visitor types, and puts the
// solution in the form's hidden field "altcha". Without it (no JavaScript, no WebCrypto) the form
// is sent all the same: the server then takes it under a stricter limit and marks it for review.
// Served from this site (the CSP allows no inline or foreign script); it reads only its forms.
"use strict";
(function () {
  var subtle = window.crypto && window.crypto.subtle;
  if (!subtle || !window.TextEncoder || !window.Promise) return;

  function hexBytes(hex) {
    var out = new Uint8Array(hex.length / 2);
    for (var i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
    return out;
  }

  function toHex(buffer) {
    var bytes = new Uint8Array(buffer), s = "";
    for (var i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return s;
  }

  function derive(p, nonce, salt, counter) {
    var password = new Uint8Array(nonce.length + 4);
    password.set(nonce);
    new DataView(password.buffer).setUint32(nonce.length, counter, false);
    return subtle.importKey("raw", password, "PBKDF2", false, ["deriveBits"]).then(function (key) {
      return subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt: salt, iterations: p.cost }, key, p.keyLength * 8);
    });
  }

  function solve(challenge) {
    var p = challenge.parameters, nonce = hexBytes(p.nonce), salt = hexBytes(p.salt), started = Date.now();
    function attempt(counter) {
      return derive(p, nonce, salt, counter).then(function (bits) {
        var hex = toHex(bits);
        if (hex.indexOf(p.keyPrefix) === 0) {
          return { counter: counter, derivedKey: hex, time: Date.now() - started };
        }
        if (counter >= 4294967295) throw new Error("no solution");
        return attempt(counter + 1);
      });
    }
    return attempt(0);
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-altcha]"), function (form) {
    var field = form.querySelector("input[name=altcha]");
    var status = form.querySelector(".pow");
    var challenge;
    try { challenge = JSON.parse(form.getAttribute("data-altcha")); } catch (e) { return; }
    var sending = false;
    var solved = solve(challenge).then(function (solution) {
      field.value = btoa(JSON.stringify({ challenge: challenge, solution: solution }));
      if (status && !status.hidden) status.textContent = status.getAttribute("data-done");
    }, function () { /* the form goes without: the server reviews it */ });
    form.addEventListener("submit", function (event) {
      if (field.value || sending) return;
      event.preventDefault();
      sending = true;
      if (status) { status.hidden = false; status.textContent = status.getAttribute("data-working"); }
      solved.then(function () { form.submit(); });
    });
  });
})();
