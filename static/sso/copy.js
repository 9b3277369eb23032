/* Copy buttons for the SSO config admin (no external assets).
 * <button data-sso-copy="ID"> copies the text of the element with that id. Uses the async
 * clipboard API where the page is a secure context; otherwise selects the text so the person
 * can press Ctrl+C / Cmd+C, and says so in the button's status region. */
(function () {
  "use strict";

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function announce(button, text) {
    var status = button.parentNode.querySelector(".sso-copy__status");
    if (status) {
      status.textContent = text;
      window.setTimeout(function () { status.textContent = ""; }, 4000);
    }
  }

  function fallback(button, target) {
    selectText(target);
    var copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    announce(button, copied ? "Copied." : "Selected: press Ctrl+C (Cmd+C on a Mac) to copy.");
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-sso-copy]") : null;
    if (!button) {
      return;
    }
    event.preventDefault();
    var target = document.getElementById(button.getAttribute("data-sso-copy"));
    if (!target) {
      return;
    }
    var text = target.textContent.trim();
    if (navigator.clipboard && window.isSecureContext) {
      // A browser may leave the promise pending (e.g. waiting on a permission): fall back
      // to selecting the text if it has not settled quickly.
      var settled = false;
      var timer = window.setTimeout(function () {
        if (!settled) { settled = true; fallback(button, target); }
      }, 1500);
      navigator.clipboard.writeText(text).then(
        function () {
          if (!settled) { settled = true; window.clearTimeout(timer); announce(button, "Copied."); }
        },
        function () {
          if (!settled) { settled = true; window.clearTimeout(timer); fallback(button, target); }
        }
      );
    } else {
      fallback(button, target);
    }
  });
})();
