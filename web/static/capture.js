// toyhub: an AudioWorklet that hands the microphone's samples (mono, at the
// context's rate) to the page in blocks.
'use strict';
class Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.buf = new Float32Array(4096);
    this.n = 0;
  }
  process(inputs) {
    var ch = inputs[0] && inputs[0][0];
    if (ch) {
      for (var i = 0; i < ch.length; i++) {
        this.buf[this.n++] = ch[i];
        if (this.n === this.buf.length) {
          this.port.postMessage(this.buf);
          this.buf = new Float32Array(4096);
          this.n = 0;
        }
      }
    }
    return true;
  }
}
registerProcessor('toyhub-capture', Capture);
