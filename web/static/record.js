// toyhub: record a message in the browser and send it as the WAV every toy
// plays (PCM 16-bit mono, 16 kHz), with a level meter and a preview.
'use strict';
(function () {
  var box = document.getElementById('recorder');
  if (!box) { return; }
  var RATE = 16000;
  var maxSecs = Number(box.dataset.max) || 60;
  var $ = function (id) { return document.getElementById(id); };
  var startBtn = $('rec-start'), stopBtn = $('rec-stop'), sendBtn = $('rec-send'), discardBtn = $('rec-discard');
  var meter = $('rec-level'), preview = $('rec-preview'), status = $('rec-status'), clock = $('rec-time');
  var ctx = null, stream = null, node = null, blocks = [], count = 0, wav = null;

  function say(text) { status.textContent = text; }
  function state(s) {
    box.dataset.state = s;
    startBtn.disabled = s === 'recording' || s === 'sending';
    stopBtn.disabled = s !== 'recording';
    sendBtn.disabled = s !== 'ready';
    discardBtn.disabled = s !== 'ready';
  }
  state('idle');

  startBtn.addEventListener('click', function () {
    if (!navigator.mediaDevices || !window.AudioWorkletNode) {
      say('This browser cannot record here. Open the page over https in a recent browser.');
      return;
    }
    say('');
    navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } })
      .then(function (s) {
        stream = s;
        ctx = new AudioContext();
        return ctx.audioWorklet.addModule(box.dataset.worklet);
      })
      .then(function () {
        var source = ctx.createMediaStreamSource(stream);
        node = new AudioWorkletNode(ctx, 'toyhub-capture');
        blocks = []; count = 0;
        node.port.onmessage = function (e) {
          var b = e.data, sum = 0;
          blocks.push(b); count += b.length;
          for (var i = 0; i < b.length; i++) { sum += b[i] * b[i]; }
          meter.value = Math.min(1, Math.sqrt(sum / b.length) * 4);
          var secs = count / ctx.sampleRate;
          clock.textContent = secs.toFixed(0) + ' s of ' + maxSecs;
          if (secs >= maxSecs) { stop(); }
        };
        source.connect(node);
        node.connect(ctx.destination); // silent: the worklet writes no output
        state('recording');
      })
      .catch(function (err) {
        say(micProblem(err));
        cleanup();
        state('idle');
      });
  });

  // micProblem says why the microphone could not be used, in words.
  function micProblem(err) {
    switch (err && err.name) {
      case 'NotFoundError': return 'This device has no microphone, or the browser cannot find it.';
      case 'NotAllowedError': return 'The browser may not use the microphone. Allow it in the browser\'s settings for this page, then try again.';
      case 'NotReadableError': return 'Another app is using the microphone. Close it, then try again.';
    }
    return 'The microphone could not be used. Try again, or use another browser.';
  }

  function cleanup() {
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
    if (ctx) { ctx.close(); }
    stream = null; ctx = null; node = null;
  }

  function stop() {
    if (box.dataset.state !== 'recording') { return; }
    var rate = ctx.sampleRate;
    cleanup();
    meter.value = 0;
    var samples = new Float32Array(count), off = 0;
    blocks.forEach(function (b) { samples.set(b, off); off += b.length; });
    blocks = [];
    if (samples.length < rate / 4) {
      say('That was too short. Press Record and speak for a moment.');
      state('idle');
      return;
    }
    wav = encodeWAV(downsample(samples, rate, RATE), RATE);
    preview.src = URL.createObjectURL(wav);
    preview.hidden = false;
    box.dataset.bytes = String(wav.size);
    say('Listen to it, then send it or discard it.');
    state('ready');
  }
  stopBtn.addEventListener('click', stop);

  discardBtn.addEventListener('click', function () {
    wav = null; preview.hidden = true; preview.removeAttribute('src');
    say(''); clock.textContent = '';
    state('idle');
  });

  sendBtn.addEventListener('click', function () {
    if (!wav) { return; }
    state('sending');
    say('Sending…');
    fetch(box.dataset.send, { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'audio/wav' }, body: wav })
      .then(function (r) {
        return r.text().then(function (t) {
          if (!r.ok) { var e = new Error(t.trim()); e.fromHub = true; throw e; }
          wav = null; preview.hidden = true; clock.textContent = '';
          box.dataset.sent = t.trim();
          say('Sent.');
          state('idle');
          if (window.toyhubRefresh) { window.toyhubRefresh(); }
        });
      })
      .catch(function (err) {
        say(err.fromHub ? 'Not sent. ' + err.message : 'Not sent: the hub could not be reached. Try again.');
        state('ready');
      });
  });

  // downsample averages the input over each output sample's span, a
  // simple low-pass that keeps speech clear at 16 kHz.
  function downsample(input, from, to) {
    if (from === to) { return input; }
    var ratio = from / to, n = Math.floor(input.length / ratio), out = new Float32Array(n);
    for (var i = 0; i < n; i++) {
      var a = Math.floor(i * ratio), b = Math.min(input.length, Math.floor((i + 1) * ratio)), sum = 0;
      for (var j = a; j < b; j++) { sum += input[j]; }
      out[i] = b > a ? sum / (b - a) : input[a];
    }
    return out;
  }

  function encodeWAV(samples, rate) {
    var buf = new ArrayBuffer(44 + samples.length * 2), v = new DataView(buf);
    function str(off, s) { for (var i = 0; i < s.length; i++) { v.setUint8(off + i, s.charCodeAt(i)); } }
    str(0, 'RIFF'); v.setUint32(4, 36 + samples.length * 2, true); str(8, 'WAVE');
    str(12, 'fmt '); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
    v.setUint32(24, rate, true); v.setUint32(28, rate * 2, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true);
    str(36, 'data'); v.setUint32(40, samples.length * 2, true);
    for (var i = 0; i < samples.length; i++) {
      var s = Math.max(-1, Math.min(1, samples[i]));
      v.setInt16(44 + i * 2, s < 0 ? s * 0x8000 : s * 0x7fff, true);
    }
    return new Blob([buf], { type: 'audio/wav' });
  }
})();
