// The Item Sync Monitor's script: it takes the admin token once, from a #token= fragment
// (never sent to the server) or the form, keeps it for this tab in sessionStorage, and
// fetches the view from /api/monitor with it as a bearer header.
"use strict";

const KEY = "twinsync-admin-token";

function takeTokenFromFragment() {
  const m = /^#token=(.+)$/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
    // Out of the address bar and the history.
    history.replaceState(null, "", location.pathname + location.search);
  }
}

function showLogin(reason) {
  document.getElementById("login-reason").textContent = reason;
  document.getElementById("login").hidden = false;
}

async function load() {
  const token = sessionStorage.getItem(KEY);
  if (!token) {
    showLogin("Enter the node's admin token.");
    return;
  }
  const view = document.getElementById("view");
  let resp;
  try {
    resp = await fetch("/api/monitor" + location.search, {
      headers: { Authorization: "Bearer " + token },
      cache: "no-store",
    });
  } catch (e) {
    view.textContent = "The node did not answer: " + e;
    return;
  }
  if (resp.status === 401) {
    sessionStorage.removeItem(KEY);
    showLogin("The node refused that token.");
    return;
  }
  if (!resp.ok) {
    view.textContent = "The node answered " + resp.status + ": " + (await resp.text());
    return;
  }
  // Rendered and escaped by the node; the page's policy runs no inline script.
  view.innerHTML = await resp.text();
}

document.getElementById("login").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, document.getElementById("token").value.trim());
  document.getElementById("login").hidden = true;
  load();
});
takeTokenFromFragment();
load();
