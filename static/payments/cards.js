// Save a card: the server makes a SetupIntent for the customer, Stripe.js (Elements) confirms it
// with the card, the server reads the SetupIntent back from Stripe and records brand/last four.
// localstripe's Stripe.js stand-in allows one card Element per Stripe instance: one per form here.
(function () {
  "use strict";
  if (typeof Stripe === "undefined") { return; }
  document.querySelectorAll(".card-save-form").forEach(function (form) {
    var stripe = Stripe(form.dataset.publishableKey);
    var card = stripe.elements().create("card");
    card.mount(form.querySelector(".card-element"));
    var button = form.querySelector("button[type=submit]");
    var errors = form.querySelector(".card-errors");
    var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    function post(url, body) {
      return fetch(url, {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
        body: JSON.stringify(body || {})
      }).then(function (r) { return r.json(); });
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (button.disabled) { return; }
      button.disabled = true;
      errors.hidden = true;
      post(form.dataset.setupUrl).then(function (setup) {
        if (setup.error) { throw new Error(setup.error); }
        return stripe.confirmCardSetup(setup.client_secret, {payment_method: {card: card}});
      }).then(function (res) {
        if (res.error) { throw new Error(res.error.message || "The card was not accepted."); }
        return post(form.dataset.confirmUrl, {setup_intent: res.setupIntent.id});
      }).then(function (saved) {
        if (saved.error) { throw new Error(saved.error); }
        window.location.reload();
      }).catch(function (err) {
        errors.textContent = (err && err.message) || "The card could not be saved.";
        errors.hidden = false;
        button.disabled = false;
      });
    });
  });
})();
