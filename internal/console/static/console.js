// coffer console: the little behaviour the server-rendered pages need.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // The region selector submits itself.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });

  // Policy templates: fill a textarea from a <template>, putting in an
  // account ID where the template says OTHER_ACCOUNT_ID.
  document.querySelectorAll("button[data-fill]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var text = document.getElementById(btn.dataset.template).content.textContent;
      if (btn.dataset.account) {
        var acct = document.getElementById(btn.dataset.account).value.trim();
        if (!/^\d{12}$/.test(acct)) {
          showJSONError(document.getElementById(btn.dataset.fill), "Type the 12-digit account ID to share with first.");
          return;
        }
        text = text.split("OTHER_ACCOUNT_ID").join(acct);
      }
      var ta = document.getElementById(btn.dataset.fill);
      ta.value = text;
      checkJSON(ta);
    });
  });

  // JSON editors are checked as they are typed and before they are sent.
  document.querySelectorAll("textarea[data-json]").forEach(function (ta) {
    ta.addEventListener("input", function () { checkJSON(ta); });
    ta.form.addEventListener("submit", function (ev) {
      if (!checkJSON(ta)) { ev.preventDefault(); }
    });
  });

  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (ev) {
      if (!window.confirm(f.dataset.confirm)) { ev.preventDefault(); }
    });
  });

  var poll = document.querySelector("[data-poll]");
  if (poll) { pollJobs(poll); }
});

function showJSONError(ta, msg) {
  var p = ta.form.querySelector(".json-error");
  if (!p) { return; }
  p.textContent = msg;
  p.hidden = msg === "";
}

function checkJSON(ta) {
  if (ta.value.trim() === "") { showJSONError(ta, ""); return true; }
  try {
    JSON.parse(ta.value);
    showJSONError(ta, "");
    return true;
  } catch (e) {
    showJSONError(ta, "Not valid JSON: " + e.message);
    return false;
  }
}

// pollJobs refreshes the jobs table's state and progress every two
// seconds; a job new since the page loaded reloads the page.
function pollJobs(table) {
  var url = table.dataset.poll;
  function tick() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) { throw new Error("jobs: HTTP " + r.status); }
        return r.json();
      })
      .then(function (jobs) {
        var reload = false;
        jobs.forEach(function (j) {
          var row = document.getElementById("job-" + j.ID);
          if (!row) { reload = true; return; }
          row.className = "state-" + j.State;
          row.querySelector(".state").textContent = j.State;
          row.querySelector(".percent").textContent = j.PercentDone;
          row.querySelector(".bytes").textContent = j.BytesTransferred;
          row.querySelector(".message").textContent = j.StatusMessage;
        });
        if (reload) { window.location.reload(); return; }
        setTimeout(tick, 2000);
      })
      .catch(function () { setTimeout(tick, 5000); });
  }
  setTimeout(tick, 2000);
}
