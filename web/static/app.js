// toyhub: live updates and "played" receipts. No inline script, no third
// party: the Content-Security-Policy allows only this origin's files.
'use strict';
(function () {
  // A message for this account counts as played once it has played to the end.
  function wirePlayed(root) {
    root.querySelectorAll('audio[data-played]').forEach(function (a) {
      if (a.dataset.wired) { return; }
      a.dataset.wired = '1';
      a.addEventListener('ended', function () {
        var url = a.dataset.played;
        if (!url) { return; }
        a.removeAttribute('data-played');
        fetch(url, { method: 'POST', credentials: 'same-origin' });
      });
    });
    root.querySelectorAll('audio').forEach(function (a) {
      a.addEventListener('pause', function () { if (pending) { refresh(); } });
    });
  }

  var pending = false;
  // Busy: a message is playing, or a recording is in progress; the page
  // is refreshed once it is not.
  function busy() {
    var playing = Array.prototype.some.call(document.querySelectorAll('[data-live-part] audio'), function (a) {
      return !a.paused && !a.ended;
    });
    var rec = document.getElementById('recorder');
    return playing || (rec !== null && rec.dataset.state === 'recording');
  }

  function refresh() {
    if (busy()) { pending = true; return; }
    pending = false;
    fetch(location.href, { credentials: 'same-origin', headers: { 'Accept': 'text/html' } })
      .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, 'text/html');
        document.querySelectorAll('[data-live-part]').forEach(function (el) {
          var fresh = doc.getElementById(el.id);
          if (fresh) { el.replaceWith(document.importNode(fresh, true)); }
        });
        wirePlayed(document);
        document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
      });
  }
  window.toyhubRefresh = refresh;

  wirePlayed(document);
  if (document.getElementById('live')) {
    var es = new EventSource('/events');
    es.addEventListener('change', refresh);
    es.addEventListener('open', function () {
      document.body.dataset.live = 'open';
      // Something may have ended between this page's rendering and now.
      if (document.querySelector('[data-running]')) { refresh(); }
    });
  }
})();
