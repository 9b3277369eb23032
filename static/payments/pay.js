// Pay-now card form: Stripe Elements collects the card (confirmCardSetup), the server creates and
// confirms the PaymentIntent for its own amount, 3-D Secure is handled by confirmCardPayment.
// Works with Stripe.js and with localstripe's stand-in (which supports exactly these calls).
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form || typeof Stripe === "undefined") { return; }
  var stripe = Stripe(form.dataset.publishableKey);
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  var button = document.getElementById("pay-button");
  var errors = document.getElementById("card-errors");
  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;

  function fail(message) {
    errors.textContent = message || "The payment did not go through.";
    errors.hidden = false;
    button.disabled = false;
  }
  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify(body || {})
    }).then(function (r) { return r.json().then(function (j) { j._status = r.status; return j; }); });
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (button.disabled) { return; }  // one submit at a time; the server refuses duplicates anyway
    button.disabled = true;
    errors.hidden = true;
    post(form.dataset.setupUrl).then(function (setup) {
      if (setup.error) { throw new Error(setup.error); }
      return stripe.confirmCardSetup(setup.client_secret, {payment_method: {card: card}});
    }).then(function (res) {
      if (res.error) { throw new Error(res.error.message || "The card was not accepted."); }
      return post(form.dataset.confirmUrl, {setup_intent: res.setupIntent.id});
    }).then(function (outcome) {
      if (outcome.error) { throw new Error(outcome.error); }
      if (outcome.status === "requires_action" && outcome.client_secret) {
        return stripe.confirmCardPayment(outcome.client_secret).then(function () { return outcome; });
      }
      return outcome;
    }).then(function (outcome) {
      window.location.assign(outcome.result_url || form.dataset.resultUrl);
    }).catch(function (err) { fail(err && err.message); });
  });
})();
