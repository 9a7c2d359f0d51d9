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
        localTimes(document);
        document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
      });
  }
  window.toyhubRefresh = refresh;

  // Times are written the way this browser writes them (12 or 24 hours,
  // day and month in its order), in its own time zone.
  function localTimes(root) {
    root.querySelectorAll('time[data-when]').forEach(function (t) {
      var d = new Date(t.getAttribute('datetime'));
      if (isNaN(d.getTime())) { return; }
      var opts = t.dataset.when === 'time' ? { hour: 'numeric', minute: '2-digit' }
        : { day: 'numeric', month: 'short', hour: 'numeric', minute: '2-digit' };
      t.textContent = new Intl.DateTimeFormat(undefined, opts).format(d);
    });
  }

  // Copy and Share buttons for a link in a field.
  function wireSharing(root) {
    root.querySelectorAll('[data-copy]').forEach(function (b) {
      b.addEventListener('click', function () {
        var field = document.getElementById(b.dataset.copy);
        var copied = function () { b.textContent = 'Copied'; };
        var fallback = function () { field.select(); document.execCommand('copy'); copied(); };
        if (navigator.clipboard) { navigator.clipboard.writeText(field.value).then(copied, fallback); } else { fallback(); }
      });
    });
    root.querySelectorAll('[data-share]').forEach(function (b) {
      if (!navigator.share) { return; }
      b.hidden = false;
      b.addEventListener('click', function () {
        navigator.share({ title: b.dataset.shareTitle, url: document.getElementById(b.dataset.share).value }).catch(function () {});
      });
    });
  }

  wirePlayed(document);
  localTimes(document);
  wireSharing(document);
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
